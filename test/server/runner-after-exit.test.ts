import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STREAM_EVENT, STREAM_STDOUT, encodeOutput } from '../../protocol/frames.js';
import { encodeEvent } from '../../protocol/runner-events.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { collect, rawRunnerUpgrade, signedHeaders } from '../helpers/runner-socket.js';

async function connect(g: TestGateway, runId: string, token: string) {
  const up = await rawRunnerUpgrade(g.url, g.fingerprint, signedHeaders(token, runId));
  assert.equal(up.status, 101);
  const ws = up.ws!;
  const c = collect(ws);
  let closed: { code: number; reason: string } | undefined;
  void c.closed.then((x) => (closed = x));
  ws.send(JSON.stringify({ type: 'hello', v: 1, runner: { hostname: 'h', pid: 1, version: 't', mode: 'command', command: ['x'], cwd: '/w' } }));
  await waitFor(() => c.messages.find((m) => (m as { type: string }).type === 'welcome'), 5000, 'welcome');
  return { ws, messages: c.messages as { type: string; seq?: number; code?: string }[], closed: () => closed };
}

const log = async (g: TestGateway, id: string) => String((await apiRequest(g, 'GET', `/api/v1/runs/${id}/log`)).json);

test('after its exit a run takes nothing more: output, events, started, a second exit or assist_status are refused (ERR_RUN_FINISHED)', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  for (const after of ['output', 'event', 'started', 'exit', 'assist_status'] as const) {
    const { run, token } = await g.gw.runs.create(`after ${after}`, 'test');
    const r = await connect(g, run.id, token);
    t.after(() => r.ws.terminate());
    r.ws.send(JSON.stringify({ type: 'started', pid: 2 }));
    r.ws.send(encodeOutput({ stream: STREAM_STDOUT, seq: 1, data: Buffer.from('real output\n') }));
    await waitFor(() => r.messages.find((m) => m.type === 'ack' && m.seq === 1), 5000, 'ack 1');
    r.ws.send(JSON.stringify({ type: 'exit', code: 0, signal: null, lastSeq: 1 }));
    await waitFor(() => r.messages.find((m) => m.type === 'exit_ack'), 5000, 'exit_ack');

    if (after === 'output') r.ws.send(encodeOutput({ stream: STREAM_STDOUT, seq: 2, data: Buffer.from('forged line written after the run ended\n') }));
    if (after === 'event') r.ws.send(encodeOutput({ stream: STREAM_EVENT, seq: 2, data: encodeEvent({ type: 'exec_refused', requestId: 'forgedforgedforged01', name: 'x', reason: 'forged' }) }));
    if (after === 'started') r.ws.send(JSON.stringify({ type: 'started', pid: 3 }));
    if (after === 'exit') r.ws.send(JSON.stringify({ type: 'exit', code: 99, signal: null, lastSeq: 1 }));
    if (after === 'assist_status') r.ws.send(JSON.stringify({ type: 'assist_status', requestId: null, state: 'active', links: { ssh: 'ssh ab@nyc1.tmate.io', sshReadOnly: null, web: null, webReadOnly: null }, expiresAt: null, reason: null }));

    const closed = await waitFor(() => r.closed(), 5000, `the socket closed after a late ${after}`);
    assert.equal(closed.code, 4410, after);
    assert.match(closed.reason, /ERR_RUN_FINISHED/, after);
    assert.equal(r.messages.filter((m) => m.type === 'exit_ack').length, 1, `${after}: one exit_ack`);
    assert.ok(r.messages.some((m) => m.type === 'error' && m.code === 'ERR_RUN_FINISHED'), after);
    assert.equal(await log(g, run.id), 'real output\n', `${after}: the stored log is what came before the exit`);
    const shown = g.gw.runs.get(run.id)!;
    assert.deepEqual([shown.status, shown.exitCode, shown.lastSeq], ['exited', 0, 1], after);
    assert.equal(g.gw.assist.get(run.id), null, `${after}: no assist session recorded for an ended run`);
  }
});

test('a runner reconnecting to a final run is told so and can add nothing', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const { run, token } = await g.gw.runs.create('final', 'test');
  await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/cancel`);
  assert.equal(g.gw.runs.get(run.id)!.status, 'cancelled');
  const r = await connect(g, run.id, token);
  t.after(() => r.ws.terminate());
  assert.equal((r.messages.find((m) => m.type === 'welcome') as unknown as { finished: boolean }).finished, true);
  r.ws.send(encodeOutput({ stream: STREAM_STDOUT, seq: 1, data: Buffer.from('too late\n') }));
  const closed = await waitFor(() => r.closed(), 5000, 'closed');
  assert.equal(closed.code, 4410);
  assert.equal(await log(g, run.id), '');
});

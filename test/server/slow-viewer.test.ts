import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import { decodeView } from '../../protocol/frames.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';

interface Viewer {
  ws: WebSocket;
  seqs: number[];
  bytes: number;
  texts: unknown[];
}

async function viewer(g: TestGateway, runId: string, from = 1): Promise<Viewer> {
  const ws = new WebSocket(new URL('/v1/operator', g.url.replace('https:', 'wss:')), {
    headers: { authorization: `Bearer ${g.operatorToken}` },
    agent: new PinnedAgent(g.fingerprint),
  });
  const v: Viewer = { ws, seqs: [], bytes: 0, texts: [] };
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return void v.texts.push(JSON.parse(String(data)));
    const f = decodeView(data as Buffer);
    assert.ok(f.ok);
    v.seqs.push(f.value.seq);
    v.bytes += f.value.data.length;
  });
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'hello', v: 1 }));
  ws.send(JSON.stringify({ type: 'subscribe', runId, from }));
  return v;
}

test('a viewer that stops reading slows neither the runner nor other viewers, and later gets everything once', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const created = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const TOTAL = 64_000_000;

  const stalled = await viewer(g, created.id);
  const live = await viewer(g, created.id);
  await waitFor(() => (stalled.texts.length >= 2 ? true : undefined), 5000, 'subscriptions');
  // Stop reading: the kernel buffers fill, then the gateway's send buffer for this socket.
  (stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause();

  const runner = spawnCcg(
    ['runner', 'start', '--run-id', created.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--quiet', '--no-collect', '--spool-dir', tempDir(), '--', 'sh', '-c', `yes 'line of output 0123456789' | head -c ${TOTAL}`],
    { CCG_RUN_TOKEN: created.token },
  );
  const { code } = await runner.exited;
  assert.equal(code, 0, runner.stderr());

  const committed = g.gw.runs.committedSeq(created.id);
  await waitFor(() => (live.seqs.at(-1) === committed ? true : undefined), 20_000, 'the live viewer to have everything');
  assert.equal(live.bytes, TOTAL, 'the reading viewer got every byte while the other was stalled');
  assert.ok(stalled.bytes < TOTAL, `the stalled viewer has not got everything yet (${stalled.bytes})`);

  (stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  await waitFor(() => (stalled.seqs.at(-1) === committed ? true : undefined), 30_000, 'the stalled viewer to catch up');
  assert.deepEqual(stalled.seqs, Array.from({ length: committed }, (_, i) => i + 1), 'every chunk exactly once, in order');
  assert.equal(stalled.bytes, TOTAL);
  assert.deepEqual(live.seqs, Array.from({ length: committed }, (_, i) => i + 1));
  stalled.ws.close();
  live.ws.close();
});

test('subscribing from a seq resumes exactly there; unknown runs and bad frames get clear errors', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const created = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = spawnCcg(['runner', 'start', '--run-id', created.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--quiet', '--spool-dir', tempDir(), '--', 'sh', '-c', 'for i in 1 2 3 4 5 6; do echo $i; sleep 0.02; done'], {
    CCG_RUN_TOKEN: created.token,
  });
  await runner.exited;
  const last = g.gw.runs.committedSeq(created.id);
  assert.ok(last >= 3, `several chunks (${last})`);

  const v = await viewer(g, created.id, 3);
  await waitFor(() => (v.texts.some((m) => (m as { type: string }).type === 'caught_up') ? true : undefined), 5000, 'caught_up');
  assert.deepEqual(v.seqs, Array.from({ length: last - 2 }, (_, i) => i + 3));

  v.ws.send(JSON.stringify({ type: 'subscribe', runId: 'zzzzzzzzzzzz' }));
  await waitFor(() => v.texts.find((m) => (m as { code?: string }).code === 'ERR_RUN_NOT_FOUND'), 5000, 'not-found error');
  assert.equal(v.ws.readyState, WebSocket.OPEN, 'an unknown run is an answer, not a disconnect');

  const closed = new Promise<{ code: number; reason: string }>((r) => v.ws.on('close', (code, reason) => r({ code, reason: String(reason) })));
  v.ws.send('{"type":"subscribe","runId":');
  const c = await closed;
  assert.equal(c.code, 4400);
  assert.match(c.reason, /ERR_BAD_FRAME/);
});

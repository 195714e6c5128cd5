import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import { STREAM_STDOUT, decodeView, encodeOutput } from '../../protocol/frames.js';
import { runCli } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { collect, rawRunnerUpgrade, signedHeaders } from '../helpers/runner-socket.js';

// Regression: a commit's follow-up (the VIEW frame to a live viewer) used to be written from a
// promise continuation that uWS.js ran inside the runner socket's message callback. When one
// TLS read carried more than uSockets' 512 KiB buffer, that write made uSockets drop the rest
// of the runner's input and the runner was disconnected (1006) after a few chunks.
test('a runner bursting 64 KiB chunks over TLS to a watched run is not disconnected', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;

  const viewer = new WebSocket(new URL('/v1/operator', g.url.replace('https:', 'wss:')), {
    headers: { authorization: `Bearer ${g.operatorToken}` },
    agent: new PinnedAgent(g.fingerprint),
  });
  let viewed = 0;
  let caughtUp = false;
  const got = new Map<number, Buffer>();
  viewer.on('message', (data, isBinary) => {
    if (!isBinary) {
      if (String(data).includes('"caught_up"')) caughtUp = true;
      return;
    }
    const f = decodeView(data as Buffer);
    if (f.ok) {
      viewed += f.value.data.length;
      got.set(f.value.seq, Buffer.from(f.value.data));
    }
  });
  await new Promise((r) => viewer.once('open', r));
  t.after(() => viewer.close());
  viewer.send(JSON.stringify({ type: 'hello', v: 1 }));
  viewer.send(JSON.stringify({ type: 'subscribe', runId: run.id }));
  await waitFor(() => (caughtUp ? true : undefined), 10_000, 'viewer caught up');

  const up = await rawRunnerUpgrade(g.url, g.fingerprint, signedHeaders(run.token, run.id));
  const ws = up.ws!;
  const { messages, closed } = collect(ws);
  let closedEarly: { code: number; reason: string } | null = null;
  void closed.then((c) => (closedEarly = c));
  ws.send(JSON.stringify({ type: 'hello', v: 1, runner: { hostname: 'burst', pid: 1, version: 't', mode: 'command', command: ['x'], cwd: '/' } }));
  await waitFor(() => (messages.some((m) => (m as { type: string }).type === 'welcome') ? true : undefined), 10_000, 'welcome');

  const N = 256;
  // Each chunk its own bytes: a VIEW frame this large goes as two fragments (header, then data).
  const chunkOf = (seq: number) => Buffer.alloc(64 * 1024, `output line ${seq} 0123456789\n`);
  const data = chunkOf(1);
  for (let seq = 1; seq <= N; seq++) ws.send(encodeOutput({ stream: STREAM_STDOUT, seq, data: chunkOf(seq) }));
  const acked = () => Math.max(0, ...messages.filter((m) => (m as { type: string }).type === 'ack').map((m) => (m as { seq: number }).seq));
  await waitFor(() => (acked() === N || closedEarly ? true : undefined), 60_000, 'every chunk acknowledged');
  assert.equal(closedEarly, null, `runner socket closed mid-stream: ${JSON.stringify(closedEarly)}`);
  assert.equal(acked(), N);
  await waitFor(() => (viewed === N * data.length ? true : undefined), 30_000, 'the viewer to have every byte');
  for (let seq = 1; seq <= N; seq++) assert.ok(got.get(seq)?.equals(chunkOf(seq)), `chunk ${seq} as sent`);
  ws.close();
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STREAM_STDOUT, encodeOutput } from '../../protocol/frames.js';
import { startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { collect, rawRunnerUpgrade, signedHeaders } from '../helpers/runner-socket.js';

// A trickling runner (a line every few tens of ms, the common case with many runners) is acked in
// gathered acks: each ack is a WebSocket frame and a TLS record, and one per line doubled the
// gateway's writes (the bench's CPU per line). The runner's spool holds the chunks meanwhile.
test('acks of a trickling runner are gathered: 6 chunks 30 ms apart draw at most 2 acks, the last for the last chunk', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const { run, token } = await g.gw.runs.create('acks', 'test');
  const ws = (await rawRunnerUpgrade(g.url, g.fingerprint, signedHeaders(token, run.id))).ws!;
  t.after(() => ws.close());
  const { messages } = collect(ws);
  ws.send(JSON.stringify({ type: 'hello', v: 1, runner: { hostname: 'h', pid: 1, version: 't', mode: 'command', command: ['x'], cwd: '/' } }));
  await waitFor(() => (messages.some((m) => (m as { type: string }).type === 'welcome') ? true : undefined), 10_000, 'welcome');
  const acks = () => messages.filter((m) => (m as { type: string }).type === 'ack').map((m) => (m as { seq: number }).seq);
  for (let seq = 1; seq <= 6; seq++) {
    ws.send(encodeOutput({ stream: STREAM_STDOUT, seq, data: Buffer.from(`line ${seq}\n`) }));
    await new Promise((r) => setTimeout(r, 30));
  }
  await waitFor(() => (acks().includes(6) ? true : undefined), 10_000, 'the last chunk acknowledged');
  assert.ok(acks().length <= 2, `acks: ${acks().join(', ')}`);
  assert.deepEqual([...acks()].sort((a, b) => a - b), acks(), 'cumulative, in order');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { decodeView } from '../../protocol/frames.js';
import type { GatewayToOperator } from '../../protocol/operator-messages.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { startGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';

test('subscribing again to a run replaces its subscription, even at the cap of 64; a 65th run is refused and the others go on', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const runs: { id: string; token: string }[] = [];
  for (let i = 0; i < 65; i++) {
    const r = await apiRequest(g, 'POST', '/api/v1/runs', { name: `r${i}` });
    assert.equal(r.status, 201);
    runs.push({ id: r.json.run.id, token: r.json.token });
  }
  const ws = new WebSocket(new URL('/v1/operator', g.url.replace('https:', 'wss:')), { headers: { authorization: `Bearer ${g.operatorToken}` }, agent: new PinnedAgent(g.fingerprint) });
  t.after(() => ws.close());
  const msgs: GatewayToOperator[] = [];
  const views: { runId: string; text: string }[] = [];
  ws.on('message', (d, bin) => {
    if (!bin) return void msgs.push(JSON.parse(String(d)) as GatewayToOperator);
    const v = decodeView(d as Buffer);
    if (v.ok) views.push({ runId: v.value.runId, text: Buffer.from(v.value.data).toString() });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const send = (m: unknown) => ws.send(JSON.stringify(m));
  const count = (pred: (m: GatewayToOperator) => boolean) => msgs.filter(pred).length;
  const subscribed = (id: string) => count((m) => m.type === 'subscribed' && m.runId === id);
  send({ type: 'hello', v: 1 });
  for (const r of runs.slice(0, 64)) send({ type: 'subscribe', runId: r.id });
  await waitFor(() => (count((m) => m.type === 'subscribed') === 64 ? true : undefined), 10_000, '64 subscriptions');

  // Again, to resume from seq 1: answered like the first time, no error before it (the socket is ordered).
  const first = runs[0]!;
  send({ type: 'subscribe', runId: first.id, from: 1 });
  await waitFor(() => (subscribed(first.id) === 2 ? true : undefined), 5000, 'the second subscribed');
  assert.equal(count((m) => m.type === 'error'), 0, JSON.stringify(msgs.filter((m) => m.type === 'error')));
  // The cap still holds for a run not yet subscribed to.
  send({ type: 'subscribe', runId: runs[64]!.id });
  const refused = await waitFor(() => msgs.find((m) => m.type === 'error'), 5000, 'the refusal');
  assert.match((refused as { message: string }).message, /at most 64 subscriptions/);
  // The replaced subscription is live: the run's output reaches this socket.
  const r = await fakeRunner(g, first.id, first.token, { mode: 'command' });
  t.after(() => r.close());
  await r.output(0, 'after the resubscribe\n');
  await waitFor(() => views.find((v) => v.runId === first.id && v.text.includes('after the resubscribe')), 5000, 'the output');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STREAM_STDOUT } from '../../protocol/frames.js';
import { LocalBus } from '../../server/live/bus.js';
import type { Logger } from '../../server/log.js';
import type { RunSummary } from '../../protocol/run.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { PageClient, setupAdmin } from '../helpers/page-client.js';
import { waitFor } from '../helpers/processes.js';
import { openSse } from '../helpers/sse-reader.js';

/** Commits one chunk into a run as a runner would (through RunService.ingest). */
function feed(g: TestGateway, runId: string, data: Buffer): Promise<void> {
  const seq = g.gw.runs.committedSeq(runId) + 1;
  return new Promise<void>((resolve, reject) => {
    g.gw.runs.ingest(runId, { seq, stream: STREAM_STDOUT, time: Date.now(), data }, () => resolve(), reject);
  });
}

test('LocalBus: a listener that throws is logged and dropped; the publisher and the other listeners carry on', () => {
  const errors: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn() {}, error: (msg) => void errors.push(msg) };
  const bus = new LocalBus(log);
  const got: number[] = [];
  let bad = 0;
  bus.onChunk('r1', () => {
    bad++;
    throw new RangeError('Maximum call stack size exceeded');
  });
  bus.onChunk('r1', (c) => got.push(c.seq));
  const chunk = (seq: number) => ({ seq, stream: 0, time: 0, data: Buffer.alloc(0), items: [] });
  assert.doesNotThrow(() => bus.publishChunk('r1', chunk(1)));
  bus.publishChunk('r1', chunk(2));
  assert.deepEqual(got, [1, 2], 'the healthy listener hears every chunk');
  assert.equal(bad, 1, 'the failing listener was dropped after its first failure');
  const runs: string[] = [];
  bus.on('run', () => {
    throw new Error('boom');
  });
  bus.on('run', (r) => runs.push(r.id));
  assert.doesNotThrow(() => bus.publish('run', { id: 'x' } as RunSummary));
  bus.publish('run', { id: 'y' } as RunSummary);
  assert.deepEqual(runs, ['x', 'y']);
  assert.deepEqual(errors, ['bus.listener_failed', 'bus.listener_failed']);
});

test('64 KiB of open escape introducers on a watched run: the gateway keeps serving, the viewer keeps getting output', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = new PageClient(g.url, g.fingerprint);
  assert.equal((await setupAdmin(c, g.gw.setupCode!, 'admin', 'correct horse battery')).status, 303);
  const { run } = await g.gw.runs.create('hostile output', 'test');
  await feed(g, run.id, Buffer.from('hello\n'));

  const sse = openSse(g, `/runs/${run.id}/live?after=0`, c.cookieHeader());
  t.after(() => sse.close());
  assert.equal(await sse.status, 200);
  await waitFor(() => sse.events.find((e) => e.event === 'output' && e.data.includes('hello')), 10_000, 'the first output');

  // Once enough to overflow the renderer's stack on the live path: the gateway process died.
  for (const intro of ['\u001b]', '\u001bP', '\u009d']) await feed(g, run.id, Buffer.from(intro.repeat(32 * 1024)));
  await feed(g, run.id, Buffer.from(`${'.'.repeat(9000)}\n<b>still here</b>\n`));

  const after = await waitFor(() => sse.events.find((e) => e.event === 'output' && e.data.includes('still here')), 20_000, 'output after the flood');
  assert.match(after.data, /&lt;b&gt;still here&lt;\/b&gt;/, 'escaped');
  assert.doesNotMatch(sse.events.map((e) => e.data).join(''), /\u001b|\u009d|<b>/);
  assert.equal((await request(g, 'GET', '/healthz')).status, 200);
  // The run page renders the same window after the fact.
  const page = await c.get(`/runs/${run.id}`);
  assert.equal(page.status, 200);
  assert.match(page.body, /&lt;b&gt;still here&lt;\/b&gt;/);
});

test('LocalBus: a service listener (keep) that throws is logged and keeps listening', () => {
  const errors: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn() {}, error: (msg) => void errors.push(msg) };
  const bus = new LocalBus(log);
  const heard: string[] = [];
  bus.on(
    'run',
    (r) => {
      heard.push(r.id);
      throw new RangeError('Invalid time value');
    },
    { keep: true },
  );
  bus.publish('run', { id: 'x' } as RunSummary);
  bus.publish('run', { id: 'y' } as RunSummary);
  assert.deepEqual(heard, ['x', 'y']);
  assert.deepEqual(errors, ['bus.listener_failed', 'bus.listener_failed']);
});

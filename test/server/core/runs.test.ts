import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CcgError } from '../../../protocol/errors.js';
import { STREAM_EVENT, STREAM_STDOUT } from '../../../protocol/frames.js';
import { encodeEvent } from '../../../protocol/runner-events.js';
import type { RunSummary } from '../../../protocol/run.js';
import type { LiveChunk } from '../../../server/live/bus.js';
import { waitFor } from '../../helpers/processes.js';
import { RUNNER_INFO, coreHarness, ingest, recordingLink } from './harness.js';

test('RunService: chunks are committed in order, acknowledged once durable, announced once with their events parsed', async (t) => {
  const h = coreHarness();
  t.after(h.close);
  const { run } = await h.runs.create('unit', 'alice');
  const chunks: LiveChunk[] = [];
  const events: string[] = [];
  h.bus.onChunk(run.id, (c) => chunks.push(c));
  h.bus.on('events', (e) => events.push(...e.events.map((ev) => `${e.runId}:${ev.type}`)));
  await h.runs.attachRunner(run.id, recordingLink(), RUNNER_INFO);

  assert.equal(await ingest(h.runs, run.id, 1, STREAM_STDOUT, 'hello\n'), 1);
  const exitEvent = encodeEvent({ type: 'exec_exit', requestId: 'r'.repeat(22), name: 'test', code: 0, signal: null, timedOut: false, truncated: false, durationMs: 5 });
  assert.equal(await ingest(h.runs, run.id, 2, STREAM_EVENT, exitEvent), 2);

  assert.deepEqual((await h.store.readChunks(run.id, 1, { limit: 10, maxBytes: 1e6 })).map((c) => c.seq), [1, 2], 'both stored');
  assert.deepEqual(chunks.map((c) => [c.seq, c.items.length]), [[1, 0], [2, 1]], 'the event chunk carries its parsed event');
  assert.equal(chunks[1]!.items[0]!.event.type, 'exec_exit');
  assert.deepEqual(events, [`${run.id}:exec_exit`], 'the events topic hears each event once');
  assert.equal(h.runs.committedSeq(run.id), 2);

  // A resend after a reconnect is a duplicate; a gap is refused.
  assert.equal(h.runs.ingest(run.id, { seq: 2, stream: STREAM_STDOUT, time: 0, data: Buffer.from('again') }, () => assert.fail('acked twice'), () => undefined), 'duplicate');
  assert.throws(() => h.runs.ingest(run.id, { seq: 5, stream: STREAM_STDOUT, time: 0, data: Buffer.from('x') }, () => undefined, () => undefined), (e: unknown) => e instanceof CcgError && e.code === 'ERR_SEQ_GAP');
});

test('RunService: the run token never reaches the store or a viewer, even split across chunks of one stream', async (t) => {
  const h = coreHarness();
  t.after(h.close);
  const { run, token } = await h.runs.create('secret', 'alice');
  const seen: string[] = [];
  h.bus.onChunk(run.id, (c) => seen.push(c.data.toString()));
  await ingest(h.runs, run.id, 1, STREAM_STDOUT, `leaked ${token.slice(0, 10)}`);
  await ingest(h.runs, run.id, 2, STREAM_STDOUT, `${token.slice(10)} done\n`);
  const stored = (await h.store.readChunks(run.id, 1, { limit: 10, maxBytes: 1e6 })).map((c) => c.data.toString()).join('');
  assert.ok(!stored.includes(token), stored);
  assert.ok(!seen.join('').includes(token));
  assert.match(stored, /done/);
});

test('RunService: exit waits for the output it claims; one exit per run; then nothing more is taken', async (t) => {
  const h = coreHarness();
  t.after(h.close);
  const { run } = await h.runs.create('exit', 'alice');
  const statuses: RunSummary['status'][] = [];
  h.bus.on('run', (r) => {
    if (r.id === run.id) statuses.push(r.status);
  });
  await h.runs.attachRunner(run.id, recordingLink(), RUNNER_INFO);
  await h.runs.started(run.id);
  await ingest(h.runs, run.id, 1, STREAM_STDOUT, 'one\n');
  await assert.rejects(h.runs.recordExit(run.id, { code: 0, signal: null, lastSeq: 3 }), (e: unknown) => e instanceof CcgError && e.code === 'ERR_SEQ_GAP');
  const ended = await h.runs.recordExit(run.id, { code: 3, signal: null, lastSeq: 1 });
  assert.equal(ended.status, 'exited');
  assert.equal(ended.exitCode, 3);
  await assert.rejects(h.runs.recordExit(run.id, { code: 0, signal: null, lastSeq: 1 }), (e: unknown) => e instanceof CcgError && e.code === 'ERR_RUN_FINISHED');
  assert.throws(() => h.runs.ingest(run.id, { seq: 2, stream: STREAM_STDOUT, time: 0, data: Buffer.from('late') }, () => undefined, () => undefined), (e: unknown) => e instanceof CcgError && e.code === 'ERR_RUN_FINISHED');
  assert.deepEqual(statuses, ['connected', 'running', 'exited']);
});

test('RunService: output and progress are written lazily (only acks wait for them), events soon; an exit hurries what lingers', async (t) => {
  // Output lingers an hour unless something hurries it: an exit that did not would hang here.
  const h = coreHarness({ writeBatches: { intervalMs: 16, lingerMs: 3_600_000, quietMs: 3_600_000, maxBytes: 1 << 30 } });
  t.after(h.close);
  const { run } = await h.runs.create('linger', 'alice');
  await h.runs.attachRunner(run.id, recordingLink(), RUNNER_INFO);
  await h.runs.started(run.id);
  const urgencies: string[] = [];
  let hurried = 0;
  const append = h.store.appendChunk.bind(h.store);
  h.store.appendChunk = (id, chunk, urgency) => {
    urgencies.push(`${chunk.stream}:${urgency}`);
    return append(id, chunk, urgency);
  };
  const hurry = h.store.hurry.bind(h.store);
  h.store.hurry = () => {
    hurried++;
    hurry();
  };
  let progressWritten!: (urgency: string | undefined) => void;
  const progress = new Promise<string | undefined>((r) => (progressWritten = r));
  const putRun = h.store.putRun.bind(h.store);
  h.store.putRun = (r, urgency) => {
    if (r.id === run.id && r.lastSeq === 2 && !r.endedAt) progressWritten(urgency);
    return putRun(r, urgency);
  };
  const first = ingest(h.runs, run.id, 1, STREAM_STDOUT, 'one\n');
  const event = encodeEvent({ type: 'exec_exit', requestId: 'r'.repeat(22), name: 'test', code: 0, signal: null, timedOut: false, truncated: false, durationMs: 5 });
  // The event chunk goes soon (its viewers and services wait for its commit), the output with it.
  assert.equal(await ingest(h.runs, run.id, 2, STREAM_EVENT, event), 2);
  assert.equal(await first, 1);
  assert.deepEqual(urgencies, [`${STREAM_STDOUT}:lazy`, `${STREAM_EVENT}:soon`]);
  const keepAlive = setTimeout(() => undefined, 30_000); // the progress timer does not hold the process
  assert.equal(await progress, 'lazy', "the run's progress record (a second after the output) is lazy");
  clearTimeout(keepAlive);
  assert.equal(hurried, 0, 'nothing waited for the writes yet');

  // The exit arrives while the last output is still in the batch: the exit hurries it.
  const last = ingest(h.runs, run.id, 3, STREAM_STDOUT, 'last\n');
  const ended = await h.runs.recordExit(run.id, { code: 0, signal: null, lastSeq: 3 });
  assert.equal(await last, 3);
  assert.equal(hurried, 1, 'the exit hurried the lingering write');
  assert.equal(ended.status, 'exited');
  assert.equal(ended.lastSeq, 3);
  assert.deepEqual((await h.store.readChunks(run.id, 1, { limit: 10, maxBytes: 1e6 })).map((c) => c.seq), [1, 2, 3]);
});

test('RunService: the chunks of one write batch are handled as one (one ack for the batch); a store that hands out one settled promise still has every write handled', async (t) => {
  // Output lingers an hour: the five chunks land in one batch, which the test lets go.
  const h = coreHarness({ writeBatches: { intervalMs: 16, lingerMs: 3_600_000, quietMs: 3_600_000, maxBytes: 1 << 30 } });
  t.after(h.close);
  const { run } = await h.runs.create('groups', 'alice');
  await h.runs.attachRunner(run.id, recordingLink(), RUNNER_INFO);
  const acks: number[] = [];
  const failures: unknown[] = [];
  const onCommitted = (seq: number) => acks.push(seq);
  const failed = (err: unknown) => failures.push(err);
  for (let seq = 1; seq <= 5; seq++) h.runs.ingest(run.id, { seq, stream: STREAM_STDOUT, time: seq, data: Buffer.from(`line ${seq}\n`) }, onCommitted, failed);
  h.store.hurry();
  await waitFor(() => (acks.length > 0 ? true : undefined), 10_000, 'the batch committed');
  // A sentinel write behind it: once it is committed, every ack of the batch has been given.
  const sentinel = ingest(h.runs, run.id, 6, STREAM_STDOUT, 'sentinel\n');
  h.store.hurry();
  assert.equal(await sentinel, 6);
  assert.deepEqual(acks, [5], 'one ack for the batch, for its last seq');

  // A store whose every write returns the same settled promise: a chunk that comes after that
  // promise's group was handled is handled too (it must not join the finished group).
  const settled = Promise.resolve();
  const append = h.store.appendChunk.bind(h.store);
  h.store.appendChunk = (id, chunk, urgency) => {
    void append(id, chunk, urgency);
    return settled;
  };
  h.runs.ingest(run.id, { seq: 7, stream: STREAM_STDOUT, time: 7, data: Buffer.from('seven\n') }, onCommitted, failed);
  await waitFor(() => (acks.includes(7) ? true : undefined), 10_000, 'seq 7 acknowledged');
  h.runs.ingest(run.id, { seq: 8, stream: STREAM_STDOUT, time: 8, data: Buffer.from('eight\n') }, onCommitted, failed);
  await waitFor(() => (acks.includes(8) ? true : undefined), 10_000, 'seq 8 acknowledged');
  assert.equal(h.runs.committedSeq(run.id), 8);
  assert.deepEqual(failures, []);
});

test('RunService: a failed write batch fails its chunks once; nothing of it is acknowledged, no write stays counted, and the runner resends from the commit', async (t) => {
  const h = coreHarness();
  t.after(h.close);
  const { run } = await h.runs.create('failed batch', 'alice');
  await h.runs.attachRunner(run.id, recordingLink(), RUNNER_INFO);
  assert.equal(await ingest(h.runs, run.id, 1, STREAM_STDOUT, 'stored\n'), 1);
  // Three chunks in one batch that fails (one promise for all three, as LmdbStore's batches).
  let failBatch!: (err: Error) => void;
  const batch = new Promise<void>((_, reject) => (failBatch = reject));
  const append = h.store.appendChunk.bind(h.store);
  h.store.appendChunk = () => batch;
  const acks: number[] = [];
  const failures: unknown[] = [];
  // One pair of callbacks for the socket, as the runner socket passes.
  const onCommitted = (seq: number) => acks.push(seq);
  const onFailed = (err: unknown) => failures.push(err);
  for (let seq = 2; seq <= 4; seq++) h.runs.ingest(run.id, { seq, stream: STREAM_STDOUT, time: seq, data: Buffer.from(`lost ${seq}\n`) }, onCommitted, onFailed);
  failBatch(new Error('disk gone'));
  await waitFor(() => (failures.length > 0 ? true : undefined), 10_000, 'the failure reported');
  h.store.appendChunk = append;
  // The runner resends from the committed seq on: accepted, stored, acknowledged.
  for (let seq = 2; seq <= 4; seq++) assert.equal(await ingest(h.runs, run.id, seq, STREAM_STDOUT, `again ${seq}\n`), seq);
  // No write of the failed batch is still counted: the exit does not wait a minute for it.
  let waited: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    h.runs.recordExit(run.id, { code: 0, signal: null, lastSeq: 4 }),
    new Promise<never>((_, reject) => (waited = setTimeout(() => reject(new Error('the exit waited for writes that had failed')), 10_000))),
  ]);
  clearTimeout(waited);
  assert.equal(ended.lastSeq, 4);
  assert.equal(failures.length, 1, 'one failure for the batch');
  assert.deepEqual(acks, [], 'nothing of the failed batch was acknowledged');
  assert.deepEqual((await h.store.readChunks(run.id, 1, { limit: 10, maxBytes: 1e6 })).map((c) => c.data.toString()), ['stored\n', 'again 2\n', 'again 3\n', 'again 4\n']);
});

test('RunService: cancel reaches a connected runner; a run no runner picked up is cancelled at once; a second runner kicks the first', async (t) => {
  const h = coreHarness();
  t.after(h.close);
  const lonely = (await h.runs.create('nobody', 'alice')).run;
  const r1 = await h.runs.cancel(lonely.id, 'bob');
  assert.equal(r1.delivered, false);
  assert.equal(r1.run.status, 'cancelled');

  const { run } = await h.runs.create('busy', 'alice');
  const first = recordingLink();
  const second = recordingLink();
  await h.runs.attachRunner(run.id, first, RUNNER_INFO);
  await h.runs.attachRunner(run.id, second, RUNNER_INFO);
  assert.deepEqual(first.kicked.map((e) => e.code), ['ERR_REPLACED']);
  const r2 = await h.runs.cancel(run.id, 'bob');
  assert.equal(r2.delivered, true);
  assert.deepEqual(second.sent, [{ type: 'cancel', by: 'bob', controlId: (second.sent[0] as { controlId?: string } | undefined)?.controlId }]);
  assert.deepEqual(first.sent, [], 'the replaced connection hears nothing');
  await ingest(h.runs, run.id, 1, STREAM_STDOUT, 'bye\n');
  const ended = await h.runs.recordExit(run.id, { code: null, signal: 'SIGINT', lastSeq: 1 });
  assert.equal(ended.status, 'cancelled');
  assert.equal(ended.reason, 'cancelled by bob');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STREAM_EVENT, STREAM_STDOUT } from '../../../protocol/frames.js';
import { encodeEvent } from '../../../protocol/runner-events.js';
import { LocalBus, type LiveChunk } from '../../../server/live/bus.js';
import { Follower, type FollowSink } from '../../../server/live/follower.js';
import { RUNNER_INFO, coreHarness, ingest, recordingLink } from '../core/harness.js';
import { waitFor } from '../../helpers/processes.js';

/** A viewer's transport we can back up and drain at will; it records what it got. */
function sink() {
  const got: number[] = [];
  const caught: number[] = [];
  let full = false;
  const s: FollowSink & { got: number[]; caught: number[]; items: LiveChunk['items'][]; setFull(v: boolean): void } = {
    got,
    caught,
    items: [],
    setFull: (v) => void (full = v),
    congested: () => full,
    deliver(chunks) {
      for (const c of chunks) {
        got.push(c.seq);
        s.items.push(c.items);
      }
      return !full;
    },
    caughtUp: (seq) => void caught.push(seq),
  };
  return s;
}

/** Store reads are asynchronous: waits (turn by turn, bounded) until the follower is live again. */
async function untilLive(f: Follower): Promise<void> {
  for (let i = 0; i < 10_000 && !f.isLive; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(f.isLive, true, 'the follower caught up');
}

async function withRun(t: { after(fn: () => Promise<void>): void }) {
  const h = coreHarness();
  t.after(h.close);
  const { run } = await h.runs.create('follow', 'alice');
  await h.runs.attachRunner(run.id, recordingLink(), RUNNER_INFO);
  const src = h.runs.followSource;
  return { h, run, src, line: (seq: number) => ingest(h.runs, run.id, seq, STREAM_STDOUT, `line ${seq}\n`) };
}

test('Follower: catches up from the store, says so once, then follows live: every seq once, in order', async (t) => {
  const { run, src, line } = await withRun(t);
  for (let i = 1; i <= 5; i++) await line(i);
  const s = sink();
  const f = new Follower(src, run.id, 2, s, { limit: 2, maxBytes: 1e6 });
  f.pump();
  await untilLive(f);
  assert.deepEqual(s.got, [2, 3, 4, 5]);
  assert.deepEqual(s.caught, [5]);
  for (let i = 6; i <= 8; i++) await line(i);
  assert.deepEqual(s.got, [2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(s.caught, [5], 'caught up once: it stayed live');
  f.close();
  await line(9); // the sentinel for "nothing after close": the store has it, the closed follower does not
  assert.deepEqual(s.got, [2, 3, 4, 5, 6, 7, 8]);
});

test('Follower: a backed-up viewer falls back to the store and resumes from exactly the seq it is missing', async (t) => {
  const { run, src, line } = await withRun(t);
  const s = sink();
  const f = new Follower(src, run.id, 1, s);
  t.after(() => f.close());
  f.pump();
  await line(1);
  s.setFull(true);
  for (let i = 2; i <= 4; i++) await line(i); // arrive while the transport is backed up
  assert.deepEqual(s.got, [1], 'nothing is pushed into a backed-up transport');
  assert.equal(f.isLive, false);
  s.setFull(false);
  f.resume();
  await untilLive(f);
  assert.deepEqual(s.got, [1, 2, 3, 4]);
  await line(5);
  assert.deepEqual(s.got, [1, 2, 3, 4, 5]);
  assert.deepEqual(s.caught, [0, 4], 'live again after the fallback');
});

test('Follower: a live chunk out of order (one was missed) sends it back to the store; event chunks read from the store are parsed on demand', async (t) => {
  const { h, run, line } = await withRun(t);
  // The follower hears a bus of its own, to which we forward only what we choose: a lost fan-out.
  const lossy = new LocalBus();
  const forward = new Set<number>([1, 3]);
  h.bus.onChunk(run.id, (c) => {
    if (forward.has(c.seq)) lossy.publishChunk(run.id, c);
  });
  const s = sink();
  const f = new Follower({ ...h.runs.followSource, bus: lossy }, run.id, 1, s);
  t.after(() => f.close());
  f.pump();
  await line(1);
  await line(2); // lost on the way
  assert.deepEqual(s.got, [1]);
  await ingest(h.runs, run.id, 3, STREAM_EVENT, encodeEvent({ type: 'collect_started', requestId: 'c'.repeat(22), trigger: 'request' }));
  await untilLive(f);
  assert.deepEqual(s.got, [1, 2, 3], 'chunk 2 read from the store, then 3, nothing twice');
  assert.equal(s.items[2]!.length, 1);
  assert.equal(s.items[2]![0]!.event.type, 'collect_started');
  assert.equal(f.isLive, true);
});

test('Follower: chunks reach viewers before their commit; one who arrives meanwhile reads them from memory; the ack waits for the commit', async (t) => {
  const { h, run, src } = await withRun(t);
  // The store's commits wait for a gate we open: a slow disk, at the store's boundary.
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const append = h.store.appendChunk.bind(h.store);
  h.store.appendChunk = (id, chunk) => gate.then(() => append(id, chunk));
  const early = sink();
  const live = new Follower(src, run.id, 1, early);
  t.after(() => live.close());
  live.pump();
  const acked: number[] = [];
  const committed: Promise<number>[] = [];
  for (let seq = 1; seq <= 3; seq++) {
    committed.push(new Promise((resolve, reject) => h.runs.ingest(run.id, { seq, stream: STREAM_STDOUT, time: seq, data: Buffer.from(`line ${seq}\n`) }, (n) => resolve(acked.push(n)), reject)));
  }
  await new Promise((resolve) => setImmediate(resolve)); // the fan-out's turn
  assert.deepEqual(early.got, [1, 2, 3], 'a live viewer has every chunk before any commit');
  assert.equal(h.runs.committedSeq(run.id), 0);
  assert.deepEqual(acked, [], 'nothing is acknowledged before its commit');
  const late = sink();
  const joined = new Follower(src, run.id, 2, late);
  t.after(() => joined.close());
  joined.pump();
  assert.deepEqual(late.got, [2, 3], 'a viewer arriving before the commit reads the chunks in flight');
  assert.deepEqual(late.caught, [3], 'caught up past the commit');
  open();
  await Promise.all(committed);
  assert.deepEqual(acked, [1, 2, 3]);
  await ingest(h.runs, run.id, 4, STREAM_STDOUT, 'line 4\n'); // the sentinel: nothing twice before it
  assert.deepEqual(early.got, [1, 2, 3, 4]);
  assert.deepEqual(late.got, [2, 3, 4]);
});

test('Follower: an event chunk reaches viewers only after its commit, in the same step as the services hear its events; output behind it waits', async (t) => {
  const { h, run, src } = await withRun(t);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const append = h.store.appendChunk.bind(h.store);
  h.store.appendChunk = (id, chunk) => gate.then(() => append(id, chunk));
  const order: string[] = [];
  h.bus.on('events', ({ events }) => void order.push(`service:${events[0]!.type}`));
  const s = sink();
  const deliver = s.deliver.bind(s);
  s.deliver = (chunks) => {
    for (const c of chunks) order.push(`viewer:${c.seq}`);
    return deliver(chunks);
  };
  const f = new Follower(src, run.id, 1, s);
  t.after(() => f.close());
  f.pump();
  const committed = [
    new Promise((resolve, reject) => h.runs.ingest(run.id, { seq: 1, stream: STREAM_STDOUT, time: 1, data: Buffer.from('before\n') }, resolve, reject)),
    new Promise((resolve, reject) => h.runs.ingest(run.id, { seq: 2, stream: STREAM_EVENT, time: 2, data: encodeEvent({ type: 'collect_started', requestId: 'c'.repeat(22), trigger: 'request' }) }, resolve, reject)),
    new Promise((resolve, reject) => h.runs.ingest(run.id, { seq: 3, stream: STREAM_STDOUT, time: 3, data: Buffer.from('after\n') }, resolve, reject)),
  ];
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, ['viewer:1'], 'output before the event goes out at once; the event and what follows wait for its commit');
  open();
  await Promise.all(committed);
  assert.deepEqual(order, ['viewer:1', 'viewer:2', 'service:collect_started', 'viewer:3']);
});

test('Follower: with a slow store (reads answer later), live chunks during a read and a gap found meanwhile still give every seq once, in order', async (t) => {
  const { h, run, src, line } = await withRun(t);
  for (let i = 1; i <= 20; i++) await line(i);
  // A networked store: every read answers a few turns later.
  const read = h.store.readChunks.bind(h.store);
  let reads = 0;
  h.store.readChunks = async (id, from, opts) => {
    reads++;
    const out = await read(id, from, opts);
    await new Promise((resolve) => setTimeout(resolve, 5));
    return out;
  };
  const s = sink();
  const f = new Follower(src, run.id, 1, s, { limit: 3, maxBytes: 1e6 });
  t.after(() => f.close());
  f.pump();
  f.pump(); // asked again while a read is under way: still one pump
  for (let i = 21; i <= 40; i++) await line(i); // committed while the follower reads
  await untilLive(f);
  for (let i = 41; i <= 45; i++) await line(i);
  assert.deepEqual(s.got, Array.from({ length: 45 }, (_, i) => i + 1));
  assert.deepEqual(s.caught.length, 1, 'caught up once');
  assert.ok(reads >= 7, `read in batches (${reads} reads)`);
});

test('a write that fails while a later one succeeds (JetStream: its NATS server died) is never acknowledged past: the ack stops before the hole', async (t) => {
  const { h, run } = await withRun(t);
  // Seq 1's write fails after seq 2's succeeded: publishes to JetStream complete in any order.
  let failFirst!: () => void;
  const firstFails = new Promise<void>((_, reject) => (failFirst = () => reject(new Error('nats: timeout'))));
  const append = h.store.appendChunk.bind(h.store);
  let secondStored!: Promise<void>;
  h.store.appendChunk = (id, chunk) => (chunk.seq === 1 ? firstFails : (secondStored = append(id, chunk)));
  const acked: number[] = [];
  const failed: unknown[] = [];
  for (let seq = 1; seq <= 2; seq++) {
    h.runs.ingest(run.id, { seq, stream: STREAM_STDOUT, time: seq, data: Buffer.from(`line ${seq}\n`) }, (n) => acked.push(n), (err) => failed.push(err));
  }
  // Seq 2 is stored first (and its commit handled); then seq 1 fails, and the runner is told.
  await secondStored;
  await new Promise((resolve) => setImmediate(resolve)); // the turn its commit is handled in
  failFirst();
  await waitFor(() => (failed.length > 0 ? true : undefined), 5_000, 'the failure reported');
  assert.ok(acked.every((n) => n < 1), `nothing acknowledged past the hole: ${JSON.stringify(acked)}`);
  assert.equal(h.runs.committedSeq(run.id), 0);
  assert.equal(failed.length, 1, 'the runner is told (its socket closes; it resends from seq 1)');
  // The resend: seq 1 and 2 again, both stored now: acknowledged up to 2.
  h.store.appendChunk = append;
  for (let seq = 1; seq <= 2; seq++) {
    await new Promise<void>((resolve, reject) => h.runs.ingest(run.id, { seq, stream: STREAM_STDOUT, time: seq, data: Buffer.from(`line ${seq}\n`) }, () => resolve(), reject));
  }
  assert.equal(h.runs.committedSeq(run.id), 2);
});

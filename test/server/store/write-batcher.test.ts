import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { STREAM_STDOUT } from '../../../protocol/frames.js';
import { LmdbStore } from '../../../server/store/lmdb-store.js';
import type { RunRecord } from '../../../server/store/types.js';
import { WriteBatcher, type BatchTiming } from '../../../server/store/write-batcher.js';
import { tempDir } from '../../helpers/gateway.js';

const turn = () => new Promise<void>((r) => setImmediate(r));

/** A clock moved by hand: `to(t)` sets the time and runs the delays that ended by then. */
function handClock() {
  let now = 0;
  let timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => now,
    after(ms: number, fn: () => void) {
      const t = { at: now + ms, fn };
      timers.push(t);
      return () => {
        timers = timers.filter((x) => x !== t);
      };
    },
    /** Delays armed and not yet run or cancelled. */
    pending: () => timers.length,
    to(t: number) {
      now = t;
      for (;;) {
        const due = timers.filter((x) => x.at <= now).sort((a, b) => a.at - b.at)[0];
        if (!due) return;
        timers = timers.filter((x) => x !== due);
        due.fn();
      }
    },
  };
}
/** A batcher on a hand clock whose batches are recorded, failing while `state.failing`. */
function recordingBatcher(timing: BatchTiming) {
  const clock = handClock();
  const batches: string[][] = [];
  const state = { failing: false };
  const b = new WriteBatcher<string>(
    async (items) => {
      batches.push([...items]);
      if (state.failing) throw new Error('disk full');
    },
    timing,
    clock,
  );
  return { clock, batches, state, b };
}


test('WriteBatcher: a write after a quiet spell goes at once; writes that follow within the interval go together; a failure fails its batch only', async () => {
  const { clock, batches, state, b } = recordingBatcher({ intervalMs: 60_000, lingerMs: 120_000, quietMs: 60_000, maxBytes: 1024 });
  await b.add('a');
  assert.deepEqual(batches, [['a']], 'the first write went at the end of its turn');

  clock.to(1);
  const later = [b.add('b'), b.add('c')];
  await turn();
  await turn();
  assert.deepEqual(batches, [['a']], 'within the interval, nothing more starts');
  b.add('d').catch(() => undefined);
  b.flush();
  await Promise.all(later);
  assert.deepEqual(batches, [['a'], ['b', 'c', 'd']], 'one batch of everything that waited');

  state.failing = true;
  clock.to(120_000);
  const failed = await Promise.allSettled([b.add('e'), b.add('f')]);
  assert.deepEqual(failed.map((r) => r.status), ['rejected', 'rejected'], 'both writes of the failed batch are refused');
  state.failing = false;
  clock.to(240_000);
  await b.add('g');
  assert.deepEqual(batches.at(-1), ['g'], 'the next batch is not affected');
});

test('WriteBatcher: a lazy write lingers, gathered with what follows, until the stream pauses, its bytes add up, a soon write or hurry takes it along, or the linger ends', async () => {
  const { clock, batches, b } = recordingBatcher({ intervalMs: 16, lingerMs: 250, quietMs: 20, maxBytes: 100 });
  const lazy = (item: string, bytes = 1) => b.add(item, bytes, false);
  const settle = async () => {
    for (let i = 0; i < 3; i++) await turn();
  };
  // A pause: a lone lazy write goes once the stream has been quiet for quietMs.
  const first = lazy('a');
  await settle();
  assert.deepEqual(batches, [], 'a lazy write does not go at the end of its turn');
  clock.to(19);
  await settle();
  assert.deepEqual(batches, [], 'not before it');
  clock.to(20);
  await first;
  assert.deepEqual(batches, [['a']], 'it went once its stream paused');

  // A steady trickle (a write every 10 ms, never quiet for 20): gathered until the linger ends.
  const trickle: Promise<void>[] = [];
  for (let t = 100; t < 400; t += 10) {
    clock.to(t);
    trickle.push(lazy(`t${t}`));
    await settle();
  }
  assert.equal(batches.length, 2, 'one batch for the trickle');
  assert.deepEqual(batches[1], Array.from({ length: 25 }, (_, i) => `t${100 + i * 10}`), 'everything added in the 250 ms from the first, in order');
  clock.to(420);
  await Promise.all(trickle);
  assert.deepEqual(batches.at(-1), ['t350', 't360', 't370', 't380', 't390'], 'the rest went when the stream paused');

  // Bytes: a batch starts (at the earliest start allowed) once 100 bytes wait.
  clock.to(1000);
  const big = [lazy('x', 60), lazy('y', 60)];
  await settle();
  assert.deepEqual(batches.at(-1), ['x', 'y'], '120 bytes went at once');
  await Promise.all(big);

  // A soon write takes the lazy ones along; hurry does too.
  clock.to(2000);
  const along = [lazy('l1'), b.add('approval')];
  await settle();
  assert.deepEqual(batches.at(-1), ['l1', 'approval']);
  await Promise.all(along);
  clock.to(3000);
  const hurried = lazy('exit-waits');
  await settle();
  assert.notDeepEqual(batches.at(-1), ['exit-waits'], 'lingering');
  b.hurry();
  await hurried;
  assert.deepEqual(batches.at(-1), ['exit-waits'], 'hurry started it');
});

test('WriteBatcher: flush() (the store closing) starts lingering writes at once and cancels their timer; a failed lazy batch refuses its writes; hurry with nothing waiting does nothing', async () => {
  const { clock, batches, state, b } = recordingBatcher({ intervalMs: 16, lingerMs: 250, quietMs: 20, maxBytes: 100 });
  b.hurry();
  for (let i = 0; i < 3; i++) await turn();
  assert.deepEqual(batches, [], 'nothing to hurry');
  const closing = b.add('last', 1, false);
  assert.equal(clock.pending(), 1, 'its linger timer is armed');
  b.flush();
  assert.equal(clock.pending(), 0, 'and cancelled by the flush');
  await closing;
  assert.deepEqual(batches, [['last']]);

  state.failing = true;
  const lost = [b.add('a', 1, false), b.add('b', 1, false)];
  clock.to(1020);
  const results = await Promise.allSettled(lost);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected'], 'both lazy writes of the failed batch are refused');
  assert.deepEqual(batches.at(-1), ['a', 'b']);
});

test('WriteBatcher: settled() waits for every write added so far, committed or failed, and hurries nothing', async () => {
  const { clock, batches, state, b } = recordingBatcher({ intervalMs: 16, lingerMs: 250, quietMs: 20, maxBytes: 100 });
  let settled = false;
  await b.settled(); // nothing written yet: at once
  const lingering = b.add('out', 1, false);
  void b.settled().then(() => (settled = true));
  for (let i = 0; i < 3; i++) await turn();
  assert.equal(settled, false, 'the lazy write still lingers');
  assert.equal(batches.length, 0, 'and settled() did not start it');
  clock.to(20);
  await lingering;
  await turn();
  assert.equal(settled, true, 'settled once the batch committed');

  state.failing = true;
  const failing = b.add('out', 1, true);
  failing.catch(() => undefined);
  const after = b.settled();
  clock.to(100);
  await after; // resolves, does not reject
  await assert.rejects(failing);
});

test('LmdbStore: chunks appended one per event-loop turn are committed in far fewer transactions, each in order and readable', async (t) => {
  const dir = tempDir('ccg-batch-');
  const store = new LmdbStore(dir);
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let transactions = 0;
  store.root.on('beforecommit', () => transactions++);
  const N = 200;
  const writes: Promise<void>[] = [];
  // Like a runner socket's messages: each chunk arrives in its own turn.
  for (let seq = 1; seq <= N; seq++) {
    writes.push(store.appendChunk('run-1', { seq, stream: STREAM_STDOUT, time: seq, data: Buffer.from(`line ${seq}\n`) }));
    await turn();
  }
  await Promise.all(writes);
  const back = await store.readChunks('run-1', 1, { limit: N + 1, maxBytes: 1e6 });
  assert.deepEqual(back.map((c) => c.seq), Array.from({ length: N }, (_, i) => i + 1));
  assert.equal(back[N - 1]!.data.toString(), `line ${N}\n`);
  assert.ok(transactions < N / 4, `${transactions} transactions for ${N} chunks`);
});

test('LmdbStore: a screen snapshot is not committed before the output it shows, which may linger in the write batch', async (t) => {
  const dir = tempDir('ccg-batch-');
  // Output lingers an hour unless hurried: nothing here goes by a timer.
  const store = new LmdbStore(dir, { writeBatches: { intervalMs: 16, lingerMs: 3_600_000, quietMs: 3_600_000, maxBytes: 1 << 30 } });
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const chunk = store.appendChunk('run-1', { seq: 1, stream: STREAM_STDOUT, time: 1, data: Buffer.from('$ ls\n') }, 'lazy');
  const snap = store.putTermSnapshot('run-1', { seq: 1, cols: 80, rows: 24, data: 'screen', at: 1 });
  await turn();
  // A write of its own, after the snapshot's: committed, so anything started before it is too.
  await store.putMeta('sentinel', 1);
  assert.equal(store.latestTermSnapshot('run-1'), undefined, 'the snapshot waits for its output');
  assert.deepEqual(await store.readChunks('run-1', 1, { limit: 10, maxBytes: 1e6 }), [], 'which lingers');
  store.hurry();
  await Promise.all([chunk, snap]);
  assert.equal(store.latestTermSnapshot('run-1')?.seq, 1);
  assert.equal((await store.readChunks('run-1', 1, { limit: 10, maxBytes: 1e6 }))[0]?.data.toString(), '$ ls\n');
});

test('LmdbStore: run records written one per turn (progress of many runs) share transactions with the chunks, and the last write of a record wins', async (t) => {
  const dir = tempDir('ccg-batch-');
  const store = new LmdbStore(dir);
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let transactions = 0;
  store.root.on('beforecommit', () => transactions++);
  const N = 100;
  const writes: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    const run = { id: `run-${i % 10}`, name: 'progress', lastSeq: i, bytes: i } as unknown as RunRecord;
    writes.push(store.putRun(run));
    writes.push(store.appendChunk(run.id, { seq: i + 1, stream: STREAM_STDOUT, time: i, data: Buffer.from('x') }));
    await turn();
  }
  await Promise.all(writes);
  assert.ok(transactions < N / 4, `${transactions} transactions for ${N} run records and ${N} chunks`);
  for (let r = 0; r < 10; r++) assert.equal(store.getRun(`run-${r}`)?.lastSeq, 90 + r, 'each record as last written');
});

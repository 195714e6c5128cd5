import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { STREAM_STDOUT } from '../../../protocol/frames.js';
import { LmdbStore } from '../../../server/store/lmdb-store.js';
import type { RunRecord } from '../../../server/store/types.js';
import { WriteBatcher } from '../../../server/store/write-batcher.js';
import { tempDir } from '../../helpers/gateway.js';

const turn = () => new Promise<void>((r) => setImmediate(r));

test('WriteBatcher: a write after a quiet spell goes at once; writes that follow within the interval go together; a failure fails its batch only', async () => {
  let now = 0;
  const batches: string[][] = [];
  let fail = false;
  const b = new WriteBatcher<string>(
    async (items) => {
      batches.push([...items]);
      if (fail) throw new Error('disk full');
    },
    60_000,
    () => now,
  );
  await b.add('a');
  assert.deepEqual(batches, [['a']], 'the first write went at the end of its turn');

  now = 1;
  const later = [b.add('b'), b.add('c')];
  await turn();
  await turn();
  assert.deepEqual(batches, [['a']], 'within the interval, nothing more starts');
  b.add('d').catch(() => undefined);
  b.flush();
  await Promise.all(later);
  assert.deepEqual(batches, [['a'], ['b', 'c', 'd']], 'one batch of everything that waited');

  fail = true;
  now = 120_000;
  const failed = await Promise.allSettled([b.add('e'), b.add('f')]);
  assert.deepEqual(failed.map((r) => r.status), ['rejected', 'rejected'], 'both writes of the failed batch are refused');
  fail = false;
  now = 240_000;
  await b.add('g');
  assert.deepEqual(batches.at(-1), ['g'], 'the next batch is not affected');
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

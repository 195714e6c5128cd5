import { randomBytes } from 'node:crypto';
import { MAX_CHUNK_DATA } from '../../../protocol/frames.js';
import { STORE_HEADROOM, type StoredChunk } from '../../../server/store/types.js';
import { assert, nowAndReopened, chunkView, makeApproval, makeArtifact, makeChunk, makeRun, makeSession, makeToken, makeUser, ODD_IDS, tamper, withStatus, type ContractTest, type StoreTraits } from './fixtures.js';

const ALL = { limit: 10_000, maxBytes: 1 << 30 };

/** Runs, their output chunks and screen snapshots. */
export function runContract(t: ContractTest, traits: StoreTraits): void {
  t('runs: create, get, count; put replaces; unknown ids are undefined', async ({ store }) => {
    assert.equal(store.countRuns(), 0);
    assert.equal(store.getRun('nope'), undefined);
    const run = makeRun('r1', { runner: { hostname: 'box', pid: 7, version: '1.0.0', mode: 'command' } as never, origin: null });
    await store.createRun(run);
    assert.deepEqual(store.getRun('r1'), run);
    assert.equal(store.countRuns(), 1);
    const next = { ...run, status: 'running' as const, lastSeq: 12, bytes: 3400, updatedAt: run.updatedAt + 5, revokedBy: 'bob' };
    await store.putRun(next);
    assert.deepEqual(store.getRun('r1'), next);
    assert.equal(store.countRuns(), 1, 'a put of a known run adds none');
    await store.createRun(makeRun('r2', { createdAt: run.createdAt + 1 }));
    assert.equal(store.countRuns(), 2);
  });

  t('runs: listRuns is newest first (by createdAt), honours limit and the status filter, and sees puts', async ({ store }) => {
    const base = 1_700_000_000_000;
    // Created out of order: the list follows createdAt, not insertion.
    const order = [3, 0, 4, 1, 2];
    for (const i of order) await store.createRun(makeRun(`run-${i}`, { createdAt: base + i * 1000, status: i % 2 === 0 ? 'running' : 'exited' }));
    assert.deepEqual(store.listRuns({ limit: 100 }).map((r) => r.id), ['run-4', 'run-3', 'run-2', 'run-1', 'run-0']);
    assert.deepEqual(store.listRuns({ limit: 2 }).map((r) => r.id), ['run-4', 'run-3']);
    assert.deepEqual(store.listRuns({ limit: 100, status: 'running' }).map((r) => r.id), ['run-4', 'run-2', 'run-0']);
    assert.deepEqual(store.listRuns({ limit: 1, status: 'exited' }).map((r) => r.id), ['run-3']);
    assert.deepEqual(store.listRuns({ limit: 100, status: 'revoked' }), []);
    // A status change by putRun moves the run between filters; its place (createdAt) stays.
    await store.putRun(withStatus(store.getRun('run-4')!, 'exited'));
    assert.deepEqual(store.listRuns({ limit: 100, status: 'exited' }).map((r) => r.id), ['run-4', 'run-3', 'run-1']);
    assert.deepEqual(store.listRuns({ limit: 100, status: 'running' }).map((r) => r.id), ['run-2', 'run-0']);
    assert.deepEqual(store.listRuns({ limit: 100 }).map((r) => r.id), ['run-4', 'run-3', 'run-2', 'run-1', 'run-0']);
    assert.equal(store.listRuns({ limit: 100 })[0]!.status, 'exited', 'the list shows the latest record');
  });

  t('runs: what was handed to or read from the store is a copy (mutating it changes nothing stored)', async ({ store }) => {
    const run = makeRun('r1');
    await store.createRun(run);
    run.status = 'failed';
    run.name = 'changed after the write';
    assert.equal(store.getRun('r1')!.status, 'created');
    const read = store.getRun('r1')!;
    tamper(() => {
      read.status = 'revoked';
      read.name = 'changed after the read';
    });
    assert.equal(store.getRun('r1')!.status, 'created');
    assert.equal(store.getRun('r1')!.name, 'run r1');
    assert.equal(store.listRuns({ limit: 10, status: 'created' }).length, 1);
  });

  t('chunks: appended chunks read back in seq order with stream, time and exact bytes; lastSeq', async ({ store }) => {
    assert.equal(await store.lastSeq('r1'), 0, 'no chunks: 0');
    assert.deepEqual(await store.readChunks('r1', 1, ALL), []);
    const chunks: StoredChunk[] = [];
    for (let seq = 1; seq <= 40; seq++) chunks.push(makeChunk('r1', seq, 1 + ((seq * 37) % 300), seq % 3));
    chunks.push({ seq: 41, stream: 2, time: 1_700_000_999_999, data: Buffer.alloc(0) });
    chunks.push({ seq: 42, stream: 1, time: 1_700_001_000_000, data: Buffer.from([0, 0xff, 0x1b, 0x5b, 0x0a, 0x00]) });
    // Concurrently, as the gateway does: each resolves once durable.
    await Promise.all(chunks.map((c) => store.appendChunk('r1', c)));
    assert.equal(await store.lastSeq('r1'), 42);
    const all = await store.readChunks('r1', 1, ALL);
    assert.deepEqual(all.map(chunkView), chunks.map(chunkView));
    assert.ok(all.every((c) => c.data instanceof Uint8Array), "data is bytes");
    assert.deepEqual((await store.readChunks('r1', 30, ALL)).map((c) => c.seq), [30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42], 'from is inclusive');
    assert.deepEqual((await store.readChunks('r1', 10, { limit: 3, maxBytes: 1 << 30 })).map((c) => c.seq), [10, 11, 12]);
    assert.deepEqual(await store.readChunks('r1', 43, ALL), [], 'from past the end: nothing');
  });

  t('chunks: a chunk handed over with headroom (the runner socket\'s) is stored as given, its neighbours in the same buffer untouched', async ({ store }) => {
    // Three chunks laid out in one buffer, each with STORE_HEADROOM free bytes before it (the
    // store may write there) and nothing else: a store writing past its headroom, or keeping a
    // view of bytes it does not own, breaks the chunk before or after.
    const sizes = [1, 300, 70_000];
    const whole = Buffer.alloc(sizes.reduce((n, len) => n + STORE_HEADROOM + len, 0));
    const chunks: StoredChunk[] = [];
    let at = 0;
    for (const [i, len] of sizes.entries()) {
      at += STORE_HEADROOM;
      const data = whole.subarray(at, at + len);
      randomBytes(len).copy(data);
      chunks.push({ seq: i + 1, stream: i % 2, time: 1_700_000_000_000 + i, data, headroom: STORE_HEADROOM });
      at += len;
    }
    const expected = chunks.map((c) => ({ ...chunkView(c) }));
    await Promise.all(chunks.map((c) => store.appendChunk('hr', c)));
    assert.deepEqual((await store.readChunks('hr', 1, ALL)).map(chunkView), expected);
  });

  t('chunks: maxBytes stops once it is reached or passed (the chunk that passes it is included; at least one chunk)', async ({ store }) => {
    for (let seq = 1; seq <= 10; seq++) await store.appendChunk('r1', makeChunk('r1', seq, 100));
    const seqs = async (from: number, maxBytes: number, limit = 100) => (await store.readChunks('r1', from, { limit, maxBytes })).map((c) => c.seq);
    assert.deepEqual(await seqs(1, 250), [1, 2, 3], '100+100 < 250, the third passes it');
    assert.deepEqual(await seqs(1, 200), [1, 2], 'exactly reached: stops there');
    assert.deepEqual(await seqs(1, 201), [1, 2, 3]);
    assert.deepEqual(await seqs(4, 1), [4], 'a chunk larger than maxBytes still comes alone');
    assert.deepEqual(await seqs(1, 10_000, 4), [1, 2, 3, 4], 'limit first when bytes allow');
    const before = async (b: number, maxBytes: number, limit = 100) => (await store.readChunksBefore('r1', b, { limit, maxBytes })).map((c) => c.seq);
    assert.deepEqual(await before(11, 250), [8, 9, 10], 'backwards: the newest, until passed');
    assert.deepEqual(await before(11, 200), [9, 10]);
    assert.deepEqual(await before(6, 1), [5]);
  });

  t('chunks: readChunksBefore returns the newest chunks below `before`, ascending; edges', async ({ store }) => {
    assert.deepEqual(await store.readChunksBefore('r1', 100, ALL), [], 'no chunks');
    for (let seq = 1; seq <= 30; seq++) await store.appendChunk('r1', makeChunk('r1', seq, 10 + seq));
    const before = async (b: number, limit = 1000) => (await store.readChunksBefore('r1', b, { limit, maxBytes: 1 << 30 })).map((c) => c.seq);
    assert.deepEqual(await before(31, 5), [26, 27, 28, 29, 30], 'the tail, ascending');
    assert.deepEqual(await before(1_000_000, 3), [28, 29, 30], 'before far past the end: the tail');
    assert.deepEqual(await before(10, 4), [6, 7, 8, 9], 'before is exclusive');
    assert.deepEqual(await before(3), [1, 2]);
    assert.deepEqual(await before(2), [1]);
    assert.deepEqual(await before(1), [], 'nothing below seq 1');
    assert.deepEqual(await before(0), []);
    const got = await store.readChunksBefore('r1', 31, { limit: 2, maxBytes: 1 << 30 });
    assert.deepEqual(got.map(chunkView), [makeChunk('r1', 29, 39), makeChunk('r1', 30, 40)].map(chunkView), 'bytes, stream and time too');
  });

  t('chunks: a resent seq with the same bytes resolves and is kept once', async ({ store }) => {
    for (let seq = 1; seq <= 3; seq++) await store.appendChunk('r1', makeChunk('r1', seq));
    await store.appendChunk('r1', makeChunk('r1', 2));
    assert.deepEqual((await store.readChunks('r1', 1, ALL)).map(chunkView), [1, 2, 3].map((s) => chunkView(makeChunk('r1', s))));
    assert.equal(await store.lastSeq('r1'), 3);
  });

  t('chunks: what resolved is still there, byte for byte, after the store is closed and opened again', async (h) => {
    const chunks = Array.from({ length: 200 }, (_, i) => makeChunk('durable', i + 1, 1 + ((i * 53) % 2000), i % 2));
    await Promise.all(chunks.map((c) => h.store.appendChunk('durable', c)));
    await h.store.createRun(makeRun('durable', { lastSeq: 200 }));
    const store = await h.reopen();
    assert.equal(await store.lastSeq('durable'), 200);
    assert.deepEqual((await store.readChunks('durable', 1, ALL)).map(chunkView), chunks.map(chunkView));
    assert.equal(store.getRun('durable')!.lastSeq, 200);
    assert.equal(store.countRuns(), 1);
    // And it goes on from there.
    await store.appendChunk('durable', makeChunk('durable', 201));
    assert.equal(await store.lastSeq('durable'), 201);
  });

  t('odd run ids (dots, slashes, wildcards, unicode, long) round-trip and never mix with each other', async (h) => {
    for (const [i, id] of ODD_IDS.entries()) {
      await h.store.createRun(makeRun(id, { createdAt: 1_700_000_000_000 + i, name: `name of ${id}` }));
      for (let seq = 1; seq <= 3; seq++) await h.store.appendChunk(id, makeChunk(id, seq, 8 + i));
      await h.store.putTermSnapshot(id, { seq: 2, cols: 80, rows: 24, data: `screen of ${id}`, at: 1 });
    }
    for await (const store of nowAndReopened(h)) {
      assert.equal(store.countRuns(), ODD_IDS.length);
      assert.deepEqual(store.listRuns({ limit: 100 }).map((r) => r.id), [...ODD_IDS].reverse());
      for (const [i, id] of ODD_IDS.entries()) {
        assert.equal(store.getRun(id)?.name, `name of ${id}`, id);
        assert.equal(await store.lastSeq(id), 3, id);
        assert.deepEqual((await store.readChunks(id, 1, ALL)).map(chunkView), [1, 2, 3].map((s) => chunkView(makeChunk(id, s, 8 + i))), id);
        assert.deepEqual((await store.readChunksBefore(id, 4, ALL)).map((c) => c.seq), [1, 2, 3], id);
        assert.equal(store.latestTermSnapshot(id)?.data, `screen of ${id}`, id);
      }
      assert.equal(store.getRun('a.b.c.d'), undefined);
      assert.equal(await store.lastSeq('a.b.'), 0);
    }
  });

  t('the largest values the gateway writes round-trip: 256 KiB chunks, a 10 MB screen snapshot', async (h) => {
    const big = (seq: number) => ({ seq, stream: 1, time: seq, data: randomBytes(MAX_CHUNK_DATA) });
    const chunks = [big(1), big(2), big(3)];
    for (const c of chunks) await h.store.appendChunk('big', c);
    // A 1000×500 screen (the terminal clamp's largest) with every cell coloured serializes to about 10 MB.
    const screen = { seq: 3, cols: 1000, rows: 500, data: '\x1b[38;5;12m\x1b[48;5;200mü'.repeat(400_000), at: 1 };
    await h.store.putTermSnapshot('big', screen);
    for await (const store of nowAndReopened(h)) {
      assert.deepEqual((await store.readChunks('big', 1, ALL)).map(chunkView), chunks.map(chunkView));
      assert.deepEqual((await store.readChunks('big', 1, { limit: 10, maxBytes: MAX_CHUNK_DATA + 1 })).map((c) => c.seq), [1, 2]);
      assert.deepEqual((await store.readChunksBefore('big', 4, { limit: 10, maxBytes: MAX_CHUNK_DATA })).map((c) => c.seq), [3]);
      const got = store.latestTermSnapshot('big');
      assert.equal(got?.data.length, screen.data.length);
      assert.ok(got?.data === screen.data, 'the snapshot, character for character');
    }
  });

  t('after close every write rejects (none hangs, none takes the process down); closing twice is harmless', async ({ store }) => {
    // Each write below would change something that is there.
    await store.createRun(makeRun('r1'));
    await store.putApiToken('h', makeToken('t'));
    await store.createUser(makeUser('u1', 'amy'));
    await store.putSession('s', makeSession('u1'));
    await store.putPushSubscription({ id: 's', endpoint: 'https://push.example.test/s', keys: { p256dh: 'p', auth: 'a' }, user: 'amy', createdAt: 1 });
    await store.close();
    await store.close();
    const writes: [string, () => Promise<unknown>][] = [
      ['createRun', () => store.createRun(makeRun('r2'))],
      ['putRun', () => store.putRun(makeRun('r1'))],
      ['appendChunk', () => store.appendChunk('r1', makeChunk('r1', 1))],
      ['putTermSnapshot', () => store.putTermSnapshot('r1', { seq: 1, cols: 80, rows: 24, data: '', at: 1 })],
      ['claimNonce', () => store.claimNonce('nonce-zzzzzzzzzzzzzzzz', Date.now() + 60_000)],
      ['pruneNonces', () => store.pruneNonces(Date.now())],
      ['putApiToken', () => store.putApiToken('h', makeToken('t'))],
      ['updateApiToken', () => store.updateApiToken('h', (r) => r)],
      ['putMeta', () => store.putMeta('k', 1)],
      ['appendAudit', () => store.appendAudit({ at: 1, actor: 'a', action: 'x', target: null, from: null })],
      ['trimAudit', () => store.trimAudit({ before: 1, atLeast: 0, limit: 1 })],
      ['createUser', () => store.createUser(makeUser('u2', 'bob'))],
      ['updateUser', () => store.updateUser('u1', (u) => u)],
      ['deleteUser', () => store.deleteUser('u1')],
      ['putSession', () => store.putSession('s', makeSession('u1'))],
      ['deleteSession', () => store.deleteSession('s')],
      ['deleteSessions', () => store.deleteSessions(() => true)],
      ['putApproval', () => store.putApproval(makeApproval('r1', 'appr_0000000000000001'))],
      ['putPushSubscription', () => store.putPushSubscription({ id: 's', endpoint: 'https://push.example.test/s', keys: { p256dh: 'p', auth: 'a' }, user: 'amy', createdAt: 1 })],
      ['deletePushSubscription', () => store.deletePushSubscription('s')],
      ['putArtifact', () => store.putArtifact('r1', makeArtifact('a.txt', 'x'))],
    ];
    // A store that expires by itself may answer these two without asking anyone (they change nothing).
    const mayResolve = new Set(traits.expiresByItself ? ['pruneNonces', 'trimAudit'] : []);
    const outcomes: Record<string, unknown> = {};
    for (const [name, write] of writes) {
      if (mayResolve.has(name)) continue;
      outcomes[name] = await Promise.race([
        Promise.resolve()
          .then(write)
          .then(
            () => 'resolved',
            () => 'rejected',
          ),
        new Promise((r) => setTimeout(() => r('pending after 10 s'), 10_000).unref()),
      ]);
    }
    assert.deepEqual(outcomes, Object.fromEntries(Object.keys(outcomes).map((k) => [k, 'rejected'])));
  });

  t('term snapshots: the newest (highest seq) is kept whatever order the writes come in; survives a reopen', async (h) => {
    assert.equal(h.store.latestTermSnapshot('r1'), undefined);
    const snap = (seq: number) => ({ seq, cols: 100 + seq, rows: 30, data: `\x1b[H\x1b[2Jscreen ${seq} ünï`, at: 1_700_000_000_000 + seq });
    await h.store.putTermSnapshot('r1', snap(5));
    assert.deepEqual(h.store.latestTermSnapshot('r1'), snap(5));
    await h.store.putTermSnapshot('r1', snap(3));
    assert.deepEqual(h.store.latestTermSnapshot('r1'), snap(5), 'an older seq never replaces a newer one');
    await Promise.all([h.store.putTermSnapshot('r1', snap(9)), h.store.putTermSnapshot('r1', snap(7)), h.store.putTermSnapshot('r1', snap(8))]);
    assert.equal(h.store.latestTermSnapshot('r1')?.seq, 9, 'concurrent writes: the highest wins');
    await h.store.putTermSnapshot('r2', snap(1));
    const store = await h.reopen();
    assert.deepEqual(store.latestTermSnapshot('r1'), snap(9));
    assert.deepEqual(store.latestTermSnapshot('r2'), snap(1), 'one per run');
  });
}

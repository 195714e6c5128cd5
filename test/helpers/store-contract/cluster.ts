import type { AuthChange } from '../../../server/store/types.js';
import { assert, chunkView, eventually, makeApproval, makeChunk, makeRun, makeSession, makeToken, makeUser, type ContractTest } from './fixtures.js';

const ALL = { limit: 10_000, maxBytes: 1 << 30 };

/** Two nodes over the same data (cluster stores only; skipped for an embedded one). */
export function clusterContract(t: ContractTest): void {
  const peerOnly = { needsPeer: true };

  t('two nodes: what one writes, the other reads (runs, chunks, users, tokens, sessions, meta, approvals, term)', async (h) => {
    const a = h.store;
    const b = await h.peer!();
    await a.createRun(makeRun('r.1/x'));
    for (let seq = 1; seq <= 5; seq++) await a.appendChunk('r.1/x', makeChunk('r.1/x', seq));
    await a.createUser(makeUser('u1', 'amy'));
    await a.putApiToken('h1', makeToken('tok1'));
    await a.putSession('s1', makeSession('u1'));
    await a.putMeta('policy', { v: 1 });
    await a.putApproval(makeApproval('r.1/x', 'appr_0000000000000001'));
    await a.putTermSnapshot('r.1/x', { seq: 3, cols: 80, rows: 24, data: 'screen', at: 1 });
    await eventually(async () => {
      assert.equal(b.getRun('r.1/x')?.id, 'r.1/x');
      assert.equal(b.getUserByName('amy')?.id, 'u1');
      assert.equal(b.getApiToken('h1')?.id, 'tok1');
      assert.equal(b.getSession('s1')?.userId, 'u1');
      assert.deepEqual(b.getMeta('policy'), { v: 1 });
      assert.equal(b.listOpenApprovals().length, 1);
      assert.equal(b.latestTermSnapshot('r.1/x')?.seq, 3);
    });
    // Chunks resolved on one node are readable on the other at once (the store, not a mirror).
    assert.equal(await b.lastSeq('r.1/x'), 5);
    assert.deepEqual((await b.readChunks('r.1/x', 1, ALL)).map(chunkView), [1, 2, 3, 4, 5].map((s) => chunkView(makeChunk('r.1/x', s))));
    await a.putRun({ ...makeRun('r.1/x'), status: 'exited' });
    await eventually(() => assert.equal(b.getRun('r.1/x')?.status, 'exited'));
  }, peerOnly);

  t('two nodes: one seq written by both with other bytes: one write wins, the other is refused, and both read the winner', async (h) => {
    const a = h.store;
    const b = await h.peer!();
    await a.appendChunk('r1', makeChunk('r1', 1));
    await assert.rejects(b.appendChunk('r1', { ...makeChunk('r1', 1), data: Buffer.from('other bytes') }), 'a seq already stored keeps its bytes');
    await b.appendChunk('r1', makeChunk('r1', 1)); // the same bytes again: already durable
    const mine = { ...makeChunk('r1', 2), data: Buffer.from('from node a') };
    const theirs = { ...makeChunk('r1', 2), data: Buffer.from('from node b') };
    const [ra, rb] = await Promise.allSettled([a.appendChunk('r1', mine), b.appendChunk('r1', theirs)]);
    assert.equal([ra, rb].filter((r) => r.status === 'fulfilled').length, 1, 'exactly one of the racing writes resolves');
    const winner = ra.status === 'fulfilled' ? mine : theirs;
    for (const s of [a, b]) assert.deepEqual((await s.readChunks('r1', 1, ALL)).map(chunkView), [makeChunk('r1', 1), winner].map(chunkView));
  }, peerOnly);

  t('two nodes: a nonce claimed on one is refused on the other, also when both race', async (h) => {
    const a = h.store;
    const b = await h.peer!();
    const far = Date.now() + 600_000;
    assert.equal(await a.claimNonce('nonce-xxxxxxxxxxxxxxxx', far), true);
    assert.equal(await b.claimNonce('nonce-xxxxxxxxxxxxxxxx', far), false);
    const race = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).claimNonce('nonce-yyyyyyyyyyyyyyyy', far)));
    assert.equal(race.filter(Boolean).length, 1);
  }, peerOnly);

  t('two nodes: updateUser and updateApiToken stay atomic across nodes; one name is created once', async (h) => {
    const a = h.store;
    const b = await h.peer!();
    await a.createUser(makeUser('u1', 'amy'));
    await a.putApiToken('h1', makeToken('tok1'));
    await eventually(() => assert.ok(b.getUser('u1') && b.getApiToken('h1')));
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).updateUser('u1', (u) => ({ ...u, credGen: (u.credGen ?? 0) + 1 }))));
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).updateApiToken('h1', (r) => ({ ...r, credGen: (r.credGen ?? 0) + 1 }))));
    await eventually(() => {
      for (const s of [a, b]) {
        assert.equal(s.getUser('u1')?.credGen, 20);
        assert.equal(s.getApiToken('h1')?.credGen, 20);
      }
    });
    // First answer wins: the same check-and-set on both nodes succeeds once.
    const once = await Promise.all([a, b, a, b].map((s) => s.updateUser('u1', (u) => (u.disabled ? undefined : { ...u, disabled: true }))));
    assert.equal(once.filter(Boolean).length, 1);
    const created = await Promise.all([a, b, a, b].map((s, i) => s.createUser(makeUser(`n${i}`, 'same'))));
    assert.equal(created.filter(Boolean).length, 1);
  }, peerOnly);

  t('two nodes: onAuthChange on one hears the other node\'s token, user and session changes', async (h) => {
    const a = h.store;
    const b = await h.peer!();
    const heard: AuthChange[] = [];
    b.onAuthChange!((c) => heard.push(c));
    await a.createUser(makeUser('u1', 'amy'));
    await a.putApiToken('h1', makeToken('tok1', { userId: 'u1' }));
    await a.putSession('s1', makeSession('u1'));
    await eventually(() => assert.ok(b.getSession('s1') && b.getApiToken('h1')));
    await a.updateApiToken('h1', (r) => ({ ...r, revokedAt: 1 }));
    await a.updateUser('u1', (u) => ({ ...u, disabled: true }));
    await a.deleteSession('s1');
    await eventually(() => {
      const got = new Set(heard.map((c) => `${c.kind}:${c.id}`));
      for (const want of ['token:tok1', 'user:u1', 'session:u1']) assert.ok(got.has(want), `${want} in ${[...got].join(' ')}`);
    });
    assert.equal(b.getApiToken('h1')?.revokedAt, 1, 'heard after the mirror has it');
  }, peerOnly);

  t('two nodes: an older term snapshot from one never replaces a newer one from the other', async (h) => {
    const a = h.store;
    const b = await h.peer!();
    const snap = (seq: number) => ({ seq, cols: 80, rows: 24, data: `s${seq}`, at: seq });
    await a.putTermSnapshot('r1', snap(9));
    await b.putTermSnapshot('r1', snap(4));
    await eventually(() => {
      assert.equal(a.latestTermSnapshot('r1')?.seq, 9);
      assert.equal(b.latestTermSnapshot('r1')?.seq, 9);
    });
  }, peerOnly);
}

import { MAX_INPUT_JSON } from '../../../protocol/claude-events.js';
import { MAX_DIFF, MAX_PLAN } from '../../../protocol/claude-steer.js';
import type { PushSubscriptionRecord } from '../../../server/store/types.js';
import { assert, nowAndReopened, makeApproval, makeArtifact, ODD_IDS, sha, tamper, type ContractTest } from './fixtures.js';

function sub(id: string, over: Partial<PushSubscriptionRecord> = {}): PushSubscriptionRecord {
  return { id, endpoint: `https://push.example.test/${id}`, keys: { p256dh: `p-${id}`, auth: `a-${id}` }, user: 'amy', userId: 'u1', tokenId: null, credGen: 0, createdAt: 1_700_000_000_000, ...over };
}

const A = (n: number) => `appr_${String(n).padStart(16, '0')}`;

/** Approvals, push subscriptions and artifact metadata. */
export function claudeContract(t: ContractTest): void {
  t('approvals: put, get, replace; a run lists its newest `limit`, oldest first; other runs apart', async (h) => {
    assert.equal(h.store.getApproval('r1', A(1)), undefined);
    assert.deepEqual(h.store.listApprovals('r1', 10), []);
    // Written out of order: the list follows requestedAt.
    for (const n of [3, 1, 5, 2, 4]) await h.store.putApproval(makeApproval('r1', A(n), { requestedAt: 1_700_000_000_000 + n * 1000 }));
    await h.store.putApproval(makeApproval('r10', A(9)));
    await h.store.putApproval(makeApproval('r', A(8)));
    const answered = makeApproval('r1', A(2), {
      requestedAt: 1_700_000_002_000,
      state: 'answered',
      answer: { decision: 'deny', always: false, message: 'not now ünï', by: 'amy', at: 7 },
    });
    await h.store.putApproval(answered);
    for await (const store of nowAndReopened(h)) {
      assert.deepEqual(store.getApproval('r1', A(2)), answered);
      assert.deepEqual(store.listApprovals('r1', 10).map((a) => a.approvalId), [1, 2, 3, 4, 5].map(A));
      assert.deepEqual(store.listApprovals('r1', 2).map((a) => a.approvalId), [A(4), A(5)], 'the newest two, oldest first');
      assert.deepEqual(store.listApprovals('r10', 10).map((a) => a.approvalId), [A(9)]);
      assert.deepEqual(store.listApprovals('r', 10).map((a) => a.approvalId), [A(8)]);
      assert.equal(store.getApproval('r10', A(1)), undefined);
    }
    const read = h.store.getApproval('r1', A(1))!;
    tamper(() => (read.state = 'resolved'));
    assert.equal(h.store.getApproval('r1', A(1))!.state, 'pending', 'a read record is a copy');
  });

  t('approvals at their size caps round-trip (input, plan, diff, questions)', async (h) => {
    const a = makeApproval('r1', A(1), {
      toolName: 'Write',
      input: { content: 'x'.repeat(MAX_INPUT_JSON), path: '/tmp/ü.txt' },
      plan: '# plan\n' + 'p'.repeat(MAX_PLAN - 7),
      diff: { path: '/work/ü.ts', text: '+'.repeat(MAX_DIFF), truncated: false, note: null },
      description: 'd'.repeat(1000),
      blockedPath: '/'.repeat(4096),
    });
    await h.store.putApproval(a);
    for await (const store of nowAndReopened(h)) {
      assert.deepEqual(store.getApproval('r1', A(1)), a);
      assert.deepEqual(store.listOpenApprovals(), [a]);
    }
  });

  t('approvals: listOpenApprovals has every pending or answered one of every run, never a resolved one', async (h) => {
    const runs = ['r1', 'r2', ...ODD_IDS.slice(0, 6)];
    for (const run of runs) {
      await h.store.putApproval(makeApproval(run, A(1)));
      await h.store.putApproval(makeApproval(run, A(2), { state: 'answered', answer: { decision: 'allow', always: true, message: null, by: 'amy', at: 1 } }));
      await h.store.putApproval(makeApproval(run, A(3), { state: 'resolved', resolution: { decision: 'deny', always: false, message: null, by: 'timeout', reason: 'timeout', at: 2 } }));
    }
    const open = (s = h.store) => s.listOpenApprovals().map((a) => `${a.runId}|${a.approvalId}|${a.state}`).sort();
    const want = runs.flatMap((r) => [`${r}|${A(1)}|pending`, `${r}|${A(2)}|answered`]).sort();
    assert.deepEqual(open(), want);
    // Resolving takes it off the list; only that one.
    await h.store.putApproval(makeApproval('r1', A(1), { state: 'resolved', resolution: { decision: 'allow', always: false, message: null, by: 'amy', reason: 'operator', at: 3 } }));
    const less = want.filter((w) => w !== `r1|${A(1)}|pending`);
    assert.deepEqual(open(), less);
    assert.deepEqual(open(await h.reopen()), less);
  });

  t('push subscriptions: put (replacing by id), list, delete (true once)', async (h) => {
    assert.deepEqual(h.store.listPushSubscriptions(), []);
    const ids = ['sub-1', 'a_b-C', 'x'.repeat(43)];
    for (const id of ids) await h.store.putPushSubscription(sub(id));
    await h.store.putPushSubscription(sub('sub-1', { endpoint: 'https://push.example.test/new', credGen: 3 }));
    assert.deepEqual(h.store.listPushSubscriptions().find((s) => s.id === 'sub-1'), sub('sub-1', { endpoint: 'https://push.example.test/new', credGen: 3 }));
    assert.equal(h.store.listPushSubscriptions().length, 3);
    assert.equal(await h.store.deletePushSubscription('a_b-C'), true);
    assert.equal(await h.store.deletePushSubscription('a_b-C'), false);
    assert.equal(await h.store.deletePushSubscription('never'), false);
    const store = await h.reopen();
    assert.deepEqual(store.listPushSubscriptions().map((s) => s.id).sort(), ['sub-1', 'x'.repeat(43)].sort());
  });

  t('artifacts: put, get, list by name; a re-upload of a name replaces it; usage counts every upload', async (h) => {
    assert.deepEqual(h.store.listArtifacts('r1'), []);
    assert.deepEqual(h.store.usageOf('r1'), { uploads: 0, bytes: 0 });
    const names = ['z.log', 'a/b/c.txt', 'a.b', 'A+b@c-d_e.f', 'diff/staged.patch', 'n'.repeat(128) + '/' + 'm'.repeat(128)];
    for (const name of names) assert.deepEqual(await h.store.putArtifact('r1', makeArtifact(name, `content of ${name}`)), { unreferenced: [] });
    await h.store.putArtifact('r2', makeArtifact('z.log', 'r2 log'));
    const replaced = makeArtifact('z.log', 'a longer second version', { uploadedAt: 1_700_000_001_000, truncated: true, originalBytes: 9999, collection: 'coll_0123456789abcdef' });
    await h.store.putArtifact('r1', replaced);
    for await (const store of nowAndReopened(h)) {
      assert.deepEqual(store.getArtifact('r1', 'z.log'), replaced);
      assert.equal(store.getArtifact('r1', 'nope'), undefined);
      assert.equal(store.getArtifact('r2', 'a.b'), undefined);
      assert.deepEqual(store.listArtifacts('r1').map((a) => a.name), [...names].sort(), 'one per name, by name');
      assert.deepEqual(store.listArtifacts('r2'), [makeArtifact('z.log', 'r2 log')]);
      const bytes = names.reduce((n, name) => n + Buffer.byteLength(`content of ${name}`), 0) + replaced.bytes;
      assert.deepEqual(store.usageOf('r1'), { uploads: names.length + 1, bytes }, 'replaced uploads still count');
      assert.deepEqual(store.usageOf('r2'), { uploads: 1, bytes: 6 });
    }
  });

  t('artifacts: blob references are counted across runs and names; a blob nothing refers to is returned once', async ({ store }) => {
    const one = 'shared content';
    await store.putArtifact('r1', makeArtifact('x.txt', one));
    await store.putArtifact('r2', makeArtifact('y.txt', one));
    assert.equal(store.blobRefs(sha(one)), 2);
    assert.equal(store.blobRefs(sha('never uploaded')), 0);
    // Same content again under the same name: still referenced, nothing to delete.
    assert.deepEqual(await store.putArtifact('r1', makeArtifact('x.txt', one)), { unreferenced: [] });
    assert.equal(store.blobRefs(sha(one)), 2);
    // r1 moves to new content: the shared blob is still r2's.
    assert.deepEqual(await store.putArtifact('r1', makeArtifact('x.txt', 'v2')), { unreferenced: [] });
    assert.equal(store.blobRefs(sha(one)), 1);
    assert.equal(store.blobRefs(sha('v2')), 1);
    // r2 moves too: now nothing refers to it.
    assert.deepEqual(await store.putArtifact('r2', makeArtifact('y.txt', 'v3')), { unreferenced: [sha(one)] });
    assert.equal(store.blobRefs(sha(one)), 0);
    assert.deepEqual(await store.putArtifact('r2', makeArtifact('y.txt', 'v4')), { unreferenced: [sha('v3')] });
    // Concurrent uploads of one blob under many names: every reference counted.
    await Promise.all(Array.from({ length: 12 }, (_, i) => store.putArtifact('r3', makeArtifact(`f${i}.txt`, 'same'))));
    assert.equal(store.blobRefs(sha('same')), 12);
    assert.deepEqual(store.usageOf('r3'), { uploads: 12, bytes: 48 });
  });

  t('artifacts under odd run ids stay with their run', async ({ store }) => {
    for (const [i, id] of ODD_IDS.entries()) await store.putArtifact(id, makeArtifact('out.txt', `run ${i}`));
    for (const [i, id] of ODD_IDS.entries()) {
      assert.deepEqual(store.listArtifacts(id), [makeArtifact('out.txt', `run ${i}`)], id);
      assert.deepEqual(store.usageOf(id), { uploads: 1, bytes: Buffer.byteLength(`run ${i}`) }, id);
    }
  });
}

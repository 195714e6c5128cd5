import type { AuthChange } from '../../../server/store/types.js';
import { assert, nowAndReopened, makeSession, makeToken, makeUser, tamper, type ContractTest } from './fixtures.js';

/** Users, sessions and the change notifications open sockets re-check on. */
export function accountContract(t: ContractTest): void {
  t('users: create, get by id and by name, list by name; a taken name is refused; onlyFirst', async (h) => {
    assert.deepEqual(h.store.listUsers(), []);
    assert.equal(await h.store.createUser(makeUser('u-zed', 'zed'), { onlyFirst: true }), true, 'the first user, with onlyFirst');
    assert.equal(await h.store.createUser(makeUser('u-amy', 'amy'), { onlyFirst: true }), false, 'onlyFirst: a user exists');
    assert.equal(h.store.getUser('u-amy'), undefined);
    assert.equal(await h.store.createUser(makeUser('u-amy', 'amy', { role: 'admin', totp: { box: 'sealed', lastStep: 5, recoveryHashes: ['a', 'b'], enabledAt: 9 } })), true);
    assert.equal(await h.store.createUser(makeUser('u-other', 'amy')), false, 'the name is taken');
    assert.equal(h.store.getUser('u-other'), undefined);
    assert.equal(await h.store.createUser(makeUser('u-mid', 'mia.b_c-d')), true);
    for await (const store of nowAndReopened(h)) {
      assert.deepEqual(store.getUser('u-amy'), makeUser('u-amy', 'amy', { role: 'admin', totp: { box: 'sealed', lastStep: 5, recoveryHashes: ['a', 'b'], enabledAt: 9 } }));
      assert.equal(store.getUserByName('amy')?.id, 'u-amy');
      assert.equal(store.getUserByName('mia.b_c-d')?.id, 'u-mid');
      assert.equal(store.getUserByName('nobody'), undefined);
      assert.deepEqual(store.listUsers().map((u) => u.name), ['amy', 'mia.b_c-d', 'zed']);
    }
  });

  t('users: concurrent creates of one name: exactly one wins', async ({ store }) => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.createUser(makeUser(`u-${i}`, 'same'))));
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal(store.listUsers().length, 1);
    const firsts = await Promise.all(Array.from({ length: 8 }, (_, i) => store.createUser(makeUser(`f-${i}`, `first${i}`), { onlyFirst: true })));
    assert.equal(firsts.filter(Boolean).length, 0, 'a user exists: onlyFirst refuses all');
  });

  t('users: updateUser is atomic (20 concurrent increments all land), sees the latest, undefined leaves it', async ({ store }) => {
    await store.createUser(makeUser('u1', 'amy'));
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.updateUser('u1', (u) => ({ ...u, credGen: (u.credGen ?? 0) + 1, updatedAt: u.updatedAt + i }))));
    assert.equal(store.getUser('u1')!.credGen, 20);
    // Check-and-set: a TOTP step used once.
    await store.updateUser('u1', (u) => ({ ...u, totp: { box: 'b', lastStep: 10, recoveryHashes: [], enabledAt: 1 } }));
    const useStep = (step: number) => store.updateUser('u1', (u) => (u.totp && u.totp.lastStep < step ? { ...u, totp: { ...u.totp, lastStep: step } } : undefined));
    const steps = await Promise.all([useStep(11), useStep(11), useStep(11)]);
    assert.equal(steps.filter(Boolean).length, 1, 'the same step is accepted once');
    assert.equal(steps.find(Boolean)!.totp!.lastStep, 11, 'resolves with what was written');
    const declined = await store.updateUser('u1', (u) => {
      u.disabled = true; // mutates its argument, then declines: nothing may leak
      return undefined;
    });
    assert.equal(declined, undefined);
    assert.equal(store.getUser('u1')!.disabled, false);
    assert.equal(await store.updateUser('ghost', (u) => u), undefined, 'no such user');
    assert.equal(store.getUser('ghost'), undefined);
    const read = store.getUser('u1')!;
    tamper(() => (read.role = 'admin'));
    assert.equal(store.getUser('u1')!.role, 'operator', 'a read record is a copy');
    assert.equal(store.getUserByName('amy')!.role, 'operator');
  });

  t('users: delete frees the name; the name index follows', async (h) => {
    await h.store.createUser(makeUser('u1', 'amy'));
    await h.store.createUser(makeUser('u2', 'bob'));
    await h.store.deleteUser('u1');
    await h.store.deleteUser('nobody');
    assert.equal(h.store.getUser('u1'), undefined);
    assert.equal(h.store.getUserByName('amy'), undefined);
    assert.equal(await h.store.createUser(makeUser('u3', 'amy')), true, 'the name is free again');
    const store = await h.reopen();
    assert.equal(store.getUserByName('amy')?.id, 'u3');
    assert.deepEqual(store.listUsers().map((u) => u.id), ['u3', 'u2']);
  });

  t('sessions: put, get, delete (true once), deleteSessions by predicate with its count', async (h) => {
    const hashes = ['s/a', 's.b', 's+c=', 'ü', 'x'.repeat(64)];
    for (const [i, hash] of hashes.entries()) await h.store.putSession(hash, makeSession(i < 3 ? 'u1' : 'u2', { lastSeenAt: i }));
    assert.deepEqual(h.store.getSession('s.b'), makeSession('u1', { lastSeenAt: 1 }));
    await h.store.putSession('s.b', makeSession('u1', { lastSeenAt: 100, stage: 'totp' }));
    assert.equal(h.store.getSession('s.b')?.lastSeenAt, 100, 'a put replaces');
    assert.equal(await h.store.deleteSession('s/a'), true);
    assert.equal(await h.store.deleteSession('s/a'), false);
    assert.equal(await h.store.deleteSession('never'), false);
    assert.equal(h.store.getSession('s/a'), undefined);
    const seen: string[] = [];
    assert.equal(await h.store.deleteSessions((rec, hash) => (seen.push(hash), rec.userId === 'u2')), 2);
    assert.deepEqual(seen.sort(), ['s+c=', 's.b', 'x'.repeat(64), 'ü'].sort(), 'the predicate sees every session with its hash');
    assert.equal(await h.store.deleteSessions(() => false), 0);
    const store = await h.reopen();
    assert.equal(store.getSession('ü'), undefined);
    assert.equal(store.getSession('s+c=')?.userId, 'u1');
    assert.equal(store.getSession('s.b')?.stage, 'totp');
    assert.equal(await store.deleteSessions((rec) => rec.lastSeenAt >= 100), 1);
    assert.equal(store.getSession('s.b'), undefined);
  });

  t('onAuthChange hears token updates, user updates and deletes, session deletes; not declined changes; stops when removed', async ({ store }) => {
    assert.ok(store.onAuthChange, 'the store offers onAuthChange');
    const heard: AuthChange[] = [];
    const stop = store.onAuthChange!((c) => heard.push(c));
    await store.putApiToken('h1', makeToken('tok1'));
    await store.createUser(makeUser('u1', 'amy'));
    await store.createUser(makeUser('u2', 'bob'));
    await store.putSession('s1', makeSession('u1'));
    await store.putSession('s2', makeSession('u1'));
    await store.putSession('s3', makeSession('u2'));
    heard.length = 0; // what creating said (if anything) is not part of the contract
    const key = (c: AuthChange) => `${c.kind}:${c.id}`;
    const hear = async (list: AuthChange[], want: string) => {
      for (let i = 0; i < 800 && !list.some((c) => key(c) === want); i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(list.some((c) => key(c) === want), `heard ${want}`);
    };
    await store.updateApiToken('h1', () => undefined);
    await store.updateUser('u1', () => undefined);
    await store.deleteSession('s3'); // the sentinel: once it is heard, the declined changes would have been
    await hear(heard, 'session:u2');
    assert.deepEqual([...new Set(heard.map(key))], ['session:u2'], 'declined changes are not announced');
    heard.length = 0;
    await store.updateApiToken('h1', (r) => ({ ...r, revokedAt: 1 }));
    await store.updateUser('u1', (u) => ({ ...u, disabled: true }));
    await store.deleteSession('s3');
    await store.deleteSessions((rec) => rec.userId === 'u1');
    await store.deleteUser('u2');
    await hear(heard, 'user:u2');
    assert.deepEqual([...new Set(heard.map(key))].sort(), ['session:u1', 'token:tok1', 'user:u1', 'user:u2'], 'each change, by kind and id (a session change names its user)');
    stop();
    heard.length = 0;
    const other: AuthChange[] = [];
    store.onAuthChange!((c) => other.push(c));
    await store.updateUser('u1', (u) => ({ ...u, disabled: false }));
    await store.deleteUser('u1');
    await hear(other, 'user:u1');
    assert.deepEqual(heard, [], 'removed: hears nothing more');
  });
}

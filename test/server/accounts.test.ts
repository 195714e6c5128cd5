import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { AccountService } from '../../server/auth/accounts.js';
import { ARGON2_PARAMS, hashPassword, needsRehash, verifyPassword } from '../../server/auth/passwords.js';
import { SecretBox } from '../../server/auth/secret-box.js';
import { LoginThrottle } from '../../server/auth/throttle.js';
import { TOTP_PERIOD_S, totpCodeAt, totpStep } from '../../server/auth/totp.js';
import { silentLogger } from '../../server/log.js';
import { LmdbStore } from '../../server/store/lmdb-store.js';
import { tempDir } from '../helpers/gateway.js';

test('passwords: Argon2id with OWASP parameters, random salt, encoded; length capped before hashing', async () => {
  const a = await hashPassword('correct horse battery');
  const b = await hashPassword('correct horse battery');
  assert.match(a, /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  const [, m, t, p] = /m=(\d+),t=(\d+),p=(\d+)/.exec(a)!;
  assert.ok(Number(m) >= 19456 && Number(t) >= 2 && Number(p) >= 1, 'at least m=19456 KiB, t=2, p=1');
  assert.deepEqual([Number(m), Number(t), Number(p)], [ARGON2_PARAMS.memorySize, ARGON2_PARAMS.iterations, ARGON2_PARAMS.parallelism]);
  assert.notEqual(a, b, 'a fresh salt each time');
  assert.equal(await verifyPassword('correct horse battery', a), true);
  assert.equal(await verifyPassword('correct horse batterx', a), false);
  assert.equal(await verifyPassword('x'.repeat(2000), a), false, 'over-long passwords are refused without hashing');
  await assert.rejects(hashPassword('x'.repeat(2000)));
  assert.equal(await verifyPassword('anything', 'not a hash'), false);
  assert.equal(needsRehash('$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'), true);
  assert.equal(needsRehash(a), false);
});

test('TOTP: ±1 step accepted, further refused; the step is reported so it can be used once', () => {
  const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
  const now = 1_700_000_000_000;
  const step = Math.floor(now / 1000 / TOTP_PERIOD_S);
  assert.equal(totpStep(secret, totpCodeAt(secret, now), now), step);
  assert.equal(totpStep(secret, totpCodeAt(secret, now - 30_000), now), step - 1);
  assert.equal(totpStep(secret, totpCodeAt(secret, now + 30_000), now), step + 1);
  assert.equal(totpStep(secret, totpCodeAt(secret, now - 90_000), now), null);
  assert.equal(totpStep(secret, '12345', now), null);
  assert.equal(totpStep(secret, 'abcdef', now), null);
});

test('throttle: free attempts, then a doubling wait per account and per address; unknown names alike', () => {
  let now = 0;
  const t = new LoginThrottle({ now: () => now, accountFree: 3, accountAllFree: 3, addressFree: 10, baseMs: 1000 });
  const keys = (name: string) => [LoginThrottle.accountKey(name), LoginThrottle.addressKey('10.0.0.1')];
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(t.check(keys('alice')), { ok: true });
    t.fail(keys('alice'));
  }
  assert.deepEqual(t.check(keys('alice')), { ok: true }, 'the third failure was still free');
  t.fail(keys('alice'));
  assert.deepEqual(t.check(keys('alice')), { ok: false, retryAfterS: 1 });
  now += 1000;
  t.fail(keys('alice'));
  assert.deepEqual(t.check(keys('alice')), { ok: false, retryAfterS: 2 }, 'the wait doubles');
  now += 2000;
  t.fail(keys('alice'));
  assert.deepEqual(t.check(keys('alice')), { ok: false, retryAfterS: 4 });
  assert.deepEqual(t.check([LoginThrottle.accountKey('bob'), LoginThrottle.addressKey('10.0.0.2')]), { ok: true }, 'others are not affected');
  // The address also has a budget: guessing across many accounts from one address slows down too.
  now += 10_000;
  for (const n of ['u1', 'u2', 'u3', 'u4', 'u5']) t.fail(keys(n)); // the 11th failure from this address
  assert.equal(t.check([LoginThrottle.accountKey('fresh'), LoginThrottle.addressKey('10.0.0.1')]).ok, false);
  t.succeed(LoginThrottle.accountKey('alice'));
  assert.equal(t.check([LoginThrottle.accountKey('alice')]).ok, true, 'a success clears the account, not the address');
});

test('accounts: second factor is single-use per step, recovery codes once, atomically', async (t) => {
  const dir = tempDir();
  const store = LmdbStore.open(dir);
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let now = 1_700_000_000_000;
  const accounts = new AccountService({ store, box: SecretBox.fromDataDir(dir), log: silentLogger, now: () => now, throttle: new LoginThrottle({ now: () => now, accountFree: 50 }) });
  const by = { name: 'test', remote: null };
  const user = await accounts.createUser({ name: 'Alice', password: 'correct horse battery', role: 'operator' }, by);
  assert.equal(user.name, 'alice', 'names are lowercased');
  await assert.rejects(accounts.createUser({ name: 'alice', password: 'another password', role: 'viewer' }, by), /taken/);
  await assert.rejects(accounts.createUser({ name: 'bob', password: 'short', role: 'viewer' }, by), /at least 10/);
  await assert.rejects(accounts.createUser({ name: 'x y', password: 'long enough pw', role: 'viewer' }, by), /username/);
  // The names a run's timeline gives the runner's own doings are not anyone's (else "allowed by runner" could be either).
  for (const name of ['runner', 'Timeout', ' claude ']) await assert.rejects(accounts.createUser({ name, password: 'long enough pw', role: 'operator' }, by), /how a run's timeline names the runner's own doings/, name);

  const { secret } = await accounts.startTotp(accounts.mustGet(user.id));
  assert.ok(!JSON.stringify(store.getUser(user.id)).includes(secret), 'the secret is stored sealed, never in plain text');
  await assert.rejects(accounts.confirmTotp(accounts.mustGet(user.id), '000000', '1.2.3.4'), /does not match/);
  const codes = await accounts.confirmTotp(accounts.mustGet(user.id), totpCodeAt(secret, now), '1.2.3.4');
  assert.equal(codes.length, 10);
  assert.ok(!JSON.stringify(store.getUser(user.id)).includes(codes[0]!), 'recovery codes are stored hashed');

  // The enrolment code's step is used: the same code cannot sign in.
  await assert.rejects(accounts.checkSecondFactor(accounts.mustGet(user.id), totpCodeAt(secret, now), '1.2.3.4', 'login'), /already used/);
  now += 30_000;
  const code = totpCodeAt(secret, now);
  const both = await Promise.allSettled([0, 1].map(() => accounts.checkSecondFactor(accounts.mustGet(user.id), code, '1.2.3.4', 'login')));
  assert.deepEqual(both.map((r) => r.status).sort(), ['fulfilled', 'rejected'], 'two racing requests with one code: only one passes');
  // An older (still in-window) code after a newer one was used: refused.
  await assert.rejects(accounts.checkSecondFactor(accounts.mustGet(user.id), totpCodeAt(secret, now - 30_000), '1.2.3.4', 'login'), /already used/);

  const r = await accounts.checkSecondFactor(accounts.mustGet(user.id), codes[0]!.toUpperCase(), '1.2.3.4', 'login');
  assert.deepEqual(r, { via: 'recovery', remaining: 9 });
  await assert.rejects(accounts.checkSecondFactor(accounts.mustGet(user.id), codes[0]!, '1.2.3.4', 'login'), /already used/);

  // The last admin cannot be demoted, disabled or deleted.
  const admin = await accounts.createUser({ name: 'root', password: 'correct horse battery', role: 'admin' }, by);
  await assert.rejects(accounts.setRole(admin.id, 'viewer', by), /last admin/);
  await assert.rejects(accounts.setDisabled(admin.id, true, by), /last admin/);
  await assert.rejects(accounts.deleteUser(admin.id, by), /last admin/);
  const audit = store.listAudit({ limit: 50 }).map((e) => e.action);
  for (const a of ['user.create', 'totp.enable', 'login.code_failed', 'totp.recovery_used']) assert.ok(audit.includes(a), `audit has ${a}`);
});

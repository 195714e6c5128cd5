import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CcgError } from '../../protocol/errors.js';
import { argon2Limiter, hashPassword, verifyPassword, WorkLimiter } from '../../server/auth/passwords.js';
import { auditCount } from '../../server/auth/audit-aggregate.js';
import { LoginThrottle } from '../../server/auth/throttle.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { fetchJson } from '../helpers/page-client.js';

const PW = 'correct horse battery';
const by = { name: 'test', remote: null };

function tally(statuses: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}

test('20 concurrent wrong logins for one account: only the free attempts (and the one that starts the wait) are checked', async (t) => {
  // The gateway's clock stands still: the 1 s wait cannot run out however slowly a loaded machine
  // gets through 20 Argon2 checks, so "refused while the wait lasts" is what is tested.
  const clock = Date.now();
  const g = await startGateway({ now: () => clock });
  t.after(() => g.close());
  await g.gw.accounts.createUser({ name: 'alice', password: PW, role: 'operator' }, by);
  argon2Limiter.peak = 0;
  const login = (password: string) => fetchJson(g, '/api/v1/login', '', 'POST', { username: 'alice', password });
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => login(`wrong guess ${i}`)));
  // 4 failures are free and the 5th starts a 1 s wait: 5 guesses checked, however they arrive.
  // (Before the fix all 20 were checked: the throttle counted a failure only after Argon2.)
  assert.deepEqual(tally(results.map((r) => r.status)), { 401: 5, 429: 15 });
  for (const r of results) assert.equal(r.json.error?.code, r.status === 401 ? 'ERR_LOGIN_FAILED' : 'ERR_THROTTLED');
  assert.ok(argon2Limiter.peak <= argon2Limiter.maxActive, `at most ${argon2Limiter.maxActive} Argon2 computations at once (saw ${argon2Limiter.peak})`);
  // The right password is refused too while the wait lasts.
  const right = await login(PW);
  assert.equal(right.status, 429);
  // Every attempt is accounted for in the audit log, repeats from one address gathered into
  // one entry with their count (test/server/audit-budget.test.ts).
  await g.gw.accounts.flushAudit();
  const entries = g.gw.store.listAudit({ limit: 100 });
  const total = (action: string) => entries.filter((e) => e.action === action).reduce((n, e) => n + auditCount(e), 0);
  assert.equal(total('login.failed'), 5);
  assert.equal(total('login.throttled'), 16);
  assert.ok(entries.length <= 5, `few entries: ${entries.length}`);
});

test('concurrent logins for many made-up names from one address: at most the address allowance is checked, Argon2 stays bounded', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  argon2Limiter.peak = 0;
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => fetchJson(g, '/api/v1/login', '', 'POST', { username: `nobody${i}`, password: 'wrong password' })));
  const n = tally(results.map((r) => r.status));
  // An attempt the gateway was too busy to check (503, Retry-After) is neither a check nor counted.
  assert.equal((n[401] ?? 0) + (n[429] ?? 0) + (n[503] ?? 0), 40, JSON.stringify(n));
  assert.ok(argon2Limiter.peak <= argon2Limiter.maxActive, `peak ${argon2Limiter.peak}`);
  // 20 failures per address are free and the 21st starts the wait: counting on, one by one,
  // exactly 21 names get checked from this address in all, burst included.
  let checked = n[401] ?? 0;
  for (let i = 0; i < 30; i++) {
    const r = await fetchJson(g, '/api/v1/login', '', 'POST', { username: `later${i}`, password: 'wrong password' });
    if (r.status === 429) break;
    assert.equal(r.status, 401);
    checked++;
  }
  assert.equal(checked, 21, JSON.stringify(n));
  // Unknown names and a wrong password answer alike.
  assert.ok(results.filter((r) => r.status === 401).every((r) => r.json.error?.code === 'ERR_LOGIN_FAILED'));
});

test('the Argon2 limiter runs at most 2 at once, queues 16, refuses the rest with ERR_BUSY', async () => {
  const hash = await hashPassword(PW);
  argon2Limiter.peak = 0;
  const results = await Promise.allSettled(Array.from({ length: 30 }, () => verifyPassword('not it at all', hash)));
  const busy = results.filter((r) => r.status === 'rejected');
  assert.equal(busy.length, 30 - argon2Limiter.maxActive - argon2Limiter.maxQueued);
  for (const r of busy) assert.equal(((r as PromiseRejectedResult).reason as CcgError).code, 'ERR_BUSY');
  assert.ok(results.filter((r) => r.status === 'fulfilled').every((r) => (r as PromiseFulfilledResult<boolean>).value === false));
  assert.equal(argon2Limiter.peak, argon2Limiter.maxActive);
  // And the slots all come back.
  assert.equal(await verifyPassword(PW, hash), true);

  const l = new WorkLimiter(1, 1);
  let release!: () => void;
  const first = l.run(() => new Promise<void>((r) => (release = r)));
  const second = l.run(async () => 'second');
  await assert.rejects(l.run(async () => 'third'), /busy/);
  release();
  await first;
  assert.equal(await second, 'second');
});

test('throttle: begin counts before the slow check, undo takes a success back; locked entries survive eviction', () => {
  let now = 1_000_000;
  const t = new LoginThrottle({ now: () => now, accountFree: 2, accountAllFree: 2, addressFree: 100, maxKeys: 20 });
  const keys = [LoginThrottle.accountKey('alice'), LoginThrottle.addressKey('10.0.0.1')];
  const a = t.begin(keys);
  const b = t.begin(keys);
  const c = t.begin(keys); // the third: starts the wait
  assert.ok(a.ok && b.ok && c.ok);
  assert.equal(t.begin(keys).ok, false, 'a fourth concurrent attempt is refused before any check');
  // A success takes its own count back.
  if (c.ok) c.undo();
  if (c.ok) c.undo(); // twice is once
  assert.equal(t.check(keys).ok, true, 'back within the free failures');
  if (b.ok) b.undo();
  if (a.ok) a.undo();

  // Lock alice, then flood the map with fresh keys: alice stays locked.
  for (let i = 0; i < 6; i++) t.fail([LoginThrottle.accountKey('alice')]);
  assert.equal(t.check([LoginThrottle.accountKey('alice')]).ok, false);
  for (let i = 0; i < 500; i++) t.fail([LoginThrottle.accountKey(`made-up-${i}`)]);
  assert.equal(t.check([LoginThrottle.accountKey('alice')]).ok, false, 'eviction never frees a locked account');
  now += 16 * 60_000;
  assert.equal(t.check([LoginThrottle.accountKey('alice')]).ok, true, 'the wait ends as it should');
});

test('throttled per account and address: guesses from one address do not lock the right password out from another; Argon2 stays capped', async (t) => {
  const clock = Date.now();
  // Behind a local tunnel: the client address comes from CF-Connecting-IP.
  const g = await startGateway({ now: () => clock, trustProxy: true });
  t.after(() => g.close());
  await g.gw.accounts.createUser({ name: 'alice', password: PW, role: 'operator' }, by);
  argon2Limiter.peak = 0;
  const login = (password: string, ip: string) =>
    request(g, 'POST', '/api/v1/login', { body: JSON.stringify({ username: 'alice', password }), headers: { 'cf-connecting-ip': ip } });
  const guesses = await Promise.all(Array.from({ length: 12 }, (_, i) => login(`wrong guess ${i}`, '203.0.113.5')));
  assert.deepEqual(tally(guesses.map((r) => r.status)), { 401: 5, 429: 7 });
  assert.equal((await login(PW, '203.0.113.5')).status, 429, 'the guessing address waits, right password or not');
  const elsewhere = await login(PW, '198.51.100.7');
  assert.equal(elsewhere.status, 201, `the real user elsewhere gets in: ${elsewhere.text}`);
  assert.ok(argon2Limiter.peak <= argon2Limiter.maxActive, `the global Argon2 cap holds (peak ${argon2Limiter.peak})`);
  // Guessing from many addresses: each address gets its own few tries, never more.
  for (let i = 1; i <= 3; i++) {
    const statuses: number[] = [];
    for (let j = 0; j < 7; j++) statuses.push((await login(`spread ${i}.${j}`, `192.0.2.${i}`)).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
  }
});

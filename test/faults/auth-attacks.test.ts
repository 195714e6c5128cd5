import assert from 'node:assert/strict';
import { test } from 'node:test';
import { credGenOf } from '../../server/auth/accounts.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { DEVICE_COOKIE } from '../../server/auth/device-cookie.js';
import { needsRehash, verifyPassword } from '../../server/auth/passwords.js';
import { addressGroup } from '../../server/auth/throttle.js';
import { pushAudience } from '../../server/notify/push-audience.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { PageClient, fetchJson, setupAdmin } from '../helpers/page-client.js';
import { waitFor } from '../helpers/processes.js';

// Attacks on sign-in from outside and with a stolen credential: rotating addresses, a login
// racing a password change, a stolen token's push subscription.

const PW = 'correct horse battery';
const PW2 = 'a brand new passphrase';
const by = { name: 'test', remote: null };

function tally(statuses: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}

test('addresses are throttled by IPv6 /64, IPv4 and mapped IPv4 as themselves', () => {
  assert.equal(addressGroup('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressGroup('2001:DB8:0:0:ffff:1:2:3'), '2001:db8:0:0::/64');
  assert.equal(addressGroup('2001:db8:0:1::1'), '2001:db8:0:1::/64');
  assert.equal(addressGroup('[2001:db8::7]'), '2001:db8:0:0::/64');
  assert.equal(addressGroup('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressGroup('::1'), '0:0:0:0::/64');
  assert.equal(addressGroup('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(addressGroup('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  assert.equal(addressGroup('192.0.2.1'), '192.0.2.1');
});

test('rotating addresses: one /64 is one address, the account has a budget over all addresses, a known browser still gets in', async (t) => {
  // The clock stands still: no wait runs out during the test, however slow the machine.
  const clock = Date.now();
  const g = await startGateway({ now: () => clock, trustProxy: true });
  t.after(() => g.close());
  assert.equal((await setupAdmin(new PageClient(g.url, g.fingerprint), g.gw.setupCode!)).status, 303);
  await g.gw.accounts.createUser({ name: 'alice', password: PW, role: 'operator' }, by);
  await g.gw.accounts.createUser({ name: 'bob', password: PW, role: 'operator' }, by);
  const api = async (username: string, password: string, ip: string) =>
    (await request(g, 'POST', '/api/v1/login', { body: JSON.stringify({ username, password }), headers: { 'cf-connecting-ip': ip } })).status;
  const page = async (c: PageClient, username: string, password: string, ip: string) => {
    await c.get('/login', { 'cf-connecting-ip': ip });
    return (await c.post('/login', { username, password, next: '/runs' }, { headers: { 'cf-connecting-ip': ip } })).status;
  };

  // Bob's phone signed in before the attack: it holds his device cookie.
  const phone = new PageClient(g.url, g.fingerprint);
  assert.equal(await page(phone, 'bob', PW, '198.51.100.7'), 303);
  const device = phone.jar.get(DEVICE_COOKIE);
  assert.ok(device, 'a full login sets the device cookie');

  // 60 guesses for alice, 4 per address, from 15 addresses of one /64: that is one address.
  const v6: number[] = [];
  for (let i = 0; i < 60; i++) v6.push(await api('alice', `guess ${i}`, `2001:db8::${(i >> 2).toString(16)}`));
  assert.deepEqual(tally(v6), { 401: 5, 429: 55 }, 'the /64 gets the tries of one address (before: 60 times 401)');
  assert.equal(await api('alice', PW, '2001:db8::ffff'), 429, 'a fresh address of the same /64 waits too');

  // 30 guesses for bob, each from a different /64: the account-wide budget (20 free, the 21st
  // starts the wait) stops them.
  const spread: number[] = [];
  for (let i = 0; i < 30; i++) spread.push(await api('bob', `guess ${i}`, `2001:db8:${(i + 1).toString(16)}::1`));
  assert.deepEqual(tally(spread), { 401: 21, 429: 9 });
  assert.equal(await api('bob', PW, '203.0.113.9'), 429, 'a stranger with the right password waits too (the trade-off, docs/SECURITY.md)');
  const stranger = new PageClient(g.url, g.fingerprint);
  assert.equal(await page(stranger, 'bob', PW, '203.0.113.10'), 429);
  // Bob's known browser, from an address that is not throttled itself, gets in.
  const known = new PageClient(g.url, g.fingerprint);
  known.jar.set(DEVICE_COOKIE, device);
  assert.equal(await page(known, 'bob', PW, '203.0.113.11'), 303, 'the device cookie skips the account-wide wait');
  // But not from a throttled address, and a device cookie of bob's does nothing for alice.
  const known2 = new PageClient(g.url, g.fingerprint);
  known2.jar.set(DEVICE_COOKIE, device);
  const wrongs: number[] = [];
  for (let i = 0; i < 6; i++) wrongs.push(await page(known2, 'bob', `typo ${i}`, '203.0.113.50'));
  assert.deepEqual(wrongs, [401, 401, 401, 401, 401, 429], 'with a device cookie, the per-address tries are the same');
  assert.equal(await page(known2, 'bob', PW, '203.0.113.50'), 429, 'the per-address wait still holds');
  const forged = new PageClient(g.url, g.fingerprint);
  // The first character changed (the last one of base64url may carry only padding bits, which a
  // decoder ignores: changing it can leave the bytes, and the signature, as they were).
  forged.jar.set(DEVICE_COOKIE, device.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')));
  assert.equal(await page(forged, 'bob', PW, '203.0.113.12'), 429, 'an altered device cookie is no device cookie');
});

test('a login that checked the old password cannot make a token or session that outlives a reset; the rehash never writes the old password back', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const alice = await g.gw.accounts.createUser({ name: 'alice', password: PW, role: 'operator' }, by);

  // The slow part of a login (Argon2) done before the reset, the token and session made after it.
  const { user: checked } = await g.gw.accounts.checkPassword('alice', PW, '127.0.0.1');
  const reset = await g.gw.accounts.resetPassword(alice.id, PW2, by);
  assert.equal(credGenOf(reset.user), credGenOf(checked) + 1);
  const late = await createApiToken(g.gw.store, { name: 'late', role: 'admin', userId: alice.id, now: Date.now(), credGen: credGenOf(checked) });
  assert.equal((await fetchJson(g, '/api/v1/runs', late.token)).status, 401, 'a token of the old generation is refused');
  const sessions = g.gw.services.sessions;
  const s = await sessions.create(checked, { stage: 'full', via: 'password', remote: '127.0.0.1', userAgent: 'test' });
  assert.equal(sessions.resolve(`__Host-ccg=${/^__Host-ccg=([^;]+)/.exec(s.cookie)![1]}`), undefined, 'a session of the old generation is refused');

  // Over HTTP, logins racing the reset: whatever they got, nothing made with the old password works.
  const bob = await g.gw.accounts.createUser({ name: 'bob', password: PW, role: 'operator' }, by);
  const logins: Promise<{ status: number; json: Record<string, unknown> }>[] = [];
  let resetDone: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < 8; i++) {
    logins.push(fetchJson(g, '/api/v1/login', '', 'POST', { username: 'bob', password: PW, name: `attacker ${i}` }));
    await new Promise((r) => setTimeout(r, 15));
    if (i === 2) resetDone = g.gw.accounts.resetPassword(bob.id, PW2, by);
  }
  await resetDone;
  let alive = 0;
  for (const r of await Promise.all(logins)) if (r.status === 201 && (await fetchJson(g, '/api/v1/runs', r.json['token'] as string)).status === 200) alive++;
  assert.equal(alive, 0, 'tokens made with the old password after the reset');
  // The logins that lost the race failed with the old password, from this address: the throttle
  // may make the new password wait its turn (429 with a delay), never refuse it.
  const fresh = await waitFor(async () => {
    const r = await fetchJson(g, '/api/v1/login', '', 'POST', { username: 'bob', password: PW2 });
    return r.status === 429 ? undefined : r.status;
  }, 60_000, 'the new password to be accepted');
  assert.equal(fresh, 201);

  // A stored hash with older parameters is rehashed at login; a reset meanwhile wins.
  const carol = await g.gw.accounts.createUser({ name: 'carol', password: PW, role: 'operator' }, by);
  const { argon2id } = await import('hash-wasm');
  const realWeak = await argon2id({ password: PW, salt: Buffer.alloc(16, 7), memorySize: 19_456, iterations: 1, parallelism: 1, hashLength: 32, outputType: 'encoded' });
  assert.equal(needsRehash(realWeak), true);
  await g.gw.store.updateUser(carol.id, (u) => ({ ...u, passwordHash: realWeak }));
  const login = g.gw.accounts.checkPassword('carol', PW, '127.0.0.1');
  const changed = g.gw.accounts.resetPassword(carol.id, PW2, by);
  await Promise.all([login, changed]);
  const stored = g.gw.accounts.get(carol.id)!.passwordHash;
  assert.equal(await verifyPassword(PW2, stored), true, 'the new password stands');
  assert.equal(await verifyPassword(PW, stored), false, 'the old one was not written back');
});

test("a stolen token's push subscription ends with the token and with a password change, and is never sent to after", async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const alice = await g.gw.accounts.createUser({ name: 'alice', password: PW, role: 'operator' }, by);
  const p256dh = 'B' + 'A'.repeat(86);
  const auth = 'A'.repeat(22);
  const subscribe = async (token: string, device: string) => {
    const r = await fetchJson(g, '/api/v1/push/subscriptions', token, 'POST', { endpoint: `https://fcm.googleapis.com/fcm/send/${device}`, keys: { p256dh, auth } });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    return r.json['id'] as string;
  };
  const tokenOf = async (name: string) => (await fetchJson(g, '/api/v1/login', '', 'POST', { username: 'alice', password: PW, name })).json['token'] as string;
  const stored = () => g.gw.store.listPushSubscriptions().map((s) => s.id);
  const audience = pushAudience(g.gw.store);

  // The credential that made it ends (logout revokes the token): the subscription goes.
  const laptop = await tokenOf('laptop');
  const a = await subscribe(laptop, 'laptop');
  assert.equal((await fetchJson(g, '/api/v1/logout', laptop, 'POST', {})).status, 200);
  await waitFor(() => (stored().includes(a) ? undefined : true), 10_000, 'the subscription of the revoked token is dropped');

  // A thief's token subscribes; the owner resets the password: every subscription of alice goes.
  const stolen = await tokenOf('thief');
  const b = await subscribe(stolen, 'attacker-device');
  const rec = g.gw.store.listPushSubscriptions().find((s) => s.id === b)!;
  assert.equal(audience(rec), true);
  await g.gw.accounts.resetPassword(alice.id, PW2, by);
  await waitFor(() => (stored().includes(b) ? undefined : true), 10_000, 'the subscription is dropped after the reset');
  // Checked at send time too: one stored under the old generation (a race with the reset) is skipped.
  await g.gw.store.putPushSubscription({ ...rec, tokenId: null });
  assert.equal(audience({ ...rec, tokenId: null }), false, 'an older generation is never sent to (send() asks the same audience)');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { revokeUserTokens } from '../../server/auth/api-tokens.js';
import { totpCodeAt } from '../../server/auth/totp.js';
import { startGateway } from '../helpers/gateway.js';
import { fetchJson } from '../helpers/page-client.js';

const PW = 'correct horse battery';
const by = { name: 'test', remote: null };

test('POST /api/v1/login: same answers and throttling as the page; a token that follows its user', async (t) => {
  let clock = Date.now();
  const g = await startGateway({ now: () => clock });
  t.after(() => g.close());
  const alice = await g.gw.accounts.createUser({ name: 'alice', password: PW, role: 'operator' }, by);
  await g.gw.accounts.createUser({ name: 'root', password: PW, role: 'admin' }, by);
  const login = (body: unknown) => fetchJson(g, '/api/v1/login', '', 'POST', body);

  let r = await login({ username: 'alice', password: 'wrong password' });
  assert.equal(r.status, 401);
  const wrong = r.json.error;
  r = await login({ username: 'nobody', password: 'wrong password' });
  assert.deepEqual(r.json.error, wrong, 'unknown user: the same answer');
  assert.equal(wrong?.code, 'ERR_LOGIN_FAILED');
  assert.equal((await login({ username: 'alice' })).status, 400);
  assert.equal((await login({ username: 'alice', password: PW, extra: 1 })).status, 400, 'unknown fields refused');

  r = await login({ username: 'Alice', password: PW, name: 'laptop' });
  assert.equal(r.status, 201);
  const token = r.json['token'] as string;
  assert.match(token, /^ccgo_[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(r.json['user'], { name: 'alice', role: 'operator' });

  // The token acts as alice, with alice's role as it is now.
  r = await fetchJson(g, '/api/v1/runs', token, 'POST', { name: 'by alice' });
  assert.equal(r.status, 201);
  assert.equal((r.json['run'] as { createdBy: string }).createdBy, 'alice');
  await g.gw.accounts.setRole(alice.id, 'viewer', by);
  assert.equal((await fetchJson(g, '/api/v1/runs', token, 'POST', {})).status, 403, 'demoted: the token can no longer create runs');
  assert.equal((await fetchJson(g, '/api/v1/runs', token)).status, 200);
  await g.gw.accounts.setRole(alice.id, 'admin', by);
  assert.equal((await fetchJson(g, '/api/v1/audit', token)).status, 200, 'promoted: it can read the audit log');
  await g.gw.accounts.setDisabled(alice.id, true, by);
  assert.equal((await fetchJson(g, '/api/v1/runs', token)).status, 401, 'disabled: the token stops');
  await g.gw.accounts.setDisabled(alice.id, false, by);
  assert.equal((await fetchJson(g, '/api/v1/runs', token)).status, 200);

  // Two-factor accounts send the code in the same request.
  const { secret } = await g.gw.accounts.startTotp(g.gw.accounts.mustGet(alice.id));
  await g.gw.accounts.confirmTotp(g.gw.accounts.mustGet(alice.id), totpCodeAt(secret, clock), '127.0.0.1');
  r = await login({ username: 'alice', password: PW });
  assert.equal(r.json.error?.code, 'ERR_TOTP_REQUIRED');
  r = await login({ username: 'alice', password: PW, totp: '000000' });
  assert.equal(r.json.error?.code, 'ERR_TOTP_INVALID');
  clock += 30_000;
  const code = totpCodeAt(secret, clock);
  r = await login({ username: 'alice', password: PW, totp: code });
  assert.equal(r.status, 201);
  r = await login({ username: 'alice', password: PW, totp: code });
  assert.equal(r.json.error?.code, 'ERR_TOTP_INVALID', 'a code works once');

  // Logout revokes the token it is called with; the bootstrap token has no user to log out.
  const second = (await login({ username: 'root', password: PW })).json['token'] as string;
  assert.equal((await fetchJson(g, '/api/v1/logout', second, 'POST')).status, 200);
  assert.equal((await fetchJson(g, '/api/v1/runs', second)).status, 401);
  assert.equal((await fetchJson(g, '/api/v1/logout', second, 'POST')).status, 401);
  assert.equal((await fetchJson(g, '/api/v1/logout', g.operatorToken, 'POST')).status, 400);

  // Deleted users take their tokens with them, also against a new user of the same name.
  await g.gw.accounts.deleteUser(alice.id, by);
  await revokeUserTokens(g.gw.store, alice.id, clock);
  await g.gw.accounts.createUser({ name: 'alice', password: PW, role: 'admin' }, by);
  assert.equal((await fetchJson(g, '/api/v1/runs', token)).status, 401);

  // Throttled like the page: after the free failures, 429 whatever the password.
  for (let i = 0; i < 5; i++) await login({ username: 'root', password: 'nope nope nope' });
  r = await login({ username: 'root', password: PW });
  assert.equal(r.status, 429);
  assert.equal(r.json.error?.code, 'ERR_THROTTLED');
  const actions = g.gw.store.listAudit({ limit: 200 }).map((e) => e.action);
  for (const a of ['login', 'login.failed', 'login.throttled', 'token.create', 'logout', 'login.code_failed']) assert.ok(actions.includes(a), a);
});

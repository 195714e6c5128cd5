import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { PageClient, fetchJson } from '../helpers/page-client.js';

const TEAM = 'https://ccg-test.cloudflareaccess.com';
const AUD = '4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2';
const PW = 'correct horse battery';

test('Cloudflare Access: RS256 assertions from the team, for this app, in date, from a known key, for a known email', async (t) => {
  // The team's signing keys, served on loopback like <team>/cdn-cgi/access/certs.
  const good = await generateKeyPair('RS256');
  const stranger = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(good.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
  let fetches = 0;
  const jwks = createServer((req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  t.after(() => {
    jwks.closeAllConnections();
    jwks.close();
  });
  const certsUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/cdn-cgi/access/certs`;

  const g = await startGateway({ cfAccess: { teamDomain: 'ccg-test', aud: AUD, certsUrl } });
  t.after(() => g.close());

  const sign = (opts: { email?: string | null; aud?: string; iss?: string; exp?: number | string; nbf?: number; kid?: string; key?: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'] } = {}) => {
    const payload: Record<string, unknown> = { type: 'app', ...(opts.email === null ? {} : { email: opts.email ?? 'admin@example.com' }) };
    let jwt = new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'key-1' })
      .setIssuer(opts.iss ?? TEAM)
      .setAudience(opts.aud ?? AUD)
      .setSubject('7335d417-61da-459d-899c-0a01c76a2f94')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '10m');
    if (opts.nbf) jwt = jwt.setNotBefore(opts.nbf);
    return jwt.sign(opts.key ?? good.privateKey);
  };
  const as = (jwt: string) => ({ 'cf-access-jwt-assertion': jwt });

  const c = new PageClient(g.url, g.fingerprint);
  let r = await c.get('/setup');
  assert.equal(r.status, 403, 'no assertion: refused, even /setup');
  assert.match(r.body, /ERR_ACCESS_DENIED/);

  // First visit through Access: the admin's email is the one Access vouches for.
  const adminJwt = await sign();
  r = await c.get('/setup', as(adminJwt));
  assert.equal(r.status, 200);
  assert.match(r.body, /id="email" name="email" readonly value="admin@example.com"/);
  r = await c.post('/setup', { code: g.gw.setupCode!, username: 'admin', password: PW, password2: PW }, { headers: as(adminJwt) });
  assert.equal(r.status, 303);
  assert.equal(g.gw.accounts.list()[0]!.email, 'admin@example.com');
  assert.equal((await c.get('/runs', as(adminJwt))).status, 200);
  assert.equal(fetches, 1, 'keys fetched once and cached');

  const refused = async (label: string, jwt: string | undefined, why: RegExp) => {
    const res = await c.get('/runs', jwt === undefined ? {} : as(jwt));
    assert.equal(res.status, 403, label);
    assert.match(res.body, why, label);
  };
  await refused('missing', undefined, /no Cf-Access-Jwt-Assertion/i);
  await refused('garbage', 'not.a.jwt', /refused/);
  await refused('wrong audience', await sign({ aud: 'someone-elses-app' }), /claim aud/);
  await refused('wrong issuer', await sign({ iss: 'https://evil.cloudflareaccess.com' }), /claim iss/);
  await refused('expired', await sign({ exp: Math.floor(Date.now() / 1000) - 120 }), /expired/);
  await refused('not yet valid', await sign({ nbf: Math.floor(Date.now() / 1000) + 3600 }), /claim nbf/);
  await refused('no email (service token)', await sign({ email: null }), /no email/i);
  await refused('unknown email', await sign({ email: 'mallory@example.com' }), /mallory@example.com is not a user/);
  const hs256 = await new SignJWT({ email: 'admin@example.com' }).setProtectedHeader({ alg: 'HS256', kid: 'key-1' }).setIssuer(TEAM).setAudience(AUD).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode('guessable shared secret'));
  await refused('HS256 (algorithm confusion)', hs256, /algorithm not allowed/);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  await refused('alg none', `${b64({ alg: 'none', kid: 'key-1' })}.${b64({ email: 'admin@example.com', iss: TEAM, aud: AUD, exp: Math.floor(Date.now() / 1000) + 600 })}.`, /algorithm not allowed|refused/);
  await refused('forged signature', (await sign()).replace(/\.[^.]+$/, '.' + Buffer.alloc(256, 7).toString('base64url')), /bad signature/);

  // Unknown key ids trigger at most one refetch per cooldown, however many arrive.
  const before = fetches;
  for (let i = 0; i < 10; i++) await refused('unknown kid', await sign({ kid: `rotated-${i}`, key: stranger.privateKey }), /unknown key/);
  assert.ok(fetches - before <= 1, `refetches are rate-limited (${fetches - before} for 10 unknown kids)`);

  // A session belongs to the person Access vouches for: another user's assertion does not ride on it.
  r = await c.get('/settings/users', as(adminJwt));
  r = await c.post('/settings/users', { name: 'bob', role: 'viewer', email: 'bob@example.com', password: PW }, { headers: as(adminJwt) });
  assert.equal(r.status, 303);
  const bobJwt = await sign({ email: 'bob@example.com' });
  r = await c.get('/runs', as(bobJwt));
  assert.equal(r.status, 303, "admin's session cookie is not bob's session");

  // Bob signs in with one tap: Access already knows him.
  const bob = new PageClient(g.url, g.fingerprint);
  r = await bob.get('/login', as(bobJwt));
  assert.match(r.body, /Continue as bob@example.com/);
  r = await bob.post('/login/access', { next: '/runs' }, { headers: as(bobJwt) });
  assert.equal(r.status, 303);
  assert.equal((await bob.get('/runs', as(bobJwt))).status, 200);
  assert.equal((await bob.get('/runs')).status, 403, 'the cookie alone is not enough');

  // The API (bearer tokens, CLI, CI) and runners are not behind the browser check.
  assert.equal((await fetchJson(g, '/api/v1/runs', g.operatorToken)).status, 200);

  // But a login is: POST /api/v1/login issues a token only with an assertion for that same user.
  const apiLogin = (username: string, password: string, headers: Record<string, string> = {}) =>
    request(g, 'POST', '/api/v1/login', { body: JSON.stringify({ username, password }), headers });
  let l = await apiLogin('admin', PW);
  assert.equal(l.status, 403, 'the password alone issues no token');
  assert.equal(l.json?.error?.code, 'ERR_ACCESS_DENIED');
  for (const [label, jwt] of [['expired', await sign({ exp: Math.floor(Date.now() / 1000) - 120 })], ['wrong audience', await sign({ aud: 'someone-elses-app' })], ['unknown email', await sign({ email: 'mallory@example.com' })]] as const) {
    assert.equal((await apiLogin('admin', PW, as(jwt))).status, 403, label);
  }
  l = await apiLogin('admin', PW, as(bobJwt));
  assert.equal(l.status, 403, "bob's assertion does not sign in as admin");
  assert.match(l.json?.error?.message ?? '', /sign in as bob/);
  l = await apiLogin('admin', 'wrong password', as(adminJwt));
  assert.equal(l.status, 401, 'the password is still checked');
  l = await apiLogin('Admin', PW, as(adminJwt));
  assert.equal(l.status, 201, JSON.stringify(l.json));
  assert.equal((await fetchJson(g, '/api/v1/runs', l.json.token as string)).status, 200);

  // The login page checks the Access identity before the password too: bob, signed in to
  // Access, gets the same answer for the admin's right and wrong password (no password oracle).
  const pageLogin = async (username: string, password: string) => {
    const m = new PageClient(g.url, g.fingerprint);
    await m.get('/login', as(bobJwt));
    return m.post('/login', { username, password, next: '/runs' }, { headers: as(bobJwt) });
  };
  const right = await pageLogin('admin', PW);
  const wrong = await pageLogin('admin', 'not the password');
  assert.equal(right.status, 403, 'another account, right password: refused before the password is looked at');
  assert.equal(wrong.status, right.status, 'right and wrong password answer alike');
  assert.equal((await pageLogin('bob', 'not the password')).status, 401, "bob's own password is still checked");
  assert.equal((await pageLogin('bob', PW)).status, 303);
});

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashSessionId } from '../../server/auth/sessions.js';
import { totpCodeAt } from '../../server/auth/totp.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { PageClient, fetchJson, login, setupAdmin, type PageResponse } from '../helpers/page-client.js';

const PW = 'correct horse battery';

function errorText(r: PageResponse): string {
  // Its text, with inline markup (<code>) dropped.
  return (/<p class="error"[^>]*>(.*?)<\/p>/s.exec(r.body)?.[1] ?? '').replace(/<[^>]+>/g, '');
}

function sessionCookie(c: PageClient): string | undefined {
  return c.jar.get('__Host-ccg');
}

/** Every visible input, select and textarea has a <label for> (hidden ones excepted). */
function assertLabelled(html: string): void {
  const ids = [...html.matchAll(/<(input|select|textarea)\b([^>]*)>/g)]
    .map((m) => m[2]!)
    .filter((attrs) => !/type="hidden"/.test(attrs) && !/\bhidden\b/.test(attrs))
    .map((attrs) => /id="([^"]+)"/.exec(attrs)?.[1]);
  for (const id of ids) {
    assert.ok(id, 'every field has an id');
    assert.match(html, new RegExp(`<label for="${id}"`), `field #${id} has a visible label`);
  }
}

async function adminClient(g: TestGateway): Promise<PageClient> {
  const c = new PageClient(g.url, g.fingerprint);
  const r = await setupAdmin(c, g.gw.setupCode!, 'admin', PW);
  assert.equal(r.status, 303, errorText(r));
  return c;
}

test('first visit: /setup needs the setup code, creates the admin once, then is gone (404)', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = new PageClient(g.url, g.fingerprint);

  let r = await c.get('/');
  assert.equal(r.status, 303);
  assert.equal(r.headers['location'], '/setup');
  r = await c.get('/setup');
  assert.equal(r.status, 200);
  assertLabelled(r.body);
  assert.match(String(r.headers['content-security-policy']), /script-src 'self'/);
  assert.doesNotMatch(String(r.headers['content-security-policy']), /unsafe-inline|unsafe-eval/);
  assert.equal(r.headers['x-frame-options'], 'DENY');
  assert.equal(r.headers['referrer-policy'], 'no-referrer');
  assert.equal(r.headers['strict-transport-security'], undefined, 'no HSTS pinned on a bare address');
  assert.match(String((await c.get('/setup', { host: 'gw.example.com' })).headers['strict-transport-security']), /max-age=31536000/);
  assert.doesNotMatch(r.body, /<script>|style="|\son[a-z]+=/i, 'no inline script, style or handler');
  // Every page names its icon, so no browser asks for /favicon.ico and logs a 404.
  const icon = /<link rel="icon" href="(\/static\/icon\.svg\?v=[0-9a-f]{12})" type="image\/svg\+xml">/.exec(r.body);
  assert.ok(icon, 'the page links its icon');
  const svg = await c.get(icon[1]!);
  assert.equal(svg.status, 200);
  assert.equal(svg.headers['content-type'], 'image/svg+xml');
  assert.match(svg.body, /^<svg /);

  r = await c.post('/setup', { code: 'WRONG-CODE-0000', username: 'admin', password: PW, password2: PW });
  assert.equal(r.status, 403);
  assert.match(errorText(r), /setup code is not right/);
  assert.match(r.body, /printed by <code>ccg serve<\/code> and kept in <code>setup\.code<\/code>/, 'backticks render as code');
  r = await c.post('/setup', { code: g.gw.setupCode!, username: 'admin', password: PW, password2: PW }, { csrf: null });
  assert.equal(r.status, 403, 'no CSRF token, no admin');
  assert.match(r.body, /ERR_CSRF/);

  r = await setupAdmin(c, g.gw.setupCode!, 'admin', PW);
  assert.equal(r.status, 303);
  assert.equal(r.headers['location'], '/settings?notice=welcome');
  const set = r.cookies.find((x) => x.startsWith('__Host-ccg='))!;
  assert.match(set, /; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
  assert.doesNotMatch(set, /Domain=/i);
  assert.equal(existsSync(join(g.dataDir, 'setup.code')), false, 'the setup code is deleted');
  const id = sessionCookie(c)!;
  assert.equal(g.gw.store.getSession(id), undefined, 'the raw session id is not a key in the store');
  assert.ok(g.gw.store.getSession(hashSessionId(id)), 'the session is stored under its hash');

  r = await c.get('/settings?notice=welcome');
  assert.equal(r.status, 200);
  assert.match(r.body, /admin account is ready/);
  assertLabelled(r.body);

  const other = new PageClient(g.url, g.fingerprint);
  assert.equal((await other.get('/setup')).status, 404);
  r = await other.post('/setup', { code: g.gw.setupCode!, username: 'evil', password: PW, password2: PW }, { csrf: 'x'.repeat(43) });
  assert.notEqual(r.status, 303, 'no second admin');
  assert.equal(g.gw.accounts.list().length, 1);
  const actions = g.gw.store.listAudit({ limit: 20 }).map((e) => e.action);
  assert.ok(actions.includes('setup.code_failed') && actions.includes('setup.done') && actions.includes('login'));
});

test('login: one answer for unknown users and wrong passwords; growing delay per account; new id at login', async (t) => {
  let clock = Date.now();
  const g = await startGateway({ now: () => clock });
  t.after(() => g.close());
  const admin = await adminClient(g);
  const oldCookie = sessionCookie(admin)!;

  const c = new PageClient(g.url, g.fingerprint);
  const wrong = await login(c, 'admin', 'not the password');
  const unknown = await login(c, 'nobody', 'not the password');
  assert.equal(wrong.status, 401);
  assert.equal(unknown.status, wrong.status);
  assert.equal(errorText(unknown), errorText(wrong));
  assert.equal(errorText(wrong), 'Wrong username or password.');

  // Four free failures for the account (one so far); the fifth starts a wait of 1 s, then 2 s…
  // before another try is even looked at.
  let r;
  for (let i = 0; i < 4; i++) {
    r = await login(c, 'admin', 'nope nope nope');
    assert.equal(r.status, 401);
  }
  r = await login(c, 'admin', PW);
  assert.equal(r.status, 429, 'even the right password waits');
  assert.equal(r.headers['retry-after'], '1');
  clock += 1000;
  r = await login(c, 'admin', 'nope nope nope');
  assert.equal(r.status, 401);
  r = await login(c, 'admin', PW);
  assert.equal(r.status, 429);
  assert.equal(r.headers['retry-after'], '2', 'the delay grew');
  // An unknown name is throttled exactly like a real one.
  for (let i = 0; i < 5; i++) await login(c, 'ghost', 'nope nope nope');
  assert.equal((await login(c, 'ghost', 'nope nope nope')).status, 429);

  clock += 2000;
  const b = new PageClient(g.url, g.fingerprint);
  r = await login(b, 'admin', PW);
  assert.equal(r.status, 303);
  assert.equal(r.headers['location'], '/runs');
  assert.notEqual(sessionCookie(b), oldCookie, 'a new session id');
  assert.equal((await b.get('/runs')).status, 200);

  // Logging in from a browser that had a session replaces it: the old id stops working.
  const before = sessionCookie(admin)!;
  await admin.get('/runs');
  r = await admin.post('/login', { username: 'admin', password: PW, next: '/runs' });
  assert.equal(r.status, 303);
  assert.notEqual(sessionCookie(admin), before);
  const stale = new PageClient(g.url, g.fingerprint);
  stale.jar.set('__Host-ccg', before);
  assert.equal((await stale.get('/runs')).status, 303);
  assert.ok(g.gw.store.listAudit({ limit: 100 }).some((e) => e.action === 'login.throttled'));
});

test('CSRF token and same-origin check on every state change; GET changes nothing', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = await adminClient(g);
  await c.get('/runs/new');
  const runs = () => g.gw.runs.list({ limit: 100 }).length;

  const refused = async (label: string, opts: Parameters<PageClient['post']>[2]) => {
    const r = await c.post('/runs/new', { name: label }, opts);
    assert.equal(r.status, 403, label);
    assert.match(r.body, /ERR_CSRF/, label);
  };
  await refused('no token', { csrf: null });
  await refused('wrong token', { csrf: 'A'.repeat(43) });
  await refused('foreign origin', { origin: 'https://evil.example' });
  await refused('cross-site fetch', { site: 'cross-site' });
  await refused('same-site sibling', { site: 'same-site' });
  await refused('no origin at all', { origin: null });
  await refused('origin null', { origin: 'null' });
  assert.equal(runs(), 0, 'nothing was created');

  let r = await c.post('/runs/new', { name: 'ok' }, { site: 'same-origin' });
  assert.equal(r.status, 201);
  r = await c.post('/runs/new', { name: 'via header' }, { csrf: null, headers: { 'x-csrf-token': c.lastCsrf! } });
  assert.equal(r.status, 201, 'htmx sends the token as X-CSRF-Token');
  assert.equal(runs(), 2);

  // Another session's token is no good here.
  const other = new PageClient(g.url, g.fingerprint);
  await login(other, 'admin', PW);
  await other.get('/runs/new');
  await refused('token of another session', { csrf: other.lastCsrf });

  // GET /logout only asks; the session survives it.
  r = await c.get('/logout');
  assert.equal(r.status, 200);
  assert.match(r.body, /<button type="submit" class="primary">Sign out now<\/button>/);
  assert.equal((await c.get('/runs')).status, 200);
});

test('New run posted twice from one form (a double tap) makes one run and shows its token both times; another form makes another', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = await adminClient(g);
  const form = await c.get('/runs/new');
  const once = /name="_once" value="([^"]+)"/.exec(form.body)?.[1];
  assert.ok(once, 'the form carries a one-time value');
  const [a, b] = await Promise.all([c.post('/runs/new', { name: 'tapped twice', _once: once }), c.post('/runs/new', { name: 'tapped twice', _once: once })]);
  assert.equal(a.status, 201);
  assert.equal(b.status, 201);
  const tokenOf = (html: string) => /ccgr_[A-Za-z0-9_-]{43}/.exec(html)?.[0];
  assert.ok(tokenOf(a.body));
  assert.equal(tokenOf(b.body), tokenOf(a.body), 'the same run, its token shown on the page the phone ends on');
  assert.equal(g.gw.runs.list({ limit: 100 }).length, 1, 'one run');
  // The same form sent again with something else in it (Back, a new name): another run.
  const changed = await c.post('/runs/new', { name: 'tapped twice, then renamed', _once: once });
  assert.equal(changed.status, 201);
  assert.notEqual(tokenOf(changed.body), tokenOf(a.body));
  assert.equal(g.gw.runs.list({ limit: 100 }).length, 2);
  const again = /name="_once" value="([^"]+)"/.exec((await c.get('/runs/new')).body)?.[1];
  assert.notEqual(again, once, 'a new form, a new value');
  assert.equal((await c.post('/runs/new', { name: 'second', _once: again! })).status, 201);
  assert.equal(g.gw.runs.list({ limit: 100 }).length, 3);
  // Another session replaying the value gets nothing of the first's.
  const other = new PageClient(g.url, g.fingerprint);
  await login(other, 'admin', PW);
  await other.get('/runs/new');
  const replay = await other.post('/runs/new', { name: 'tapped twice', _once: once });
  assert.equal(replay.status, 201);
  assert.notEqual(tokenOf(replay.body), tokenOf(a.body));
  assert.equal(g.gw.runs.list({ limit: 100 }).length, 4);
});

test('sessions: dead after logout, after idling, past their absolute age, and for disabled users', async (t) => {
  let clock = Date.now();
  const g = await startGateway({ now: () => clock, sessionPolicy: { idleMs: 10 * 60_000, maxMs: 60 * 60_000 } });
  t.after(() => g.close());
  const c = await adminClient(g);
  const cookie = sessionCookie(c)!;
  await c.get('/runs');
  let r = await c.post('/logout', {});
  assert.equal(r.status, 303);
  assert.match(r.cookies.join(), /__Host-ccg=; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=0/);
  const replay = new PageClient(g.url, g.fingerprint);
  replay.jar.set('__Host-ccg', cookie);
  r = await replay.get('/runs');
  assert.equal(r.status, 303, 'the cookie after logout is refused');
  assert.match(String(r.headers['location']), /^\/login/);
  assert.equal((await replay.get('/runs/live', { accept: 'text/event-stream' })).status, 401, 'live streams too');
  assert.equal((await replay.get('/runs', { 'hx-request': 'true' })).status, 401);

  // Idle expiry.
  await login(c, 'admin', PW);
  clock += 11 * 60_000;
  assert.equal((await c.get('/runs')).status, 303, 'idle for longer than 10 min');

  // Absolute expiry, even when used all the time.
  await login(c, 'admin', PW);
  for (let i = 0; i < 6; i++) {
    clock += 9 * 60_000;
    assert.equal((await c.get('/runs')).status, 200, `still fine after ${(i + 1) * 9} min`);
  }
  clock += 9 * 60_000;
  assert.equal((await c.get('/runs')).status, 303, 'past the 60 min maximum');

  // A disabled user's session ends at once.
  await login(c, 'admin', PW);
  await c.submit('/settings/users', '/settings/users', { name: 'bob', role: 'operator', email: '', password: PW });
  const bob = new PageClient(g.url, g.fingerprint);
  assert.equal((await login(bob, 'bob', PW)).status, 303);
  assert.equal((await bob.get('/runs')).status, 200);
  const bobId = g.gw.accounts.list().find((u) => u.name === 'bob')!.id;
  r = await c.submit(`/settings/users/${bobId}`, `/settings/users/${bobId}/disable`, {});
  assert.equal(r.status, 303);
  assert.equal((await bob.get('/runs')).status, 303);
  assert.equal((await login(bob, 'bob', PW)).status, 401, 'a disabled account gets the same answer as a wrong password');
});

test('roles: a viewer sees runs but cannot change anything; an operator cannot manage users', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const admin = await adminClient(g);
  for (const [name, role] of [['vera', 'viewer'], ['otto', 'operator']]) {
    const r = await admin.submit('/settings/users', '/settings/users', { name: name!, role: role!, email: '', password: PW });
    assert.equal(r.status, 303);
  }
  await admin.get('/runs/new');
  const created = await admin.post('/runs/new', { name: 'watched' });
  const runId = /run-id ([a-z0-9]{12})/.exec(created.body)![1]!;

  const vera = new PageClient(g.url, g.fingerprint);
  await login(vera, 'vera', PW);
  let r = await vera.get('/runs');
  assert.equal(r.status, 200);
  assert.match(r.body, /watched/);
  assert.doesNotMatch(r.body, /href="\/runs\/new"/, 'no New run button for viewers');
  r = await vera.get(`/runs/${runId}`);
  assert.equal(r.status, 200);
  assert.doesNotMatch(r.body, /Cancel run/);
  assert.equal((await vera.get('/runs/new')).status, 403);
  assert.equal((await vera.post('/runs/new', { name: 'sneaky' })).status, 403);
  assert.equal((await vera.post(`/runs/${runId}/cancel`, {})).status, 403);
  assert.equal((await vera.get('/settings/users')).status, 403);
  assert.equal((await vera.post('/settings/users', { name: 'mallory', role: 'admin', email: '', password: PW })).status, 403);
  assert.equal((await vera.get('/audit')).status, 403);
  assert.equal(g.gw.runs.get(runId)!.status, 'created');
  assert.equal(g.gw.runs.list({ limit: 10 }).length, 1);

  const otto = new PageClient(g.url, g.fingerprint);
  await login(otto, 'otto', PW);
  assert.equal((await otto.get('/settings/users')).status, 403);
  const userId = g.gw.accounts.list().find((u) => u.name === 'vera')!.id;
  await otto.get('/settings');
  assert.equal((await otto.post(`/settings/users/${userId}/role`, { role: 'admin' })).status, 403);
  assert.equal(g.gw.accounts.mustGet(userId).role, 'viewer');
  r = await otto.post(`/runs/${runId}/cancel`, {});
  assert.equal(r.status, 303, 'operators may cancel');

  // Roles apply at once: promoting vera lets her create runs in the same session.
  await admin.submit(`/settings/users/${userId}`, `/settings/users/${userId}/role`, { role: 'operator' });
  await vera.get('/runs/new');
  assert.equal((await vera.post('/runs/new', { name: 'now allowed' })).status, 201);
});

test('two-factor login: enrol with a code, login needs it, a used code is refused, recovery codes work once', async (t) => {
  let clock = Date.now();
  const g = await startGateway({ now: () => clock });
  t.after(() => g.close());
  const c = await adminClient(g);

  await c.get('/settings');
  let r = await c.post('/settings/totp/start', {});
  assert.equal(r.status, 303);
  r = await c.get('/settings');
  const key = /id="totp-key"[^>]*>([A-Z2-7 ]+)</.exec(r.body)![1]!.replace(/ /g, '');
  assert.match(r.body, /<img src="data:image\/svg\+xml;base64,[^"]+" width="240" height="240" alt="QR code/);
  assertLabelled(r.body);
  r = await c.post('/settings/totp/confirm', { code: '123456' === totpCodeAt(key, clock) ? '654321' : '123456' });
  assert.equal(r.status, 401);
  const enrolCode = totpCodeAt(key, clock);
  r = await c.post('/settings/totp/confirm', { code: enrolCode });
  assert.equal(r.status, 200);
  const codes = /<textarea id="codes"[^>]*>([^<]+)<\/textarea>/.exec(r.body)![1]!.split('\n');
  assert.equal(codes.length, 10);
  await c.post('/logout', {});

  // Password right: a pending session that opens nothing but the code step.
  r = await login(c, 'admin', PW);
  assert.equal(r.status, 303);
  assert.match(String(r.headers['location']), /^\/login\/totp/);
  const pending = sessionCookie(c)!;
  assert.equal((await c.get('/runs')).status, 303, 'not signed in yet');
  await c.get('/login/totp');
  r = await c.post('/login/totp', { code: enrolCode, next: '/runs' });
  assert.equal(r.status, 401, 'the code used for enrolment cannot sign in');
  assert.match(errorText(r), /already used/);

  clock += 30_000;
  const code = totpCodeAt(key, clock);
  r = await c.post('/login/totp', { code, next: '/runs' });
  assert.equal(r.status, 303);
  assert.equal(r.headers['location'], '/runs');
  assert.notEqual(sessionCookie(c), pending, 'a new id once the second factor is in');
  const stale = new PageClient(g.url, g.fingerprint);
  stale.jar.set('__Host-ccg', pending);
  assert.equal((await stale.get('/login/totp')).status, 303, 'the pending id is gone');
  await c.get('/runs');
  await c.post('/logout', {});

  // Replay: the same code, same 30 s window, new login.
  await login(c, 'admin', PW);
  await c.get('/login/totp');
  r = await c.post('/login/totp', { code, next: '/runs' });
  assert.equal(r.status, 401, 'a used code is never accepted again');
  r = await c.post('/login/totp', { code: codes[3]!, next: '/runs' });
  assert.equal(r.status, 303, 'a recovery code works');
  await c.get('/runs');
  await c.post('/logout', {});
  await login(c, 'admin', PW);
  await c.get('/login/totp');
  assert.equal((await c.post('/login/totp', { code: codes[3]!, next: '/runs' })).status, 401, 'but only once');

  // Turning it off needs a fresh code.
  clock += 30_000;
  await c.post('/login/totp', { code: totpCodeAt(key, clock), next: '/runs' });
  await c.get('/settings');
  r = await c.post('/settings/totp/disable', { code: '000000' });
  assert.equal(r.status, 401);
  clock += 30_000;
  r = await c.post('/settings/totp/disable', { code: totpCodeAt(key, clock) });
  assert.equal(r.status, 303);
  assert.equal(g.gw.accounts.list()[0]!.totp, null);
  const actions = g.gw.store.listAudit({ limit: 200 }).map((e) => e.action);
  for (const a of ['totp.enable', 'login.code_failed', 'totp.recovery_used', 'totp.disable', 'logout']) assert.ok(actions.includes(a), a);
});

test('settings: password change signs out other sessions; API tokens shown once, then revocable', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = await adminClient(g);
  const other = new PageClient(g.url, g.fingerprint);
  await login(other, 'admin', PW);

  await c.get('/settings');
  let r = await c.post('/settings/password', { current: 'wrong wrong wrong', new: 'a new long password', new2: 'a new long password' });
  assert.equal(r.status, 401);
  assert.match(r.body, /current password is wrong/);
  r = await c.post('/settings/password', { current: PW, new: 'a new long password', new2: 'a new long password' });
  assert.equal(r.status, 303);
  assert.equal((await c.get('/runs')).status, 200, 'this session stays');
  assert.equal((await other.get('/runs')).status, 303, 'the other one is out');
  assert.equal((await login(other, 'admin', PW)).status, 401);
  assert.equal((await login(other, 'admin', 'a new long password')).status, 303);

  await c.get('/settings');
  r = await c.post('/settings/tokens', { name: 'ci <b>bot</b>', cap: 'viewer' });
  assert.equal(r.status, 201);
  const token = /id="new-token" readonly value="(ccgo_[A-Za-z0-9_-]{43})"/.exec(r.body)![1]!;
  assert.match(r.body, /ci &lt;b&gt;bot&lt;\/b&gt;/);
  r = await c.get('/settings');
  assert.doesNotMatch(r.body, new RegExp(token), 'never shown again');
  const tokenId = /action="\/settings\/tokens\/([0-9a-f]+)\/revoke"/.exec(r.body)![1]!;
  const api = async () => (await fetchJson(g, '/api/v1/runs', token)).status;
  assert.equal(await api(), 200);
  r = await c.post(`/settings/tokens/${tokenId}/revoke`, {});
  assert.equal(r.status, 303);
  assert.equal(await api(), 401);
  const actions = g.gw.store.listAudit({ limit: 50 }).map((e) => e.action);
  for (const a of ['password.change_failed', 'password.change', 'token.create', 'token.revoke']) assert.ok(actions.includes(a), a);
});

test('a password change or an admin reset revokes the user\'s API tokens (the page says so); others\' tokens stay', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = await adminClient(g);
  await g.gw.accounts.createUser({ name: 'bob', password: PW, role: 'operator' }, { name: 'test', remote: null });
  const apiLogin = async (username: string, password: string) => {
    const r = await fetchJson(g, '/api/v1/login', '', 'POST', { username, password });
    assert.equal(r.status, 201);
    return r.json['token'] as string;
  };
  const adminToken = await apiLogin('admin', PW);
  const bobTokens = [await apiLogin('bob', PW), await apiLogin('bob', PW)];
  for (const tok of [adminToken, ...bobTokens]) assert.equal((await fetchJson(g, '/api/v1/runs', tok)).status, 200);

  // An admin resets bob's password: bob's tokens stop, the admin's does not.
  const bob = g.gw.accounts.list().find((u) => u.name === 'bob')!;
  await c.get(`/settings/users/${bob.id}`);
  let r = await c.post(`/settings/users/${bob.id}/password`, { password: 'another long password' });
  assert.equal(r.status, 303);
  const shown = await c.get(String(r.headers['location']));
  assert.match(shown.body, /Their sessions were signed out and their API tokens were revoked/);
  for (const tok of bobTokens) assert.equal((await fetchJson(g, '/api/v1/runs', tok)).status, 401, 'bob\'s token is revoked');
  assert.equal((await fetchJson(g, '/api/v1/runs', adminToken)).status, 200, 'the admin\'s own token stays');

  // The admin changes their own password: their tokens stop, this browser session stays.
  await c.get('/settings');
  assert.match((await c.get('/settings')).body, /your API tokens revoked/);
  r = await c.post('/settings/password', { current: PW, new: 'a new long password', new2: 'a new long password' });
  assert.equal(r.status, 303);
  assert.match((await c.get(String(r.headers['location']))).body, /your API tokens \(from ccg login or made below\) were revoked/);
  assert.equal((await fetchJson(g, '/api/v1/runs', adminToken)).status, 401);
  assert.equal((await c.get('/runs')).status, 200, 'this session stays');
  const audit = g.gw.store.listAudit({ limit: 20 });
  assert.equal(audit.find((e) => e.action === 'password.change')?.detail?.['tokensRevoked'], 1);
  assert.equal(audit.find((e) => e.action === 'user.password_reset')?.detail?.['tokensRevoked'], 2);
});

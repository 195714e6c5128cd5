import assert from 'node:assert/strict';
import https from 'node:https';
import { test } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { isPublicAddress, parsePushHosts, publicOnlyAgent, PushHosts } from '../../server/notify/push-hosts.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { startPushService } from '../helpers/push-service.js';

const keys = { p256dh: 'B'.repeat(87), auth: 'A'.repeat(22) };

test('push endpoints: only the browsers\' push services (and hosts an admin adds), checked by name, for any signed-in user', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const viewer = (await createApiToken(g.gw.store, { name: 'v', role: 'viewer', userId: null, now: Date.now() })).token;
  const sub = (endpoint: string) => apiRequest(g, 'POST', '/api/v1/push/subscriptions', { endpoint, keys }, viewer);
  // Names that once passed a string check and resolve (or can be made to resolve) to the gateway's own network.
  for (const endpoint of [
    'https://localhost./x',
    'https://127.0.0.1.nip.io/x',
    'https://evil.example/x',
    'https://fcm.googleapis.com./x',
    'https://fcm.googleapis.com:8443/x',
    'https://fcm.googleapis.com.evil.example/x',
    'https://notify.windows.com/x',
    'https://100.64.0.1/x',
    'https://[fd00::1]/x',
    'http://fcm.googleapis.com/x',
  ]) {
    const r = await sub(endpoint);
    assert.equal(r.status, 400, endpoint);
    assert.match(r.json.error.message, /push endpoint/, endpoint);
  }
  for (const endpoint of [
    'https://fcm.googleapis.com/fcm/send/abc:def',
    'https://updates.push.services.mozilla.com/wpush/v2/gAAAA',
    'https://wns2-par02p.notify.windows.com/w/?token=BQYAAA',
    'https://web.push.apple.com/QGl0ZXN0',
  ]) assert.equal((await sub(endpoint)).status, 201, endpoint);

  // Configured hosts: by name, with or without a port, wildcards.
  const hosts = new PushHosts(parsePushHosts('push.internal:8443, *.corp.example 10.0.0.5'));
  assert.equal(hosts.match(new URL('https://push.internal:8443/x')), 'configured');
  assert.equal(hosts.match(new URL('https://push.internal/x')), null, 'the port is part of the rule');
  assert.equal(hosts.match(new URL('https://a.b.corp.example/x')), 'configured');
  assert.equal(hosts.match(new URL('https://corp.example/x')), null);
  assert.equal(hosts.match(new URL('https://10.0.0.5:9999/x')), 'configured');
  assert.equal(hosts.match(new URL('https://fcm.googleapis.com/x')), 'builtin');
  assert.throws(() => parsePushHosts('https://x.example/'), /not a host name/);
  assert.throws(() => parsePushHosts('a b;c'), /not a host name/);
});

test('push: at most 10 subscriptions per user; the test button is rate-limited', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const sub = (i: number) => apiRequest(g, 'POST', '/api/v1/push/subscriptions', { endpoint: `https://fcm.googleapis.com/fcm/send/phone${i}`, keys });
  for (let i = 0; i < 10; i++) assert.equal((await sub(i)).status, 201);
  const over = await sub(10);
  assert.equal(over.status, 400);
  assert.match(over.json.error.message, /remove one first/);
  assert.equal((await sub(3)).status, 201, 'the same endpoint again replaces itself');
  const list = await apiRequest(g, 'GET', '/api/v1/push/subscriptions');
  assert.equal(list.json.subscriptions.length, 10);
  assert.equal((await apiRequest(g, 'DELETE', `/api/v1/push/subscriptions/${list.json.subscriptions[0].id}`)).status, 200);
  assert.equal((await sub(10)).status, 201);
  // Another user has their own ten.
  const other = (await createApiToken(g.gw.store, { name: 'o', role: 'operator', userId: null, now: Date.now() })).token;
  assert.equal((await apiRequest(g, 'POST', '/api/v1/push/subscriptions', { endpoint: 'https://fcm.googleapis.com/fcm/send/other', keys }, other)).status, 201);

  // Nothing is delivered here (offline; the gateway's own subscriptions are for the test's user only).
  const tests: number[] = [];
  for (let i = 0; i < 4; i++) tests.push((await apiRequest(g, 'POST', '/api/v1/push/test', undefined, other)).status);
  assert.deepEqual(tests, [200, 200, 200, 429]);
});

test('push: built-in services are reached only at public addresses; a subscription no longer allowed is skipped at send time', async (t) => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '100.64.1.1', '169.254.169.254', '198.18.0.1', '224.0.0.1', '0.0.0.0', '255.255.255.255', '::1', '::', 'fd00::1', 'fe80::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '64:ff9b::a00:1']) {
    assert.equal(isPublicAddress(a), false, a);
  }
  for (const a of ['8.8.8.8', '142.250.74.10', '2606:4700:4700::1111', '2a00:1450:4001::200e']) assert.equal(isPublicAddress(a), true, a);

  // The agent for built-in services refuses a name that resolves to loopback, at connect time.
  const push = await startPushService();
  t.after(() => push.close());
  const port = new URL(push.url).port;
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
    const req = https.request({ host: 'localhost', port, path: '/push/x', method: 'POST', agent: publicOnlyAgent, rejectUnauthorized: false }, () => resolve(new Error('connected') as NodeJS.ErrnoException));
    req.on('error', (e) => resolve(e as NodeJS.ErrnoException));
    req.end();
  });
  assert.equal(err.code, 'ECCG_PRIVATE_ADDRESS', String(err));

  // A subscription stored while its host was allowed is not used once the admin removes it.
  const dataDir = tempDir();
  const host = new URL(push.url).host;
  let g = await startGateway({ dataDir, pushAgent: new PinnedAgent(push.fingerprint), pushHosts: [host] });
  assert.equal((await apiRequest(g, 'POST', '/api/v1/push/subscriptions', push.subscription('phone'))).status, 201);
  assert.deepEqual((await apiRequest(g, 'POST', '/api/v1/push/test')).json, { delivered: 1 }, 'positive control: allowed, delivered');
  await g.close();
  g = await startGateway({ dataDir, pushAgent: new PinnedAgent(push.fingerprint) });
  t.after(() => g.close());
  assert.deepEqual((await apiRequest(g, 'POST', '/api/v1/push/test')).json, { delivered: 0 });
  assert.equal(push.received.length, 1, 'nothing more reached the host');
});

import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { ApprovalInfo } from '../../protocol/claude-events.js';
import { silentLogger } from '../../server/log.js';
import { WebPush, ensureVapidKeys } from '../../server/notify/web-push.js';
import { LmdbStore } from '../../server/store/lmdb-store.js';
import { runCli } from '../helpers/cli.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { startPushService } from '../helpers/push-service.js';

interface Hook {
  url: string;
  got: { headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

/** A webhook / ntfy stand-in on loopback that records what it is sent. */
async function startHook(): Promise<Hook> {
  const got: Hook['got'] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(parts).toString('utf8') });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/topic`,
    got,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const approval = (id: string): ApprovalInfo => ({
  approvalId: id,
  toolName: 'Bash',
  displayName: 'Bash',
  toolUseId: 'toolu_9',
  input: { command: 'rm -rf build <b>', description: 'Clean' },
  inputTruncated: false,
  description: 'Clean',
  blockedPath: null,
  rule: null,
  expiresAt: Date.now() + 600_000,
});

const api = (g: TestGateway, method: string, path: string, body?: unknown) => apiRequest(g, method, path, body);

test('the webhook says what Claude waits for: its questions and its plan read as such', async (t) => {
  const hook = await startHook();
  t.after(() => hook.close());
  const g = await startGateway({ notifyUrl: hook.url, publicUrl: 'https://ccg.example.test' });
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'asks', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());
  const questions = [{ question: 'Which port?', header: 'Port', multiSelect: false, options: [{ label: '80', description: '' }, { label: '8080', description: '' }] }];
  await runner.events({ type: 'approval_requested', ...approval('appr_notify_ask_00001'), toolName: 'AskUserQuestion', displayName: null, input: { questions }, description: null, questions });
  await runner.events({ type: 'approval_requested', ...approval('appr_notify_plan_0001'), toolName: 'ExitPlanMode', displayName: null, input: {}, description: null, plan: '# Plan' });
  await waitFor(() => hook.got[1], 5000, 'two webhooks');
  assert.deepEqual(hook.got.map((h) => [JSON.parse(h.body).title, JSON.parse(h.body).message]), [
    ['Claude asks you (asks)', 'Which port?'],
    ['Plan to approve (asks)', '# Plan'],
  ]);
});

test('the webhook hears: approval needed, Claude waiting for a follow-up, run finished (JSON)', async (t) => {
  const hook = await startHook();
  t.after(() => hook.close());
  const g = await startGateway({ notifyUrl: hook.url, publicUrl: 'https://ccg.example.test' });
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'nightly fix', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());

  await runner.events({ type: 'approval_requested', ...approval('appr_notify_000000001') });
  const first = await waitFor(() => hook.got[0], 5000, 'approval webhook');
  assert.equal(first.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(first.body), {
    event: 'approval',
    runId: run.id,
    runName: 'nightly fix',
    title: 'Approval needed: Bash (nightly fix)',
    message: 'rm -rf build <b> — Clean',
    url: `https://ccg.example.test/runs/${run.id}`,
  });

  await runner.events(
    { type: 'claude_result', subtype: 'success', isError: false, result: 'All tests pass.', costUsd: 0.01, usage: { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheCreationTokens: 0 }, numTurns: 1, durationMs: 5, durationApiMs: 4, denials: [], stopReason: 'end_turn', terminalReason: 'completed', errors: [], apiErrorStatus: null },
    { type: 'awaiting_input', until: Date.UTC(2030, 0, 1, 12, 34) },
  );
  const second = await waitFor(() => hook.got[1], 5000, 'input webhook');
  assert.equal(JSON.parse(second.body).event, 'input');
  assert.equal(JSON.parse(second.body).message, 'All tests pass. — send a follow-up before 12:34 UTC');

  await runner.exit(0);
  const third = await waitFor(() => hook.got[2], 5000, 'finished webhook');
  assert.equal(JSON.parse(third.body).event, 'finished');
  assert.equal(JSON.parse(third.body).title, 'Run nightly fix exited with code 0');
  // Once each. The runner goes away too (more run updates that must not notify again); then a
  // second run's end is the sentinel: anything more for this run would have been sent before it.
  await runner.close();
  const other = JSON.parse((await runCli(['runs', 'create', '--name', 'sentinel', '--json'], g.env)).stdout) as CreateRunResponse;
  const otherRunner = await fakeRunner(g, other.id, other.token);
  t.after(() => otherRunner.close());
  await otherRunner.exit(0);
  await waitFor(() => hook.got.find((h) => JSON.parse(h.body).runId === other.id), 5000, 'the sentinel webhook');
  assert.deepEqual(hook.got.map((h) => [JSON.parse(h.body).runId, JSON.parse(h.body).event]), [[run.id, 'approval'], [run.id, 'input'], [run.id, 'finished'], [other.id, 'finished']], 'once each');
});

test('notification text carries no terminal escapes and shows bidi controls: a runner cannot dress up a push', async (t) => {
  const hook = await startHook();
  t.after(() => hook.close());
  const g = await startGateway({ notifyUrl: hook.url });
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'escapes', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());
  // Claude's last result is quoted in "waiting for you": the one text that reaches a notification as it came.
  await runner.events(
    { type: 'claude_result', subtype: 'success', isError: false, result: 'Done \u001b[31mred\u001b[0m \u009b2J\u001b]0;title\u0007ok\u202e', costUsd: 0.01, usage: { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheCreationTokens: 0 }, numTurns: 1, durationMs: 5, durationApiMs: 4, denials: [], stopReason: 'end_turn', terminalReason: 'completed', errors: [], apiErrorStatus: null },
    { type: 'awaiting_input', until: Date.UTC(2030, 0, 1, 12, 34) },
  );
  const got = JSON.parse((await waitFor(() => hook.got[0], 5000, 'input webhook')).body) as { title: string; message: string };
  assert.equal(got.message, 'Done red ok\ufffd — send a follow-up before 12:34 UTC');
  assert.doesNotMatch(got.title + got.message, /[\u001b\u009b\u200e\u202e]/);
});

test('ntfy format: the message as text, title/tags/priority/click headers', async (t) => {
  const hook = await startHook();
  t.after(() => hook.close());
  const g = await startGateway({ notifyUrl: hook.url, notifyFormat: 'ntfy' });
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());
  await runner.events({ type: 'approval_requested', ...approval('appr_notify_000000002') });
  const got = await waitFor(() => hook.got[0], 5000, 'ntfy post');
  assert.equal(got.body, 'rm -rf build <b> — Clean');
  assert.match(String(got.headers['title']), /^Approval needed: Bash \(run /);
  assert.equal(got.headers['priority'], 'high');
  assert.equal(got.headers['tags'], 'warning');
  assert.match(String(got.headers['click']), new RegExp(`/runs/${run.id}$`));
});

test('Web Push: VAPID keys made into the data dir, a subscription stored, an encrypted signed push delivered and decrypted; gone subscriptions dropped', async (t) => {
  const push = await startPushService();
  t.after(() => push.close());
  // The stand-in is on loopback: allowed explicitly, as an admin would add a self-hosted push service.
  const g = await startGateway({ pushAgent: new PinnedAgent(push.fingerprint), pushHosts: [new URL(push.url).host], vapidSubject: 'mailto:ops@example.test' });
  t.after(() => g.close());

  const vapidFile = join(g.dataDir, 'vapid.json');
  assert.equal(statSync(vapidFile).mode & 0o777, 0o600);
  const key = await api(g, 'GET', '/api/v1/push/key');
  assert.equal(key.json.publicKey, JSON.parse(readFileSync(vapidFile, 'utf8')).publicKey);

  const phone = push.subscription('phone1');
  const sub = await api(g, 'POST', '/api/v1/push/subscriptions', phone);
  assert.equal(sub.status, 201, JSON.stringify(sub.json));
  const listed = await api(g, 'GET', '/api/v1/push/subscriptions');
  assert.deepEqual(listed.json.subscriptions.map((s: { id: string }) => s.id), [sub.json.id]);

  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'phone run', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());
  await runner.events({ type: 'approval_requested', ...approval('appr_notify_000000003') });
  const got = await waitFor(() => push.received[0], 10_000, `a push; errors: ${push.errors.join('; ')}`);
  assert.deepEqual(push.errors, []);
  const payload = JSON.parse(got.payload);
  assert.equal(payload.kind, 'approval');
  assert.equal(payload.runId, run.id);
  assert.equal(payload.title, 'Approval needed: Bash (phone run)');
  assert.equal(got.vapid.sub, 'mailto:ops@example.test');
  assert.equal(got.vapid.publicKey, key.json.publicKey, 'signed with the key the page subscribes with');
  assert.equal(got.headers['urgency'], 'high');

  // The push service says the phone unsubscribed: the gateway forgets it.
  push.setStatus('phone1', 410);
  await runner.exit(0);
  await waitFor(() => (push.received.length === 2 ? true : undefined), 10_000, 'the finish push');
  await waitFor(async () => ((await api(g, 'GET', '/api/v1/push/subscriptions')).json.subscriptions.length === 0 ? true : undefined), 5000, 'subscription dropped');

  const test = await api(g, 'POST', '/api/v1/push/test');
  assert.deepEqual(test.json, { delivered: 0 });
});

test('push subscriptions are validated: https only, no private hosts, well-formed keys, only your own can be removed', async (t) => {
  const store = LmdbStore.open(tempDir());
  t.after(() => store.close());
  const wp = new WebPush({ store, keys: ensureVapidKeys(tempDir()), subject: 'mailto:a@b.c', log: silentLogger, now: Date.now });
  const keys = { p256dh: 'B'.repeat(87), auth: 'A'.repeat(22) };
  for (const endpoint of ['http://push.example.com/x', 'https://127.0.0.1/x', 'https://localhost/x', 'https://10.1.2.3/x', 'https://[::1]/x', 'https://user:pw@push.example.com/x', 'https://192.168.0.9/x']) {
    await assert.rejects(wp.subscribe({ endpoint, keys }, 'alice'), /push endpoint/, endpoint);
  }
  const ok = await wp.subscribe({ endpoint: 'https://fcm.googleapis.com/fcm/send/abc', keys }, 'alice');
  await assert.rejects(wp.unsubscribe(ok.id, 'bob', false), /not yours/);
  assert.equal(await wp.unsubscribe(ok.id, 'alice', false), true);

  const g = await startGateway();
  t.after(() => g.close());
  for (const body of [{ endpoint: 'https://push.example.com/x', keys: { p256dh: 'short', auth: 'A'.repeat(22) } }, { endpoint: 'https://push.example.com/x', keys, extra: 1 }, { endpoint: 'not a url', keys }]) {
    const r = await api(g, 'POST', '/api/v1/push/subscriptions', body);
    assert.equal(r.status, 400, JSON.stringify(body));
  }
  assert.equal((await api(g, 'POST', '/api/v1/push/subscriptions', { endpoint: 'https://127.0.0.1:9/x', keys })).status, 400, 'the gateway never POSTs into its own network');
});

test('Web Push: a deleted or disabled user gets nothing more; their subscriptions go, and the owner is checked again at send time', async (t) => {
  const push = await startPushService();
  t.after(() => push.close());
  const g = await startGateway({ pushAgent: new PinnedAgent(push.fingerprint), pushHosts: [new URL(push.url).host] });
  t.after(() => g.close());
  const by = { name: 'test', remote: null };
  const PW = 'correct horse battery';
  const tokens: Record<string, string> = {};
  for (const [name, role] of [['alice', 'operator'], ['bob', 'viewer'], ['carol', 'operator'], ['root', 'admin']] as const) {
    await g.gw.accounts.createUser({ name, password: PW, role }, by);
    const r = await apiRequest(g, 'POST', '/api/v1/login', { username: name, password: PW }, '');
    assert.equal(r.status, 201);
    tokens[name] = r.json.token as string;
    assert.equal((await apiRequest(g, 'POST', '/api/v1/push/subscriptions', push.subscription(name), tokens[name])).status, 201);
  }
  assert.equal((await api(g, 'POST', '/api/v1/push/subscriptions', push.subscription('bootstrap'))).status, 201, 'the operator token may subscribe too');
  const owners = () => g.gw.store.listPushSubscriptions().map((s) => s.user).sort();
  assert.deepEqual(owners(), ['alice', 'bob', 'carol', 'operator.token (bootstrap)', 'root']);

  const bob = g.gw.accounts.list().find((u) => u.name === 'bob')!;
  const carol = g.gw.accounts.list().find((u) => u.name === 'carol')!;
  const stored = g.gw.store.listPushSubscriptions().filter((s) => s.user === 'bob' || s.user === 'carol');
  await g.gw.accounts.setDisabled(bob.id, true, by);
  await g.gw.accounts.deleteUser(carol.id, by);
  await waitFor(() => (owners().length === 3 ? true : undefined), 10_000, 'the disabled and deleted users\' subscriptions removed');
  assert.deepEqual(owners(), ['alice', 'operator.token (bootstrap)', 'root']);

  // Suppose a subscription survived (written back by a race, or a store shared with an older
  // gateway): the send-time check still keeps the notification from it.
  for (const s of stored) await g.gw.store.putPushSubscription(s);
  // A new user named carol is not the carol the subscription was made for.
  await g.gw.accounts.createUser({ name: 'carol', password: PW, role: 'admin' }, by);

  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'secret work', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());
  await runner.events({ type: 'approval_requested', ...approval('appr_notify_000000009') });
  const paths = () => push.received.map((p) => `${p.path.split('/').pop()}:${JSON.parse(p.payload).kind}`).sort();
  await waitFor(() => (paths().length >= 3 ? true : undefined), 10_000, `approval pushes; errors: ${push.errors.join('; ')}`);
  // Sentinel: the run's finish goes out after the approval round; once it reached everyone
  // entitled, anything sent to bob or carol would have arrived too.
  await runner.exit(0);
  await waitFor(() => (paths().length >= 6 ? true : undefined), 10_000, 'finish pushes');
  assert.deepEqual(paths(), ['alice:approval', 'alice:finished', 'bootstrap:approval', 'bootstrap:finished', 'root:approval', 'root:finished']);
});

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import type WebSocket from 'ws';
import { newRunId } from '../../protocol/ids.js';
import { AddMachineResponse, PROTOCOL_VERSION, signMachineRequest } from '../../protocol/machine.js';
import { HEADER_PROTOCOL } from '../../protocol/signing.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { fetchJson } from '../helpers/page-client.js';
import { waitFor } from '../helpers/processes.js';
import { collect, rawRunnerUpgrade } from '../helpers/runner-socket.js';
import { addUsers, pageUser } from '../helpers/users.js';

const hello = (over: Record<string, unknown> = {}) => ({
  type: 'hello', v: PROTOCOL_VERSION,
  machine: { hostname: 'box', version: '0.1.0', platform: 'linux', maxRuns: 1, running: [], workspaces: [{ name: 'app', claude: true, modes: ['default'], models: [], commands: ['status'], worktree: false }], ...over },
});

async function connect(g: TestGateway, name: string, token: string, opts: { nonce?: string; now?: number; path?: string } = {}) {
  const headers = { ...signMachineRequest(token, { method: 'GET', target: '/v1/machine', name }, opts), [HEADER_PROTOCOL]: '1' };
  return rawRunnerUpgrade(g.url, g.fingerprint, headers, opts.path ?? '/v1/machine');
}

async function tokenFor(g: TestGateway, role: 'viewer' | 'operator' | 'admin'): Promise<string> {
  return (await createApiToken(g.gw.store, { name: `${role}-token`, role, userId: null, now: Date.now() })).token;
}

test('machines: roles on the API, the signed upgrade and its hostile variants, revoke closes the socket at once, a start survives a gateway restart', async (t) => {
  const dataDir = tempDir();
  const g = await startGateway({ dataDir });
  let closed = false;
  t.after(() => (closed ? undefined : g.close()));
  const [viewer, operator, admin] = [await tokenFor(g, 'viewer'), await tokenFor(g, 'operator'), await tokenFor(g, 'admin')];

  // Roles: only admins add and revoke; viewers see; operators start.
  assert.equal((await fetchJson(g, '/api/v1/machines', operator, 'POST', { name: 'm1' })).status, 403);
  assert.equal((await fetchJson(g, '/api/v1/machines', admin, 'POST', { name: '../etc' })).status, 400);
  const added = await fetchJson(g, '/api/v1/machines', admin, 'POST', { name: 'm1' });
  assert.equal(added.status, 201);
  const { token, command } = AddMachineResponse.parse(added.json);
  assert.match(command, /^CCG_MACHINE_TOKEN=ccgm_\S+ ccg machine start --gateway \S+ --fingerprint sha256:[0-9a-f]{64} --name m1$/);
  assert.ok(!JSON.stringify(g.gw.store.getMeta('machines:v1')).includes(token), 'the store holds only the hash');
  assert.equal((await fetchJson(g, '/api/v1/machines', viewer)).status, 200);
  assert.equal((await fetchJson(g, '/api/v1/machines/m1/runs', viewer, 'POST', { workspace: 'app', prompt: 'x' })).status, 403);
  assert.equal((await fetchJson(g, '/api/v1/machines/m1/revoke', operator, 'POST')).status, 403);
  const offline = await fetchJson(g, '/api/v1/machines/m1/runs', operator, 'POST', { workspace: 'app', prompt: 'x' });
  assert.equal(offline.json.error?.code, 'ERR_MACHINE_OFFLINE');

  // The upgrade: a wrong token, a replayed nonce, a stale time, an unknown name, a token in the URL.
  const other = 'ccgm_' + 'B'.repeat(43);
  assert.equal((await connect(g, 'm1', other)).body?.error?.code, 'ERR_SIGNATURE_INVALID');
  assert.equal((await connect(g, 'nobody', token)).body?.error?.code, 'ERR_SIGNATURE_INVALID');
  assert.equal((await connect(g, 'm1', token, { now: Date.now() - 400_000 })).body?.error?.code, 'ERR_SIGNATURE_STALE');
  assert.equal((await connect(g, 'm1', token, { path: `/v1/machine?t=${token}` })).body?.error?.code, 'ERR_TOKEN_IN_URL');
  const first = await connect(g, 'm1', token, { nonce: 'machine-nonce-000001' });
  assert.equal(first.status, 101);
  first.ws!.close();
  assert.equal((await connect(g, 'm1', token, { nonce: 'machine-nonce-000001' })).body?.error?.code, 'ERR_NONCE_REPLAY');

  // A hostile hello (a hostname with markup) is refused when malformed, escaped when it is just text.
  const bad = await connect(g, 'm1', token);
  const badSeen = collect(bad.ws!);
  bad.ws!.send(JSON.stringify(hello({ workspaces: [{ name: '../x', claude: true, modes: [], models: [], commands: [], worktree: false }] })));
  assert.equal((await badSeen.closed).code, 4400);
  const m = await connect(g, 'm1', token);
  const seen = collect(m.ws as WebSocket);
  m.ws!.send(JSON.stringify(hello({ hostname: '<img src=x onerror=alert(1)>' })));
  await waitFor(() => seen.messages.find((x) => (x as { type: string }).type === 'welcome'), 10_000, 'welcome');
  await addUsers(g, [{ name: 'vera', role: 'viewer' }]);
  const page = await (await pageUser(g, 'vera')).get('/machines');
  assert.equal(page.status, 200);
  assert.ok(page.body.includes('&lt;img src=x onerror=alert(1)&gt;') && !page.body.includes('<img src=x'), 'the hostname is escaped');
  assert.ok(!page.body.includes('Add machine'), 'viewers get no Add machine');

  // A start: the gateway refuses what the machine did not advertise, hands the rest over.
  const refused = await fetchJson(g, '/api/v1/machines/m1/runs', operator, 'POST', { workspace: 'app', prompt: 'x', mode: 'plan' });
  assert.equal(refused.json.error?.code, 'ERR_MACHINE_REFUSED');
  const starting = fetchJson(g, '/api/v1/machines/m1/runs', operator, 'POST', { workspace: 'app', prompt: 'fix it' });
  const start = await waitFor(() => seen.messages.find((x) => (x as { type: string }).type === 'start') as { runId: string; token: string; prompt: string; workspace: string } | undefined, 10_000, 'start');
  assert.equal(start.prompt, 'fix it');
  assert.match(start.token, /^ccgr_/);
  m.ws!.send(JSON.stringify({ type: 'start_result', runId: start.runId, ok: false, reason: 'busy <b>now</b>' }));
  const answered = await starting;
  assert.equal(answered.status, 409);
  assert.match(String((answered.json.error as { message?: string } | undefined)?.message), /m1 refused: busy <b>now<\/b>/);
  assert.equal(g.gw.runs.mustGet(start.runId).status, 'failed');
  // A result for a run the machine never got is ignored (no crash, nothing changes).
  m.ws!.send(JSON.stringify({ type: 'start_result', runId: newRunId(), ok: true }));

  // Unanswered: the API says pending; after a gateway restart, the machine gets it again on connect.
  g.gw.services.machines['o'].answerTimeoutMs = 300;
  const pending = await fetchJson(g, '/api/v1/machines/m1/runs', operator, 'POST', { workspace: 'app', prompt: 'later' });
  assert.equal(pending.status, 202);
  assert.equal(pending.json['state'], 'pending');
  const pendingId = pending.json['id'] as string;

  // Revoke: the socket closes at once.
  assert.equal((await fetchJson(g, '/api/v1/machines/m1/revoke', admin, 'POST')).status, 200);
  assert.equal((await seen.closed).code, 4401);
  assert.equal((await connect(g, 'm1', token)).body?.error?.code, 'ERR_MACHINE_REVOKED');
  assert.ok(g.gw.store.listAudit({ limit: 50 }).some((e) => e.action === 'machine.revoke' && e.actor === 'admin-token'));

  // A new token for the name; the gateway restarts; the pending start is handed over on hello.
  const again = AddMachineResponse.parse((await fetchJson(g, '/api/v1/machines', admin, 'POST', { name: 'm1' })).json);
  closed = true;
  await g.close();
  const g2 = await startGateway({ dataDir });
  t.after(async () => {
    await g2.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const m2 = await connect(g2, 'm1', again.token);
  assert.equal(m2.status, 101);
  const seen2 = collect(m2.ws!);
  m2.ws!.send(JSON.stringify(hello()));
  const resent = await waitFor(() => seen2.messages.find((x) => (x as { type: string }).type === 'start') as { runId: string; prompt: string } | undefined, 10_000, 'the pending start again');
  assert.equal(resent.runId, pendingId);
  assert.equal(resent.prompt, 'later');
  m2.ws!.send(JSON.stringify({ type: 'start_result', runId: pendingId, ok: true }));
  await waitFor(() => (g2.gw.runs.mustGet(pendingId).origin?.start === 'started' ? true : undefined), 10_000, 'started');

  // A run's name has no control characters: one given is refused like any run name, one made from the prompt drops them.
  const operator2 = await tokenFor(g2, 'operator');
  const named = await fetchJson(g2, '/api/v1/machines/m1/runs', operator2, 'POST', { workspace: 'app', prompt: 'x', name: 'a\u001b[31mred\u0007' });
  assert.equal(named.status, 400);
  const fromPrompt = fetchJson(g2, '/api/v1/machines/m1/runs', operator2, 'POST', { workspace: 'app', prompt: 'paint it\u001b[31mred\u0007\u009b2J now' });
  const start2 = await waitFor(() => seen2.messages.find((x) => (x as { type: string; prompt?: string }).type === 'start' && (x as { prompt: string }).prompt.startsWith('paint')) as { runId: string } | undefined, 10_000, 'the start');
  m2.ws!.send(JSON.stringify({ type: 'start_result', runId: start2.runId, ok: true }));
  assert.equal((await fromPrompt).status, 201);
  assert.equal(g2.gw.runs.mustGet(start2.runId).name, 'm1/app: paint it [31mred 2J now');
  m2.ws!.close();
});

test('a machine socket opened with a token since revoked cannot say hello, even after the name is re-added; a silent one is closed', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const admin = await tokenFor(g, 'admin');
  const { token } = AddMachineResponse.parse((await fetchJson(g, '/api/v1/machines', admin, 'POST', { name: 'm1' })).json);
  // A thief with the token opens the socket and says nothing; the admin revokes and re-adds the machine.
  const thief = await connect(g, 'm1', token);
  assert.equal(thief.status, 101);
  const thiefSeen = collect(thief.ws!);
  assert.equal((await fetchJson(g, '/api/v1/machines/m1/revoke', admin, 'POST')).status, 200);
  const fresh = AddMachineResponse.parse((await fetchJson(g, '/api/v1/machines', admin, 'POST', { name: 'm1' })).json);
  const owner = await connect(g, 'm1', fresh.token);
  const ownerSeen = collect(owner.ws!);
  owner.ws!.send(JSON.stringify(hello({ hostname: 'owner' })));
  await waitFor(() => ownerSeen.messages.find((x) => (x as { type: string }).type === 'welcome'), 10_000, 'the owner welcomed');
  thief.ws!.send(JSON.stringify(hello({ hostname: 'thief' })));
  const within = (p: Promise<{ code: number }>) => Promise.race([p.then((c) => c.code), new Promise<string>((r) => setTimeout(() => r('still open after 10 s'), 10_000).unref())]);
  assert.equal(await within(thiefSeen.closed), 4401);
  assert.ok(!thiefSeen.messages.some((x) => (x as { type: string }).type === 'welcome'), 'no welcome for the old token');
  assert.equal(g.gw.services.machines.get('m1')?.info?.hostname, 'owner');
  assert.equal(owner.ws!.readyState, owner.ws!.OPEN, 'the owner is still attached');
  // A socket that never says hello is closed after the hello timeout (5 s).
  const silent = await connect(g, 'm1', fresh.token);
  const silentSeen = collect(silent.ws!);
  assert.equal(await within(silentSeen.closed), 4400);
  owner.ws!.close();
});

test('a run the machine said it started whose runner never connects is failed after a while, saying where to look', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  g.gw.services.machines['o'].runnerConnectMs = 500;
  const [admin, operator] = [await tokenFor(g, 'admin'), await tokenFor(g, 'operator')];
  const { token } = AddMachineResponse.parse((await fetchJson(g, '/api/v1/machines', admin, 'POST', { name: 'm1' })).json);
  const m = await connect(g, 'm1', token);
  const seen = collect(m.ws!);
  m.ws!.send(JSON.stringify(hello()));
  await waitFor(() => seen.messages.find((x) => (x as { type: string }).type === 'welcome'), 10_000, 'welcome');
  const starting = fetchJson(g, '/api/v1/machines/m1/runs', operator, 'POST', { workspace: 'app', prompt: 'fix it' });
  const start = await waitFor(() => seen.messages.find((x) => (x as { type: string }).type === 'start') as { runId: string } | undefined, 10_000, 'start');
  m.ws!.send(JSON.stringify({ type: 'start_result', runId: start.runId, ok: true }));
  assert.equal((await starting).status, 201);
  // Its runner died before connecting: nothing else comes.
  const failed = await waitFor(() => {
    const run = g.gw.runs.mustGet(start.runId);
    return run.status === 'failed' ? run : undefined;
  }, 10_000, 'the run failed');
  assert.match(failed.reason ?? '', /machine m1 started the runner, but it did not connect within 1 s \(its log on the machine: <state dir>\/logs\/\w+\.log\)/);
  m.ws!.close();
});

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { PolicyResponse } from '../../protocol/policy.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';

const TICKER = fileURLToPath(new URL('../../../test/fixtures/ticker.mjs', import.meta.url));

test('policy API: admins only, every change and refusal audited, hostile bodies refused', async (t) => {
  const dataDir = tempDir();
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  let g = await startGateway({ dataDir });
  t.after(() => g.close());
  const admin = g.operatorToken;
  const operator = (await createApiToken(g.gw.store, { name: 'olivia', role: 'operator', userId: null, now: Date.now() })).token;
  const viewer = (await createApiToken(g.gw.store, { name: 'victor', role: 'viewer', userId: null, now: Date.now() })).token;

  let r = await request(g, 'GET', '/api/v1/policy', { token: admin });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { policy: { default: ['admin', 'operator'], commands: {}, version: 0, updatedAt: null, updatedBy: null } });

  r = await request(g, 'GET', '/api/v1/policy');
  assert.equal(r.status, 401);
  assert.equal(r.json.error.code, 'ERR_UNAUTHORIZED');
  const body = JSON.stringify({ default: ['admin', 'operator', 'viewer'], commands: {} });
  for (const token of [operator, viewer]) {
    r = await request(g, 'GET', '/api/v1/policy', { token });
    assert.equal(r.status, 403);
    r = await request(g, 'PUT', '/api/v1/policy', { token, body });
    assert.equal(r.status, 403, 'an operator or a viewer cannot change the policy');
    assert.equal(r.json.error.code, 'ERR_FORBIDDEN');
  }
  const denied = g.gw.store.listAudit({ limit: 50 }).filter((e) => e.action === 'policy.denied');
  assert.deepEqual(denied.map((e) => e.actor).sort(), ['olivia', 'victor']);

  const hostile: [string, number, string][] = [
    ['not json', 400, 'not valid JSON'],
    ['[]', 400, ''],
    ['null', 400, ''],
    ['"admin"', 400, ''],
    ['{"default":["admin"],"commands":{},"extra":1}', 400, ''],
    ['{"default":["root"],"commands":{}}', 400, 'default'],
    ['{"default":["admin","admin"],"commands":{}}', 400, 'twice'],
    ['{"default":"admin","commands":{}}', 400, 'default'],
    ['{"default":[],"commands":{"__proto__":["admin"]}}', 400, '__proto__'],
    ['{"default":[],"commands":{"constructor":{"admin":true}}}', 400, ''],
    ['{"default":[],"commands":{"Bad":["admin"]}}', 400, 'command names'],
    [JSON.stringify({ default: [], commands: { ['x'.repeat(33)]: [] } }), 400, 'command names'],
    [JSON.stringify({ default: [], commands: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`c${i}`, ['admin']])) }), 400, 'at most 256'],
    ['{"default":[],"commands":{"a":["admin","operator","viewer","admin"]}}', 400, ''],
    ['{"default":[],"commands":{},"version":"0"}', 400, 'version'],
    ['{"default":[],"commands":{},"version":5}', 409, 'version 0'],
    [JSON.stringify({ default: [], commands: {}, pad: 'x'.repeat(70 * 1024) }), 413, 'exceeds'],
  ];
  for (const [raw, status, text] of hostile) {
    r = await request(g, 'PUT', '/api/v1/policy', { token: admin, body: raw });
    assert.equal(r.status, status, `${raw.slice(0, 80)} → ${r.text}`);
    assert.match(r.json.error.code, /^ERR_(BAD_REQUEST|CONFLICT|TOO_LARGE)$/);
    if (text) assert.ok(r.json.error.message.includes(text), `${raw.slice(0, 60)}: ${r.json.error.message}`);
  }
  r = await request(g, 'GET', '/api/v1/policy', { token: admin });
  assert.equal(r.json.policy.version, 0, 'nothing hostile was stored');

  r = await request(g, 'PUT', '/api/v1/policy', {
    token: admin,
    body: JSON.stringify({ default: ['admin'], commands: { hello: ['viewer', 'admin'], constructor: ['admin'] }, version: 0 }),
  });
  assert.equal(r.status, 200, r.text);
  const saved = (r.json as PolicyResponse).policy;
  assert.deepEqual({ ...saved, updatedAt: 0 }, { default: ['admin'], commands: { constructor: ['admin'], hello: ['admin', 'viewer'] }, version: 1, updatedAt: 0, updatedBy: 'operator.token (bootstrap)' });
  const update = g.gw.store.listAudit({ limit: 50 }).find((e) => e.action === 'policy.update');
  assert.ok(update && update.detail?.['version'] === 1 && update.actor === 'operator.token (bootstrap)');

  // The exec route enforces it, against a real runner that offers hello, constructor and deploy.
  const run = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--spool-dir', tempDir(), '-q',
      '--allow', 'hello=echo hello', '--allow', 'constructor=echo proto', '--allow', 'deploy=echo deploying', '--', process.execPath, TICKER, '2000', '50'],
    { CCG_RUN_TOKEN: run.token },
  );
  t.after(() => runner.child.kill('SIGKILL'));
  await waitFor(() => (g.gw.runs.summary(g.gw.runs.mustGet(run.id)).runnerConnected && g.gw.runs.get(run.id)?.runner?.commands.length === 3 ? true : undefined), 15_000, 'runner connected');
  const exec = (token: string, name: string) => request(g, 'POST', `/api/v1/runs/${run.id}/exec`, { token, body: JSON.stringify({ name }) });
  const cases: [string, string, string, number][] = [
    ['operator', operator, 'hello', 403],
    ['viewer', viewer, 'hello', 202],
    ['operator', operator, 'constructor', 403],
    ['viewer', viewer, 'constructor', 403],
    ['admin', admin, 'constructor', 202],
    ['operator', operator, 'deploy', 403],
    ['viewer', viewer, 'deploy', 403],
    ['admin', admin, 'deploy', 202],
  ];
  for (const [who, token, name, status] of cases) {
    r = await exec(token, name);
    assert.equal(r.status, status, `${who} runs ${name}: ${r.text}`);
  }
  const mayRun = async (token: string) => (await request(g, 'GET', `/api/v1/runs/${run.id}/commands`, { token })).json.mayRun as string[];
  assert.deepEqual(await mayRun(viewer), ['hello']);
  assert.deepEqual(await mayRun(operator), []);
  assert.deepEqual((await mayRun(admin)).sort(), ['constructor', 'deploy', 'hello']);
  assert.equal(g.gw.store.listAudit({ limit: 100 }).filter((e) => e.action === 'command.denied').length, 5);

  // Stored: a restart keeps it.
  runner.child.kill('SIGKILL');
  await g.close();
  g = await startGateway({ dataDir });
  r = await request(g, 'GET', '/api/v1/policy', { token: admin });
  assert.deepEqual(r.json.policy, saved);
});

test('ccg policy show/set: --json shapes, edits, refusals and exit codes', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  let r = await runCli(['policy', 'show'], g.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /defaults, never saved/);
  assert.match(r.stdout, /\(any other\)\s+yes\s+yes\s+-/);

  r = await runCli(['policy', 'set', '--command', 'test=admin,operator,viewer', '--command', 'deploy=none', '--json'], g.env);
  assert.equal(r.code, 0, r.stderr);
  let p = (JSON.parse(r.stdout) as PolicyResponse).policy;
  assert.deepEqual(p.commands, { deploy: [], test: ['admin', 'operator', 'viewer'] });
  assert.equal(p.version, 1);

  r = await runCli(['policy', 'set', '--default', 'admin', '--remove', 'deploy', '--json'], g.env);
  p = (JSON.parse(r.stdout) as PolicyResponse).policy;
  assert.deepEqual([p.default, p.commands, p.version], [['admin'], { test: ['admin', 'operator', 'viewer'] }, 2]);

  r = await runCli(['policy', 'show', '--json'], g.env);
  assert.deepEqual((JSON.parse(r.stdout) as PolicyResponse).policy, p);

  const fails: [string[], number, string][] = [
    [['policy', 'set'], 1, 'nothing to change'],
    [['policy', 'set', '--default', 'root'], 1, '"root" is not a role'],
    [['policy', 'set', '--command', 'Bad=admin'], 1, 'not a command name'],
    [['policy', 'set', '--command', 'x'], 1, 'NAME=ROLES'],
    [['policy', 'set', '--remove', 'nothere'], 1, 'no entry'],
    [['policy', 'set', '--file', '/nonexistent/policy.json'], 1, 'cannot read'],
  ];
  for (const [argv, exit, text] of fails) {
    r = await runCli([...argv, '--json'], g.env);
    assert.equal(r.code, exit, `${argv.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.ok(JSON.parse(r.stderr).error.message.includes(text), r.stderr);
  }
  const operator = (await createApiToken(g.gw.store, { name: 'op', role: 'operator', userId: null, now: Date.now() })).token;
  for (const argv of [['policy', 'show'], ['policy', 'set', '--default', 'admin,operator,viewer']]) {
    r = await runCli([...argv, '--json'], { ...g.env, CCG_TOKEN: operator });
    assert.equal(r.code, 77, r.stderr);
    assert.equal(JSON.parse(r.stderr).error.code, 'ERR_FORBIDDEN');
  }
  r = await runCli(['policy', 'show', '--json'], g.env);
  assert.equal((JSON.parse(r.stdout) as PolicyResponse).policy.version, 2, 'unchanged by the refused attempt');
});

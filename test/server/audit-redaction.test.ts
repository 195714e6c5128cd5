import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeRunner } from '../helpers/fake-runner.js';
import { startGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { fetchJson } from '../helpers/page-client.js';

const GITHUB = `ghp_${'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'}`;
const ANTHROPIC = `sk-ant-api03-${'x'.repeat(93)}AA`;

test('secrets typed into prompts, deny messages, command parameters or the login form are redacted in the audit log', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const { run, token } = await g.gw.runs.create('audited', 'test');
  const runner = await fakeRunner(g, run.id, token, { commands: [{ name: 'push', params: [{ name: 'remote', pattern: '.{1,200}' }], timeoutMs: 60_000 }] });
  t.after(() => runner.close());

  assert.equal((await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/input`, { text: `push with this token: ${GITHUB}` })).status, 202);
  await runner.events({
    type: 'approval_requested', approvalId: 'appr_audit_0000000001', toolName: 'Bash', displayName: 'Bash', toolUseId: 'toolu_1',
    input: { command: 'git push' }, inputTruncated: false, description: null, blockedPath: null, rule: null, expiresAt: Date.now() + 600_000,
  });
  assert.equal((await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/approvals/appr_audit_0000000001`, { decision: 'deny', message: `use ${ANTHROPIC} instead` })).status, 200);
  assert.equal((await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/exec`, { name: 'push', params: { remote: `https://x:${GITHUB}@github.com/o/r` } })).status, 202);
  assert.equal((await fetchJson(g, '/api/v1/login', '', 'POST', { username: GITHUB, password: 'wrong password' })).status, 401);

  // What the runner was sent is the operator's text, as typed (it needs it); the audit keeps no secret.
  assert.ok(runner.messages.some((m) => m.type === 'input' && m.text?.includes(GITHUB)));
  const audit = await apiRequest(g, 'GET', '/api/v1/audit?limit=100');
  assert.equal(audit.status, 200);
  const text = JSON.stringify(audit.json);
  for (const secret of [GITHUB, ANTHROPIC]) assert.ok(!text.includes(secret), `no ${secret.slice(0, 8)}… in the audit log`);
  const entries = audit.json.entries as { action: string; detail?: Record<string, unknown>; actor: string }[];
  assert.match(String(entries.find((e) => e.action === 'run.input')?.detail?.['text']), /^push with this token: \[REDACTED:github\]$/);
  assert.match(String(entries.find((e) => e.action === 'approval.answer')?.detail?.['message']), /^use \[REDACTED:[a-z-]+\] instead$/);
  assert.match(String(entries.find((e) => e.action === 'command.request')?.detail?.['params']), /\[REDACTED:github\]/);
  assert.match(entries.find((e) => e.action === 'login.failed')!.actor, /^\[REDACTED:github\]$/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_UNSOLICITED_AUDIT } from '../../server/core/runs.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { startGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';

test('a run token alone cannot flood the audit log: only answers to requests the gateway issued are audited, once each; unsolicited reports are capped per run', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await g.gw.accounts.createUser({ name: 'alice', password: 'correct horse battery', role: 'operator' }, { name: 'test', remote: null });
  const { run, token } = await g.gw.runs.create('flood', 'test');
  // The thief of the run token.
  const runner = await fakeRunner(g, run.id, token, { commands: [{ name: 'test', params: [], timeoutMs: 60_000 }] });
  t.after(() => runner.close());
  const before = g.gw.store.auditUsage();

  const refused = (i: number): RunnerEvent => ({ type: 'exec_refused', requestId: 'r' + String(i).padStart(20, '0'), name: 'x', reason: 'Z'.repeat(290) });
  for (let k = 0; k < 10; k++) await runner.events(...Array.from({ length: 200 }, (_, i) => refused(k * 200 + i)));
  // Unsolicited reports (no request id): a few are audited, the rest not.
  await runner.events(...Array.from({ length: 100 }, (): RunnerEvent => ({ type: 'collect_done', requestId: null, trigger: 'exit', uploaded: [], skipped: [], error: 'x'.repeat(200) })));

  // A real request, answered twice (a replay): one entry. It is also the sentinel: the audit of
  // the events above was queued before it.
  const asked = await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/exec`, { name: 'test', params: {} });
  assert.equal(asked.status, 202);
  const exec = await runner.next('exec');
  const exit: RunnerEvent = { type: 'exec_exit', requestId: exec.requestId, name: 'test', code: 0, signal: null, timedOut: false, truncated: false, durationMs: 5 };
  await runner.events(exit, exit);
  await runner.events({ ...exit, requestId: 'r'.repeat(22) });
  const sentinel = await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/exec`, { name: 'test', params: {} });
  const exec2 = await runner.next('exec', (m) => m.requestId === sentinel.json.requestId);
  await runner.events({ ...exit, requestId: exec2.requestId, code: 7 });
  await waitFor(() => (g.gw.store.listAudit({ limit: 50 }).some((e) => e.action === 'command.exit' && e.detail?.['code'] === 7) ? true : undefined), 10_000, 'the sentinel answer audited');

  const entries = g.gw.store.listAudit({ limit: 10_000 }).filter((e) => e.actor === 'runner');
  assert.equal(entries.filter((e) => e.action === 'command.refused').length, 0, 'refusals of requests never made are not audited');
  assert.equal(entries.filter((e) => e.action === 'artifacts.collected').length, MAX_UNSOLICITED_AUDIT);
  assert.deepEqual(entries.filter((e) => e.action === 'command.exit').map((e) => e.detail?.['requestId']).sort(), [exec.requestId, exec2.requestId].sort(), 'one entry per issued request');
  const after = g.gw.store.auditUsage();
  assert.ok(after.entries - before.entries < 40, `audit grew by ${after.entries - before.entries} entries`);
  assert.ok(g.gw.store.listAudit({ limit: 10_000 }).some((e) => e.action === 'user.create'), 'older history is still there');
});

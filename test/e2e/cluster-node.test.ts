import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { Approval } from '../../protocol/claude-control.js';
import { runCli } from '../helpers/cli.js';
import { approvalInfo, fakeRunner } from '../helpers/fake-runner.js';
import { tempDir, type TestGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { freePort, startServe } from '../helpers/serve.js';

const EMIT = fileURLToPath(new URL('../../../test/fixtures/emit-lines.mjs', import.meta.url));

function expectedLines(n: number): Buffer {
  let s = '';
  for (let i = 1; i <= n; i++) s += `${i}\n`;
  return Buffer.from(s);
}

test('ccg serve --nats (one node on JetStream): a runner streams, a follower sees every byte once, an approval is answered; after kill -9 and a restart nothing is lost', async (t) => {
  const nats = await startNatsCluster(1);
  t.after(() => nats.stop());
  const dataDir = tempDir();
  const port = await freePort();
  let gw = await startServe(dataDir, port, { CCG_NATS: nats.urls });
  t.after(() => gw.stop());
  const env = gw.env;

  // Output: a real runner streams; a follower started before it sees every line once.
  const created = JSON.parse((await runCli(['runs', 'create', '--name', 'on-jetstream', '--json'], env)).stdout) as CreateRunResponse;
  const follower = spawnCcg(['runs', 'logs', created.id, '--follow'], env);
  t.after(() => follower.child.kill('SIGKILL'));
  const N = 20_000;
  const runner = spawnCcg(['runner', 'start', '--run-id', created.id, '--quiet', '--spool-dir', tempDir(), '--', process.execPath, EMIT, String(N), '4000', '3'], { ...env, CCG_RUN_TOKEN: created.token });
  t.after(() => runner.child.kill('SIGKILL'));
  assert.equal((await runner.exited).code, 3, `runner: ${runner.stderr().slice(-2000)}`);
  assert.equal((await follower.exited).code, 0, `follower: ${follower.stderr().slice(-2000)}`);
  const want = expectedLines(N);
  assert.ok(follower.stdout().equals(want), `the follower saw every byte once (${follower.stdout().length} of ${want.length} bytes)`);

  // An approval: asked by a (hand-driven) Claude runner, answered over the API, the decision reaches the runner.
  const claude = JSON.parse((await runCli(['runs', 'create', '--name', 'approve', '--json'], env)).stdout) as CreateRunResponse;
  const g = { url: gw.url, fingerprint: gw.fingerprint, operatorToken: gw.operatorToken } as TestGateway;
  const fake = await fakeRunner(g, claude.id, claude.token);
  await fake.events({ type: 'approval_requested', ...approvalInfo('appr_jetstream000001') });
  const answered = await waitFor(async () => {
    const r = await apiRequest(g, 'POST', `/api/v1/runs/${claude.id}/approvals/appr_jetstream000001`, { decision: 'allow' });
    return r.status === 200 ? r : undefined;
  }, 10_000, 'the approval answered');
  assert.equal(answered.json.approval.state, 'answered');
  const decision = await fake.next('approval_decision');
  assert.equal(decision.decision, 'allow');
  await fake.close();

  // kill -9 and start again on the same NATS: everything is there, nothing in the data dir but the node's own files.
  gw.proc.child.kill('SIGKILL');
  await gw.proc.exited;
  gw = await startServe(dataDir, port, { CCG_NATS: nats.urls });
  assert.equal(existsSync(join(dataDir, 'db')), false, 'no LMDB: run data lives in JetStream');
  assert.equal(existsSync(join(dataDir, 'secret.key')), false, 'the secret key is the cluster\'s, not the data dir\'s');
  const logs = await runCli(['runs', 'logs', created.id], gw.env);
  assert.ok(logs.stdoutBytes.equals(want), 'byte-identical after the restart');
  const show = JSON.parse((await runCli(['runs', 'show', created.id, '--json'], gw.env)).stdout) as { run: { status: string; exitCode: number; lastSeq: number } };
  assert.deepEqual([show.run.status, show.run.exitCode], ['exited', 3]);
  const all = (await apiRequest(g, 'GET', `/api/v1/runs/${claude.id}/approvals?all=1`)).json.approvals as Approval[];
  assert.deepEqual(all.map((a) => [a.approvalId, a.state, a.answer?.decision]), [['appr_jetstream000001', 'answered', 'allow']]);
  const audit = (await apiRequest(g, 'GET', '/api/v1/audit')).json.entries as { action: string; target: string }[];
  assert.ok(audit.some((e) => e.action === 'approval.answer' && e.target === claude.id), 'the answer is in the audit log');
});

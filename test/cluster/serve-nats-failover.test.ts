import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CreateRunResponse } from '../../protocol/api.js';
import { startCcgCluster } from '../helpers/ccg-cluster.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/gateway.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';

const EMIT = fileURLToPath(new URL('../../../test/fixtures/emit-lines.mjs', import.meta.url));

function expectedLines(n: number): Buffer {
  let s = '';
  for (let i = 1; i <= n; i++) s += `${i}\n`;
  return Buffer.from(s);
}

test('three ccg serve --nats nodes on three NATS servers: a runner on node 0 streams, a viewer follows on node 1, node 0 is killed mid-stream: the runner moves on, every byte once on every node', async (t) => {
  const nats = await startNatsCluster(3);
  t.after(() => nats.stop());
  const ccg = await startCcgCluster({ size: 3, env: () => ({ CCG_NATS: nats.urls }) });
  t.after(() => ccg.stop());
  const env0 = ccg.env(0);
  const created = JSON.parse((await runCli(['runs', 'create', '--name', 'across-nodes', '--json'], env0)).stdout) as CreateRunResponse;

  // The viewer is on node 1; the runner is given every node, node 0 first.
  const viewer = spawnCcg(['runs', 'logs', created.id, '--follow'], ccg.env(1));
  t.after(() => viewer.child.kill('SIGKILL'));
  const N = 30_000;
  const runner = spawnCcg(['runner', 'start', '--run-id', created.id, '--quiet', '--spool-dir', tempDir(), '--', process.execPath, EMIT, String(N), '3000', '3'], { ...env0, CCG_GATEWAY: ccg.urls, CCG_RUN_TOKEN: created.token });
  t.after(() => runner.child.kill('SIGKILL'));

  // Once output flows (seen through node 2), node 0 dies.
  await waitFor(async () => {
    const r = await runCli(['runs', 'show', created.id, '--json'], ccg.env(2));
    return r.code === 0 && (JSON.parse(r.stdout) as { run: { lastSeq: number } }).run.lastSeq > 20 ? true : undefined;
  }, 30_000, 'output flowing');
  await ccg.kill(0);

  assert.equal((await runner.exited).code, 3, `runner: ${runner.stderr().slice(-2000)}`);
  assert.equal((await viewer.exited).code, 0, `viewer: ${viewer.stderr().slice(-2000)}`);
  const want = expectedLines(N);
  assert.ok(viewer.stdout().equals(want), `the viewer on node 1 saw every byte once (${viewer.stdout().length} of ${want.length})`);
  for (const i of [1, 2]) {
    const logs = await runCli(['runs', 'logs', created.id], ccg.env(i));
    assert.ok(logs.stdoutBytes.equals(want), `byte-identical through node ${i}`);
  }
  const show = JSON.parse((await runCli(['runs', 'show', created.id, '--json'], ccg.env(2))).stdout) as { run: { status: string; exitCode: number } };
  assert.deepEqual([show.run.status, show.run.exitCode], ['exited', 3]);
});

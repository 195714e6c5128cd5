import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CreateRunResponse } from '../../protocol/api.js';
import { startCcgCluster } from '../helpers/ccg-cluster.js';
import { runCli } from '../helpers/cli.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { tempDir } from '../helpers/gateway.js';

const EMIT = fileURLToPath(new URL('../../../test/fixtures/emit-lines.mjs', import.meta.url));

function expectedLines(n: number): Buffer {
  let s = '';
  for (let i = 1; i <= n; i++) s += `${i}\n`;
  return Buffer.from(s);
}

async function lastSeq(env: Record<string, string>, id: string): Promise<number> {
  const r = await runCli(['runs', 'show', id, '--json'], env);
  if (r.code !== 0) return 0;
  return (JSON.parse(r.stdout) as { run: { lastSeq: number } }).run.lastSeq;
}

/**
 * Three `nats-server`s and three `ccg serve --nats` processes with one certificate. A runner given
 * every node streams into the first; that node is killed with SIGKILL; the runner moves to the
 * second and resumes from what JetStream acknowledged; a viewer on the third follows throughout.
 */
test('cluster: SIGKILL of the ccg node a runner streams into: it moves to the next node, and the run and a viewer on a third node are byte-identical', async (t) => {
  const cleanup: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });
  const nats = await startNatsCluster(3);
  cleanup.push(() => nats.stop());
  const c = await startCcgCluster({ size: 3, args: () => ['--nats', nats.urls] });
  cleanup.push(() => c.stop());
  const doctor = await runCli(['doctor', '--json', '--gateway', c.urls, '--fingerprint', c.fingerprint, '--token', c.env(0)['CCG_TOKEN']!], { CCG_CLAUDE_BIN: '/nonexistent/claude' });
  const stores = (JSON.parse(doctor.stdout) as { checks: { name: string; level: string; detail: string }[] }).checks.filter((x) => x.name === 'store');
  t.diagnostic(stores.map((s) => `${s.level} ${s.detail}`).join('\n'));
  assert.equal(doctor.code, 0, doctor.stdout);
  assert.deepEqual(stores.map((s) => s.level), ['ok', 'ok', 'ok']);

  const created = JSON.parse((await runCli(['runs', 'create', '--name', 'kill-a-node', '--json'], c.env(0))).stdout) as CreateRunResponse;
  const N = 60_000;
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', created.id, '--quiet', '--spool-dir', tempDir(), '--', process.execPath, EMIT, String(N), '6000', '3'],
    { CCG_GATEWAY: c.urls, CCG_FINGERPRINT: c.fingerprint, CCG_RUN_TOKEN: created.token },
  );
  cleanup.push(() => runner.child.kill('SIGKILL'));
  const viewer = spawnCcg(['runs', 'logs', created.id, '--follow', '--raw'], c.env(2));
  cleanup.push(() => viewer.child.kill('SIGKILL'));

  await waitFor(async () => ((await lastSeq(c.env(2), created.id)) > 0 ? true : undefined), 30_000, 'output through the cluster');
  await c.kill(0);
  const { code } = await runner.exited;
  assert.equal(code, 3, `runner exit; stderr: ${runner.stderr().slice(-2000)}`);
  assert.match(runner.stderr(), new RegExp(`reconnecting to ${c.nodes[1]!.url.replace(/\./g, '\\.')}`));
  const want = expectedLines(N);
  const logs = await runCli(['runs', 'logs', created.id], c.env(1));
  assert.ok(logs.stdoutBytes.equals(want), `byte-identical through node 2 (${logs.stdoutBytes.length} of ${want.length} bytes)`);
  const followed = await viewer.exited;
  assert.equal(followed.code, 0, viewer.stderr());
  assert.ok(viewer.stdout().equals(want), `the viewer on node 3 saw every byte once, in order (${viewer.stdout().length} of ${want.length} bytes)`);
});

test('cluster: a NATS server SIGKILLed and restarted while a runner streams: every byte once, and the restarted server current again', async (t) => {
  const cleanup: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });
  const nats = await startNatsCluster(3);
  cleanup.push(() => nats.stop());
  const c = await startCcgCluster({ size: 2, args: () => ['--nats', nats.urls] });
  cleanup.push(() => c.stop());
  const created = JSON.parse((await runCli(['runs', 'create', '--name', 'kill-a-nats', '--json'], c.env(0))).stdout) as CreateRunResponse;
  const N = 60_000;
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', created.id, '--quiet', '--spool-dir', tempDir(), '--', process.execPath, EMIT, String(N), '6000', '5'],
    { CCG_GATEWAY: c.urls, CCG_FINGERPRINT: c.fingerprint, CCG_RUN_TOKEN: created.token },
  );
  cleanup.push(() => runner.child.kill('SIGKILL'));
  await waitFor(async () => ((await lastSeq(c.env(1), created.id)) > 0 ? true : undefined), 30_000, 'output through the cluster');
  const killedAt = performance.now();
  await nats.kill(0);
  await nats.restart(0);
  t.diagnostic(`NATS server n1 killed and back in the cluster after ${Math.round(performance.now() - killedAt)} ms`);
  const { code } = await runner.exited;
  assert.equal(code, 5, `runner exit; stderr: ${runner.stderr().slice(-2000)}`);
  const want = expectedLines(N);
  for (const i of [0, 1]) {
    // Each node hears of the exit through its copy of the runs bucket: at once as a rule, within
    // seconds when the copy's watcher stalled with the killed server (kv-mirror.ts, the watchdog).
    const t0 = performance.now();
    await waitFor(async () => (/"status":\s*"exited"/.test((await runCli(['runs', 'show', created.id, '--json'], c.env(i))).stdout) ? true : undefined), 15_000, `node ${i + 1} to show the run ended`);
    if (performance.now() - t0 > 500) t.diagnostic(`node ${i + 1} showed the exit after ${Math.round(performance.now() - t0)} ms`);
    const logs = await runCli(['runs', 'logs', created.id], c.env(i));
    assert.ok(logs.stdoutBytes.equals(want), `byte-identical through node ${i + 1} (${logs.stdoutBytes.length} of ${want.length} bytes)`);
  }
});

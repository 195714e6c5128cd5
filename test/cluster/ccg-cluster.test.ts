import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCcgCluster } from '../helpers/ccg-cluster.js';
import { runCli } from '../helpers/cli.js';

interface Doctor {
  checks: { name: string; level: string; detail: string }[];
}

async function doctor(urls: string, pin: string): Promise<{ code: number | null; checks: Doctor['checks'] }> {
  const r = await runCli(['doctor', '--json', '--gateway', urls, '--fingerprint', pin], { CCG_CLAUDE_BIN: '/nonexistent/claude' });
  return { code: r.code, checks: (JSON.parse(r.stdout) as Doctor).checks };
}

test('ccg cluster helper: three ccg serve nodes with one certificate; doctor checks each; SIGKILL and restart of one keeps its port, certificate and data', async (t) => {
  const c = await startCcgCluster({ size: 3 });
  t.after(() => c.stop());
  assert.equal(new Set(c.nodes.map((n) => n.port)).size, 3);
  for (const n of c.nodes) assert.equal(n.serve!.fingerprint, c.fingerprint, 'every node presents the one certificate');
  assert.equal(c.urls, c.nodes.map((n) => n.url).join(','));

  const all = await doctor(c.urls, c.fingerprint);
  assert.equal(all.code, 0, JSON.stringify(all.checks));
  assert.deepEqual(all.checks.filter((x) => x.name === 'store').map((x) => x.detail), c.nodes.map((n) => `${n.url}: lmdb`));

  const created = await runCli(['runs', 'create', '--name', 'kept', '--json'], c.env(1));
  assert.equal(created.code, 0, created.stderr);
  const pid = c.nodes[1]!.serve!.pid;
  await c.kill(1);
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
  const down = await doctor(c.urls, c.fingerprint);
  assert.equal(down.code, 69, 'one node cannot be reached');
  assert.deepEqual(down.checks.filter((x) => x.name === 'gateway').map((x) => x.level), ['ok', 'fail', 'ok']);

  await c.restart(1);
  assert.equal(c.nodes[1]!.serve!.fingerprint, c.fingerprint);
  assert.equal(c.nodes[1]!.serve!.url, c.nodes[1]!.url, 'the same port');
  const listed = await runCli(['runs', 'list', '--json'], c.env(1));
  assert.match(listed.stdout, /"kept"/, 'its data survived');
  assert.equal((await doctor(c.urls, c.fingerprint)).code, 0);

  const pids = c.nodes.map((n) => n.serve!.pid);
  await c.stop();
  for (const p of pids) assert.throws(() => process.kill(p, 0), /ESRCH/);
});

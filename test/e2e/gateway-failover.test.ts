import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CreateRunResponse } from '../../protocol/api.js';
import { runCli } from '../helpers/cli.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { freePort, startServe } from '../helpers/serve.js';

const EMIT = fileURLToPath(new URL('../../../test/fixtures/emit-lines.mjs', import.meta.url));

function expectedLines(n: number): Buffer {
  let s = '';
  for (let i = 1; i <= n; i++) s += `${i}\n`;
  return Buffer.from(s);
}

async function createRun(env: Record<string, string>, name: string): Promise<CreateRunResponse> {
  const r = await runCli(['runs', 'create', '--name', name, '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as CreateRunResponse;
}

async function lastSeq(env: Record<string, string>, id: string): Promise<number> {
  const r = await runCli(['runs', 'show', id, '--json'], env);
  if (r.code !== 0) return 0;
  return (JSON.parse(r.stdout) as { run: { lastSeq: number } }).run.lastSeq;
}

async function assertDelivered(env: Record<string, string>, id: string, n: number, code: number): Promise<void> {
  const logs = await runCli(['runs', 'logs', id], env);
  const want = expectedLines(n);
  assert.equal(logs.stdoutBytes.length, want.length, 'no byte lost or duplicated');
  assert.ok(logs.stdoutBytes.equals(want), 'byte-identical to the child output');
  const show = JSON.parse((await runCli(['runs', 'show', id, '--json'], env)).stdout) as { run: { status: string; exitCode: number } };
  assert.deepEqual([show.run.status, show.run.exitCode], ['exited', code]);
}

test('runner given a dead gateway URL first and a live one second streams to the live one (CCG_GATEWAY a list)', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const dead = `https://127.0.0.1:${await freePort()}`;
  const created = await createRun(g.env, 'dead-first');
  const N = 2_000;
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', created.id, '--quiet', '--spool-dir', tempDir(), '--', process.execPath, EMIT, String(N), '300', '4'],
    { ...g.env, CCG_GATEWAY: `${dead},${g.url}`, CCG_RUN_TOKEN: created.token },
  );
  t.after(() => runner.child.kill('SIGKILL'));
  const { code } = await runner.exited;
  assert.equal(code, 4, `runner exit; stderr: ${runner.stderr().slice(-2000)}`);
  await assertDelivered(g.env, created.id, N, 4);
  // It tried the dead one first and said where it went next.
  assert.ok(runner.stderr().includes(`reconnecting to ${g.url}`), runner.stderr().slice(-2000));
});

test('runner on a gateway killed with SIGKILL moves on to the next URL, resumes there from the last acknowledged seq, and delivers every byte once', async (t) => {
  const dataDir = tempDir();
  const port = await freePort();
  let gw = await startServe(dataDir, port);
  t.after(() => gw.proc.child.kill('SIGKILL'));
  const env = { CCG_GATEWAY: gw.url, CCG_TOKEN: readFileSync(`${dataDir}/operator.token`, 'utf8').trim(), CCG_FINGERPRINT: gw.fingerprint };
  // The second URL is another way to the same gateway (a TCP hop, TLS passing through): two
  // LMDB gateways cannot share a run, and this shows where the runner goes and in what order.
  const second = await FaultProxy.start(port);
  t.after(() => second.close());
  const created = await createRun(env, 'failover');

  const N = 60_000;
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', created.id, '--quiet', '--spool-dir', tempDir(), '--', process.execPath, EMIT, String(N), '6000', '3'],
    { ...env, CCG_GATEWAY: `${gw.url},${second.url}`, CCG_RUN_TOKEN: created.token },
  );
  t.after(() => runner.child.kill('SIGKILL'));
  await waitFor(async () => ((await lastSeq(env, created.id)) > 0 ? true : undefined), 30_000, 'output on the first gateway');
  assert.equal(second.accepted, 0, 'the runner started on the first URL');

  gw.proc.child.kill('SIGKILL');
  await gw.proc.exited;
  // The very next attempt goes to the second URL (while the gateway is still down there too).
  await waitFor(() => (second.accepted > 0 ? true : undefined), 30_000, 'the runner to try the second URL');
  assert.match(runner.stderr(), new RegExp(`reconnecting to ${second.url.replace(/\./g, '\\.')} \\(resuming after seq \\d+\\)`));

  gw = await startServe(dataDir, port);
  const { code } = await runner.exited;
  assert.equal(code, 3, `runner exit; stderr: ${runner.stderr().slice(-2000)}`);
  await assertDelivered(env, created.id, N, 3);
  assert.match(runner.stderr(), /reconnected at https:\/\/127\.0\.0\.1:\d+; resending from seq \d+/);
});

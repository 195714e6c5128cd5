import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CreateRunResponse } from '../../protocol/api.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/gateway.js';
import { freePort, startServe } from '../helpers/serve.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';

const EMIT = fileURLToPath(new URL('../../../test/fixtures/emit-lines.mjs', import.meta.url));



function expectedLines(n: number): Buffer {
  let s = '';
  for (let i = 1; i <= n; i++) s += `${i}\n`;
  return Buffer.from(s);
}

test('kill -9 of the gateway several times mid-stream loses and duplicates nothing', async (t) => {
  const dataDir = tempDir();
  const port = await freePort();
  let gw = await startServe(dataDir, port);
  t.after(() => gw.proc.child.kill('SIGKILL'));
  const env = { CCG_GATEWAY: gw.url, CCG_TOKEN: readFileSync(`${dataDir}/operator.token`, 'utf8').trim(), CCG_FINGERPRINT: gw.fingerprint };
  const created = JSON.parse((await runCli(['runs', 'create', '--name', 'kill', '--json'], env)).stdout) as CreateRunResponse;

  const N = 200_000;
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', created.id, '--quiet', '--spool-dir', tempDir(), '--', process.execPath, EMIT, String(N), '4000', '3'],
    { ...env, CCG_RUN_TOKEN: created.token },
  );
  t.after(() => runner.child.kill('SIGKILL'));

  const resumes: number[] = [];
  for (let k = 0; k < 3; k++) {
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
    gw.proc.child.kill('SIGKILL');
    await gw.proc.exited;
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 300));
    const restartedAt = performance.now();
    gw = await startServe(dataDir, port);
    // Time until the runner is streaming into the new process again.
    const before = await lastSeq(env, created.id);
    await waitFor(async () => ((await lastSeq(env, created.id)) > before ? true : undefined), 15_000, 'output to resume').catch(() => undefined);
    resumes.push(performance.now() - restartedAt);
  }
  const { code } = await runner.exited;
  assert.equal(code, 3, `runner exit; stderr: ${runner.stderr().slice(-2000)}`);
  t.diagnostic(`resume after restart (ms): ${resumes.map((r) => Math.round(r)).join(', ')}`);

  const logs = await runCli(['runs', 'logs', created.id], env);
  const want = expectedLines(N);
  assert.equal(logs.stdoutBytes.length, want.length, 'no byte lost or duplicated');
  assert.ok(logs.stdoutBytes.equals(want), 'byte-identical to the child output');
  const show = JSON.parse((await runCli(['runs', 'show', created.id, '--json'], env)).stdout) as { run: { status: string; exitCode: number } };
  assert.deepEqual([show.run.status, show.run.exitCode], ['exited', 3]);
  assert.match(runner.stderr(), /reconnect/);
});

async function lastSeq(env: Record<string, string>, id: string): Promise<number> {
  const r = await runCli(['runs', 'show', id, '--json'], env);
  if (r.code !== 0) return 0;
  return (JSON.parse(r.stdout) as { run: { lastSeq: number } }).run.lastSeq;
}

import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { test } from 'node:test';
import { RunResponse } from '../../protocol/api.js';
import { StartRunResponse } from '../../protocol/machine.js';
import type { RunSummary } from '../../protocol/run.js';
import { claudeBinary, claudeEnv } from '../helpers/claude.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/gateway.js';
import { machineOf, startMachine } from '../helpers/machine.js';
import { startModelApi } from '../helpers/model-api.js';
import { waitFor } from '../helpers/processes.js';
import { freePort, startServe } from '../helpers/serve.js';
import { gitWorkspace } from '../helpers/workspace.js';

/**
 * kill -9 of the gateway (a real `ccg serve` process) while a machine's run works: the machine
 * and the run's runner reconnect to the restarted gateway on their own, the run goes on and ends
 * as asked, and the machine is online again.
 */
test('kill -9 of the gateway: the machine reconnects by itself, its run survives and can be cancelled', async (t) => {
  const dataDir = tempDir();
  const port = await freePort();
  let gw = await startServe(dataDir, port);
  t.after(() => gw.stop());
  const api = await startModelApi([{ text: 'Working on it', stall: true }]);
  t.after(() => api.close());
  const repo = realpathSync(gitWorkspace());
  const machine = await startMachine(t, gw, {
    name: 'survivor',
    config: { runnerArgs: ['--input-wait', '0', '--no-collect', '--grace', '2s'], workspaces: { app: { dir: repo } } },
    env: claudeEnv(api.url), args: ['--claude-bin', claudeBinary()],
  });
  await machine.online();
  const started = await runCli(['runs', 'create', '--machine', 'survivor', '--workspace', 'app', '--prompt', 'a long task', '--json'], gw.env);
  assert.equal(started.code, 0, started.stderr);
  const id = StartRunResponse.parse(JSON.parse(started.stdout)).id;
  await api.waitForRequests(1, 60_000);
  const show = async (env: Record<string, string>): Promise<RunSummary> => RunResponse.parse(JSON.parse((await runCli(['runs', 'show', id, '--json'], env)).stdout)).run;
  await waitFor(async () => ((await show(gw.env)).status === 'running' ? true : undefined), 30_000, 'running');

  process.kill(gw.pid, 'SIGKILL');
  await gw.proc.exited;
  gw = await startServe(dataDir, port);
  await waitFor(async () => ((await machineOf(gw, 'survivor'))?.online ? true : undefined), 60_000, `the machine back online; it said: ${machine.proc.stderr().slice(-600)}`);
  await waitFor(async () => {
    const r = await show(gw.env);
    return r.runnerConnected && r.status === 'running' ? true : undefined;
  }, 60_000, 'the run’s runner back');
  assert.equal(machine.proc.child.exitCode, null, 'the daemon never gave up');
  assert.equal((await runCli(['runs', 'cancel', id], gw.env)).code, 0);
  await waitFor(async () => ((await show(gw.env)).status === 'cancelled' ? true : undefined), 60_000, 'cancelled');
});

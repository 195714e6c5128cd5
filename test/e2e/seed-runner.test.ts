import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RunResponse } from '../../protocol/api.js';
import { StartRunResponse } from '../../protocol/machine.js';
import { claudeBinary, claudeEnv } from '../helpers/claude.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { machineRuns, startMachine } from '../helpers/machine.js';
import { startModelApi } from '../helpers/model-api.js';
import { SEED_RUNNER_BIN, spawnCcg, waitFor } from '../helpers/processes.js';

/**
 * `claude-runner`, the seed's spelling of the runner: `claude-runner start …` is `ccg runner
 * start …` and `claude-runner machine start …` is `ccg machine start …`, each spelled so in its
 * help and its errors. Its help showed `claude-runner runner start` (which fails), and `claude-runner
 * machine start`, the example in `ccg machine start --help`, was "unknown command".
 */

const seed = async (args: string[]) => {
  const p = spawnCcg(args, {}, { bin: SEED_RUNNER_BIN });
  const { code } = await p.exited;
  return { code, stdout: p.stdout().toString('utf8'), stderr: p.stderr() };
};

test('claude-runner: help, a command’s help and a typo spell its commands as typed', async () => {
  for (const args of [[], ['--help'], ['help']]) {
    const r = await seed(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^ {2}claude-runner start /m);
    assert.match(r.stdout, /^ {2}claude-runner machine start/m);
    assert.doesNotMatch(r.stdout, /claude-runner runner/);
  }
  for (const args of [['start', '--help'], ['help', 'start']]) {
    const r = await seed(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\$ claude-runner start /);
    assert.doesNotMatch(r.stdout, /claude-runner runner/);
  }
  for (const args of [['machine', 'start', '--help'], ['--json', 'machine', 'start', '--help']]) {
    const machine = await seed(args);
    assert.equal(machine.code, 0, machine.stderr);
    assert.match(machine.stdout, /\$ claude-runner machine start/);
  }
  const typo = await seed(['strat']);
  assert.equal(typo.code, 1);
  assert.equal(typo.stdout, '');
  assert.match(typo.stderr, /unknown command "strat": did you mean `claude-runner start`\?/);
  const version = await seed(['--version']);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
});

test('claude-runner machine start runs a machine whose runs are started as claude-runner start, read by nobody', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const api = await startModelApi([{ text: 'Hello from the seed spelling.' }]);
  t.after(() => api.close());
  const ws = tempDir('ccg-seed-ws-');
  const machine = await startMachine(t, g, {
    name: 'seedbox',
    config: { runnerArgs: ['--input-wait', '0', '--no-collect'], workspaces: { app: { dir: ws } } },
    env: claudeEnv(api.url),
    args: ['--claude-bin', claudeBinary()],
    bin: SEED_RUNNER_BIN,
  });
  await machine.online();
  // Nobody reads the daemon's status lines any more (`… 2>&1 | head`): it keeps serving runs.
  machine.proc.child.stdout!.destroy();
  machine.proc.child.stderr!.destroy();
  const started = await runCli(['runs', 'create', '--machine', 'seedbox', '--workspace', 'app', '--prompt', 'say hello', '--json'], g.env);
  assert.equal(started.code, 0, started.stderr);
  const id = StartRunResponse.parse(JSON.parse(started.stdout)).id;
  const ended = await waitFor(async () => {
    const got = RunResponse.parse(JSON.parse((await runCli(['runs', 'show', id, '--json'], g.env)).stdout)).run;
    return got.status === 'exited' || got.status === 'failed' ? got : undefined;
  }, 60_000, 'the run ended');
  assert.equal(ended.status, 'exited');
  assert.equal(ended.exitCode, 0);
  const events = await runCli(['runs', 'events', id, '--json'], g.env);
  assert.match(events.stdout, /Hello from the seed spelling\./);
  assert.equal(machineRuns(machine.stateDir).find((r) => r.runId === id)?.workspace, 'app');
  assert.equal(machine.proc.child.exitCode, null, 'the daemon still runs after writing into a closed pipe');
  assert.equal((await machine.online()).name, 'seedbox');
});

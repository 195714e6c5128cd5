import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { CreateRunResponse, RunResponse } from '../../protocol/api.js';
import { AddMachineResponse, StartRunResponse } from '../../protocol/machine.js';
import { claudeBinary, claudeEnv } from '../helpers/claude.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { machineRuns } from '../helpers/machine.js';
import { startModelApi } from '../helpers/model-api.js';
import { waitFor } from '../helpers/processes.js';
import { freePort } from '../helpers/serve.js';

/**
 * Runs a shell line in `cwd` with only node on PATH; resolves with its exit code and output.
 * `kill` ends the shell's whole process group: killing the shell alone left the node it started
 * (the machine daemon) running after every test run.
 */
function sh(line: string, cwd: string, env: Record<string, string> = {}): { done: Promise<{ code: number | null; out: string }>; kill: () => void } {
  const child = spawn('/bin/sh', ['-c', line], { cwd, env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: cwd, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const kill = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  return { done: new Promise((r) => child.on('close', (code) => r({ code, out }))), kill };
}

/**
 * A machine with Node and nothing else: the gateway serves the single-file runner; the printed
 * command fetches it over the pinned connection and checks its hash (a wrong pin or hash writes
 * nothing); the file alone, with no node_modules anywhere, streams a run and runs the machine
 * daemon, whose runners are the same file.
 */
test('single-file runner: fetched with pin and hash checked, then streams a run and runs a machine with only node', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const added = AddMachineResponse.parse(JSON.parse((await runCli(['machines', 'add', 'bare', '--json'], g.env)).stdout));
  assert.ok(added.singleFile, 'the gateway serves the single-file runner');
  const built = readFileSync(new URL('../../runner/ccg-runner.mjs', import.meta.url));
  assert.equal(added.singleFile.sha256, createHash('sha256').update(built).digest('hex'));
  const [fetchLine, startLine] = added.singleFile.commands as [string, string];

  const dir = tempDir('ccg-bare-');
  assert.ok(!existsSync(join(dirname(dir), 'node_modules')) && !existsSync(join(dir, 'node_modules')));
  const badHash = await sh(fetchLine.replace(/ [0-9a-f]{64}$/, ` ${'0'.repeat(64)}`), dir).done;
  assert.notEqual(badHash.code, 0);
  assert.match(badHash.out, /file hash mismatch/);
  const badPin = await sh(fetchLine.replace(/sha256:[0-9a-f]{64}/, `sha256:${'1'.repeat(64)}`), dir).done;
  assert.notEqual(badPin.code, 0);
  assert.match(badPin.out, /certificate does not match the pin/);
  assert.ok(!existsSync(join(dir, 'ccg-runner.mjs')), 'nothing written after a failed check');
  const fetched = await sh(fetchLine, dir).done;
  assert.equal(fetched.code, 0, fetched.out);
  assert.match(fetched.out, /verified/);
  assert.deepEqual(readFileSync(join(dir, 'ccg-runner.mjs')), built);

  // A run, by hand, given a dead node before the live one (a cluster's list): it moves on.
  const dead = `https://127.0.0.1:${await freePort()}`;
  const run = CreateRunResponse.parse(JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout));
  const r = await sh(`node ccg-runner.mjs runner start --gateway ${dead},${g.url} --fingerprint ${g.fingerprint} --run-id ${run.id} --spool-dir ./spool --quiet -- sh -c 'echo hello from one file'`, dir, { CCG_RUN_TOKEN: run.token }).done;
  assert.equal(r.code, 0, r.out);
  assert.equal((await runCli(['runs', 'logs', run.id], g.env)).stdout, 'hello from one file\n');
  assert.ok(r.out.includes(`reconnecting to ${g.url}`), r.out);

  // The machine daemon from the same file, starting Claude.
  const api = await startModelApi([{ text: 'Hello from a bare machine.' }]);
  t.after(() => api.close());
  const ws = tempDir('ccg-bare-ws-');
  writeFileSync(join(dir, 'machine.json'), JSON.stringify({ runnerArgs: ['--input-wait', '0', '--no-collect'], workspaces: { app: { dir: ws } } }));
  // The daemon too (its runners then get the list starting with the node it is connected to).
  assert.ok(startLine.includes(` --gateway ${g.url} `), startLine);
  const daemon = sh(`${startLine.replace(` --gateway ${g.url} `, ` --gateway ${dead},${g.url} `)} --config machine.json --state-dir ./state --claude-bin ${claudeBinary()}`, dir, claudeEnv(api.url));
  t.after(() => {
    daemon.kill();
    for (const m of machineRuns(join(dir, 'state'))) {
      try {
        process.kill(m.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  await waitFor(async () => ((await runCli(['machines', 'show', 'bare', '--json'], g.env)).stdout.includes('"online":true') ? true : undefined), 30_000, 'machine online');
  const started = await runCli(['runs', 'create', '--machine', 'bare', '--workspace', 'app', '--prompt', 'say hello', '--json'], g.env);
  assert.equal(started.code, 0, started.stderr);
  const id = StartRunResponse.parse(JSON.parse(started.stdout)).id;
  const ended = await waitFor(async () => {
    const got = RunResponse.parse(JSON.parse((await runCli(['runs', 'show', id, '--json'], g.env)).stdout)).run;
    return got.status === 'exited' ? got : undefined;
  }, 60_000, 'the run ended');
  assert.equal(ended.exitCode, 0);
  assert.ok(ended.runner?.command.some((a) => a.endsWith('claude')), 'Claude ran');
  const events = await runCli(['runs', 'events', id, '--json'], g.env);
  assert.match(events.stdout, /Hello from a bare machine\./);
  // Its runner was handed the live node first: it never had to move on.
  const runnerLog = readFileSync(join(dir, 'state', 'logs', `${id}.log`), 'utf8');
  assert.ok(!runnerLog.includes('reconnecting'), runnerLog);
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CommandsResponse, CreateRunResponse } from '../../protocol/api.js';
import { STREAM_STDOUT } from '../../protocol/frames.js';
import { runCli } from '../helpers/cli.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { CCG_BIN, spawnCcg, waitFor } from '../helpers/processes.js';

/**
 * `bash -c 'ccg ARGS | head -c 16'`: the reader closes the pipe after 16 bytes (or `headBytes`);
 * ccg's exit and stderr. PIPESTATUS is read at once: any command after the pipeline replaces it.
 */
function intoClosedPipe(args: string[], env: Record<string, string>, headBytes = 16): Promise<{ code: string; stderr: string; head: string }> {
  const line = `"$NODE" "$CCG" ${args.map((a) => `'${a}'`).join(' ')} 2>"$ERR" | head -c ${headBytes}; rc=\${PIPESTATUS[0]}; echo; echo "rc=$rc"; cat "$ERR"`;
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', line], { env: { ...process.env, ...env, NODE: process.execPath, CCG: CCG_BIN, ERR: `/tmp/ccg-epipe-${process.pid}-${Date.now()}` }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ccg did not end after its reader went away: ${out.slice(0, 500)}`));
    }, 60_000);
    child.on('close', () => {
      clearTimeout(timer);
      const m = /^([\s\S]*?)\nrc=(\d+)\n([\s\S]*)$/.exec(out);
      if (!m) return reject(new Error(`unexpected output: ${out.slice(0, 500)}`));
      resolve({ head: m[1]!, code: m[2]!, stderr: m[3]! });
    });
  });
}

test('output into a pipe whose reader went away ends quietly: logs, logs --follow, --json and events', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'big', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());
  // 4 MiB: far more than a pipe holds, so ccg is still writing when `head` leaves.
  for (let i = 0; i < 16; i++) await runner.output(STREAM_STDOUT, `${'x'.repeat(1023)}\n`.repeat(256));
  for (const args of [['runs', 'logs', run.id], ['runs', 'logs', '--follow', run.id], ['runs', 'list', '--json', '--limit', '100'], ['runs', 'events', run.id]]) {
    const r = await intoClosedPipe(args, g.env);
    assert.equal(r.stderr, '', `${args.join(' ')}: nothing on stderr`);
    assert.equal(r.code, '0', `${args.join(' ')}: exit 0`);
  }
});

test('`runs events` (stored, --json, --follow) into a pipe whose reader went away ends quietly', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'many events', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = await fakeRunner(g, run.id, run.token, { mode: 'claude' });
  t.after(() => runner.close());
  // About 4 MiB of timeline: far more than a pipe holds.
  const text = 'y'.repeat(60_000);
  for (let i = 0; i < 70; i++) await runner.events({ type: 'claude_text', messageId: `m${i}`, text, truncated: false, parentToolUseId: null, error: null });
  for (const args of [['runs', 'events', run.id], ['runs', 'events', '--json', run.id], ['runs', 'events', '--follow', run.id], ['runs', 'events', '--follow', '--json', '--live', run.id]]) {
    const r = await intoClosedPipe(args, g.env);
    assert.equal(r.stderr, '', `${args.join(' ')}: nothing on stderr`);
    assert.equal(r.code, '0', `${args.join(' ')}: exit 0`);
    assert.equal(Buffer.byteLength(r.head), 16, `${args.join(' ')}: the reader got its 16 bytes`);
  }
});

test('a runner whose local echo is read by nobody keeps streaming its child to the gateway to the end', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'echo nobody reads', '--json'], g.env)).stdout) as CreateRunResponse;
  const spool = tempDir();
  const r = await intoClosedPipe(['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.env['CCG_FINGERPRINT']!, '--spool-dir', spool, '--no-collect', '--', 'seq', '1', '300000'], { ...g.env, CCG_RUN_TOKEN: run.token });
  assert.equal(r.code, '0', r.stderr);
  assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at /, 'no write error, no stack trace');
  const logs = await runCli(['runs', 'logs', run.id], g.env);
  const lines = logs.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 300000, 'every line reached the gateway');
  assert.equal(lines.at(-1), '300000');
  assert.equal(JSON.parse((await runCli(['runs', 'show', run.id, '--json'], g.env)).stdout).run.exitCode, 0);
});

test('a command whose exit code is its verdict keeps it through a closed pipe: `runs wait | head`, `runs exec --wait | head` fail a pipefail job', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'verdict', '--json'], g.env)).stdout) as CreateRunResponse;
  const allowlist = join(tempDir('ccg-conf-'), 'allow.json');
  // Far more output than a pipe holds, then a failure: the reader has gone long before the verdict.
  writeFileSync(allowlist, JSON.stringify({ commands: [{ name: 'test', argv: ['sh', '-c', 'seq 1 300000; echo FAILED; exit 5'] }] }));
  const ws = tempDir('ccg-ws-');
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', ws, '--quiet', '--no-collect', '--spool-dir', tempDir(), '--allowlist', allowlist, '--', 'sh', '-c', 'while [ ! -f stop ]; do sleep 0.05; done; exit 3'],
    { CCG_RUN_TOKEN: run.token },
  );
  t.after(() => void (runner.child.exitCode === null && runner.child.kill('SIGKILL')));
  await waitFor(async () => ((JSON.parse((await runCli(['runs', 'commands', run.id, '--json'], g.env)).stdout) as CommandsResponse).connected ? true : undefined), 15_000, 'the runner');
  for (const args of [['runs', 'exec', run.id, 'test', '--wait'], ['runs', 'exec', run.id, 'test', '--wait', '--json']]) {
    const r = await intoClosedPipe(args, g.env);
    assert.equal(r.code, '5', `${args.join(' ')}: the command's exit code, not 0 (${r.stderr})`);
    assert.equal(Buffer.byteLength(r.head), 16, `${args.join(' ')}: the reader got its 16 bytes`);
    assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at /, 'no write error, no stack trace');
  }
  writeFileSync(join(ws, 'stop'), '');
  const waited = await intoClosedPipe(['runs', 'wait', run.id, '--timeout', '60s'], g.env, 0);
  assert.equal(waited.code, '3', `runs wait: the run's exit code through a closed pipe (${waited.stderr})`);
});

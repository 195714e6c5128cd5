import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import { encodeOutput } from '../../protocol/frames.js';
import type { RunSummary } from '../../protocol/run.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { collect, rawRunnerUpgrade, signedHeaders } from '../helpers/runner-socket.js';

async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

test('CI: runs logs --follow --json is JSON lines for jq, UTF-8 whole per stream, and ends with the run', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const follow = spawnCcg(['runs', 'logs', run.id, '--follow', '--json'], g.env);
  t.after(() => follow.child.kill('SIGKILL'));

  // A hand-made runner, so that a character is split between two chunks exactly.
  const up = await rawRunnerUpgrade(g.url, g.fingerprint, signedHeaders(run.token, run.id));
  assert.equal(up.status, 101);
  const ws = up.ws!;
  const { messages } = collect(ws);
  ws.send(JSON.stringify({ type: 'hello', v: 1, runner: { hostname: 'ci', pid: 1, version: 'test', mode: 'command', command: ['x'], cwd: '/' } }));
  await waitFor(() => (messages.some((m) => (m as { type: string }).type === 'welcome') ? true : undefined), 5000, 'welcome');
  ws.send(JSON.stringify({ type: 'started', pid: 2 }));
  const euro = Buffer.from('€');
  ws.send(encodeOutput({ stream: 0, seq: 1, data: Buffer.concat([Buffer.from('price: 5'), euro.subarray(0, 1)]) }));
  ws.send(encodeOutput({ stream: 1, seq: 2, data: Buffer.from('warning\n') }));
  ws.send(encodeOutput({ stream: 0, seq: 3, data: Buffer.concat([euro.subarray(1), Buffer.from(' "quoted" \\ done\n')]) }));
  ws.send(JSON.stringify({ type: 'exit', code: 0, signal: null, lastSeq: 3 }));
  await waitFor(() => (messages.some((m) => (m as { type: string }).type === 'exit_ack') ? true : undefined), 5000, 'exit_ack');
  ws.close();

  const { code } = await follow.exited;
  assert.equal(code, 0, follow.stderr());
  const lines = follow.stdout().toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number; stream: string; time: number; text: string });
  assert.deepEqual(lines.map((l) => [l.seq, l.stream, l.text]), [
    [1, 'stdout', 'price: 5'],
    [2, 'stderr', 'warning\n'],
    [3, 'stdout', '€ "quoted" \\ done\n'],
  ]);
  assert.ok(lines.every((l) => typeof l.time === 'number'));
});

test('CI: exit codes and one-line errors for unreachable gateways, usage errors, runner start --json and runs wait', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const dead = { ...g.env, CCG_GATEWAY: `https://127.0.0.1:${await deadPort()}` };
  for (const argv of [['runs', 'wait', run.id], ['runs', 'logs', run.id, '--follow'], ['runs', 'logs', run.id], ['runs', 'show', run.id], ['policy', 'show']]) {
    const r = await runCli([...argv, '--json'], dead);
    assert.equal(r.code, 69, `${argv.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(JSON.parse(r.stderr.trim()).error.code, 'ERR_UNREACHABLE');
  }

  for (const [argv, text] of [
    [['runs', 'wait'], 'Not enough positional arguments'],
    [['runs', 'list', '--bogus'], 'Unsupported option name'],
    [['no-such-command'], 'unknown command'],
  ] as const) {
    const r = await runCli([...argv, '--json'], g.env);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '', 'usage errors stay off stdout');
    const e = JSON.parse(r.stderr.trim()) as { error: { code: string; message: string } };
    assert.equal(e.error.code, 'ERR_USAGE');
    assert.ok(e.error.message.includes(text), e.error.message);
    const human = await runCli([...argv], g.env);
    assert.match(human.stderr, /^ccg: .+\n$/);
  }
  // A bad --limit is named as such, here, before any request (it was the gateway's schema text).
  for (const limit of ['0', 'abc', '100000', '-1', '1.5']) {
    const r = await runCli(['runs', 'list', `--limit=${limit}`], g.env);
    assert.equal(r.code, 1, limit);
    assert.match(r.stderr, /^ccg: --limit must be a whole number from 1 to 500/, limit);
  }
  assert.equal((await runCli(['runs', 'list', '--limit', '500'], g.env)).code, 0);

  // runner start --json: progress as JSON lines on stderr, the result on stdout.
  const runner = await runCli(['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--spool-dir', tempDir(), '--json', '--', 'sh', '-c', 'echo hi; exit 3'], { CCG_RUN_TOKEN: run.token });
  assert.equal(runner.code, 3, runner.stderr);
  assert.deepEqual(JSON.parse(runner.stdout), { runId: run.id, exitCode: 3 });
  for (const line of runner.stderr.trim().split('\n')) assert.equal(typeof (JSON.parse(line) as { status: string }).status, 'string', line);

  // --cmd-file: a prompt from a file (or stdin), refused clearly when it cannot be one.
  const start = ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--spool-dir', tempDir()];
  const blank = join(tempDir(), 'blank.md');
  writeFileSync(blank, ' \n\n');
  for (const [args, message] of [
    [['--cmd', 'a', '--cmd-file', blank], /^ccg: give either --cmd or --cmd-file, not both/],
    [['--cmd-file', '/nonexistent/prompt.md'], /^ccg: cannot read --cmd-file \/nonexistent\/prompt\.md: ENOENT/],
    [['--cmd-file', blank], /^ccg: --cmd-file: the prompt is empty/],
    [['--cmd-file', blank, '--', 'true'], /^ccg: --cmd-file: the prompt is empty/],
  ] as const) {
    const r = await runCli([...start, ...args], { CCG_RUN_TOKEN: run.token });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, message);
  }

  const wait = await runCli(['runs', 'wait', run.id, '--json'], g.env);
  assert.equal(wait.code, 3);
  const waited = JSON.parse(wait.stdout) as { run: RunSummary };
  assert.deepEqual([waited.run.status, waited.run.exitCode], ['exited', 3]);

  const help = spawnCcg(['--help'], {});
  assert.equal((await help.exited).code, 0);
  const usage = help.stdout().toString('utf8');
  for (const text of ['66 not found', '69 gateway unreachable', '77 authentication', '124 timeout', "run's own exit code", 'docs/CI.md', 'ccg tui', 'ccg policy set']) assert.ok(usage.includes(text), text);
});

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { RunSummary } from '../../protocol/run.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { spawnCcg } from '../helpers/processes.js';

function seqOutput(n: number): Buffer {
  let s = '';
  for (let i = 1; i <= n; i++) s += `${i}\n`;
  return Buffer.from(s);
}

test('a runner streams `seq 1 200000`; `ccg runs logs` gives it back byte for byte, with the exit code', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const created = JSON.parse((await runCli(['runs', 'create', '--name', 'seq', '--json'], g.env)).stdout) as CreateRunResponse;

  const started = performance.now();
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', created.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--quiet', '--no-collect', '--spool-dir', tempDir(), '--', 'sh', '-c', 'seq 1 200000; echo done >&2; exit 7'],
    { CCG_RUN_TOKEN: created.token },
  );
  const { code } = await runner.exited;
  const seconds = (performance.now() - started) / 1000;
  assert.equal(code, 7, `runner exits with the child's code; stderr: ${runner.stderr()}`);
  t.diagnostic(`streamed 200000 lines (1.3 MB) end to end in ${seconds.toFixed(2)} s: ${Math.round(200000 / seconds)} lines/s including process start`);

  const logs = await runCli(['runs', 'logs', created.id], g.env);
  assert.equal(logs.code, 0, logs.stderr);
  const expected = Buffer.concat([seqOutput(200000), Buffer.from('done\n')]);
  assert.equal(logs.stdoutBytes.length, expected.length, 'same length');
  assert.ok(logs.stdoutBytes.equals(expected), 'byte-identical');

  const show = JSON.parse((await runCli(['runs', 'show', created.id, '--json'], g.env)).stdout) as { run: RunSummary };
  assert.equal(show.run.status, 'exited');
  assert.equal(show.run.exitCode, 7);
  assert.equal(show.run.bytes, expected.length);
  assert.equal(show.run.runner?.mode, 'command');

  const wait = await runCli(['runs', 'wait', created.id, '--timeout', '10s'], g.env);
  assert.equal(wait.code, 7, "`runs wait` exits with the run's code");
  // However short the timeout: an ended run is reported as ended (it said "still not finished after 0").
  for (const timeout of ['0', '1ms']) assert.equal((await runCli(['runs', 'wait', created.id, '--timeout', timeout], g.env)).code, 7, `--timeout ${timeout}`);
  assert.match((await runCli(['runs', 'wait', created.id, '--timeout', ''], g.env)).stderr, /--timeout/, 'an empty timeout is an error, not "forever"');

  // Resuming from a sequence number gives exactly the tail.
  const json = await runCli(['runs', 'logs', created.id, '--json'], g.env);
  const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; stream: string; text: string });
  assert.deepEqual(lines.map((l) => l.seq), lines.map((_, i) => i + 1), 'every seq once, in order');
  assert.equal(lines.at(-1)!.stream, 'stderr');
  const from = Math.ceil(lines.length / 2);
  const tail = await runCli(['runs', 'logs', created.id, '--from', String(from)], g.env);
  assert.equal(tail.stdout, lines.slice(from - 1).map((l) => l.text).join(''));
});

test('the seed spelling: --cmd drives claude over stream-json, with the prompt on its stdin (not its command line)', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const created = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  // A stand-in claude that prints its argv and the first line of its stdin as one JSON line, then exits.
  const fake = `${tempDir()}/claude`;
  const { writeFileSync, chmodSync } = await import('node:fs');
  writeFileSync(fake, `#!/bin/sh\nnode -e 'require("readline").createInterface({input:process.stdin}).once("line",(l)=>{console.log(JSON.stringify({argv:process.argv.slice(1),stdin:JSON.parse(l)}));process.exit(0)})' -- "$@"\n`);
  chmodSync(fake, 0o755);
  const runner = spawnCcg(['runner', 'start', '--run-id', created.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--claude-bin', fake, '--spool-dir', tempDir(), '--cmd', 'fix the "bug"; rm -rf /'], {
    CCG_RUN_TOKEN: created.token,
  });
  const { code } = await runner.exited;
  assert.equal(code, 0, runner.stderr());
  const logs = await runCli(['runs', 'logs', created.id], g.env);
  assert.deepEqual(JSON.parse(logs.stdout), {
    argv: ['-p', '--output-format', 'stream-json', '--verbose', '--input-format', 'stream-json', '--permission-prompt-tool', 'stdio', '--include-hook-events', '--include-partial-messages'],
    stdin: { type: 'user', message: { role: 'user', content: 'fix the "bug"; rm -rf /' } },
  });
  const show = JSON.parse((await runCli(['runs', 'show', created.id, '--json'], g.env)).stdout) as { run: RunSummary };
  assert.equal(show.run.runner?.mode, 'claude');
  assert.ok(!show.run.runner?.command.some((a) => a.includes('rm -rf')), 'the prompt is not on the command line (ps)');
});

test('runs wait --timeout is kept by a gateway that accepts the socket and never tells the run\'s state', { timeout: 30_000 }, async (t) => {
  // A stand-in on loopback that takes the operator socket and says nothing.
  const server = createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const c of wss.clients) c.terminate();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const r = await runCli(['runs', 'wait', '3k9wtr0836hs', '--timeout', '300ms'], { CCG_GATEWAY: `http://127.0.0.1:${port}`, CCG_TOKEN: `ccgo_${'A'.repeat(43)}` });
  assert.equal(r.code, 124, r.stderr);
  assert.match(r.stderr, /still not finished after 300ms/);
});

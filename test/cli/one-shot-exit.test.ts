import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { endsWithItsOutput } from '../../cli/main.js';
import { tempDir } from '../helpers/gateway.js';
import { CCG_BIN } from '../helpers/processes.js';

// bin/ccg exits as soon as a one-request command's output is written (cli/command-table.ts
// `oneShot`), rather than waiting for its connection to close: start-up time of a script's
// `ccg runs approve`. What must hold: only those commands, and never a byte of output lost.

test('only runs list and runs approve end with their output; streams and the runner do not', () => {
  for (const argv of [['runs', 'list'], ['runs'], ['runs', 'list', '--json', '--status', 'running'], ['--json', 'runs', 'approve', '7k2m9x4q3w8z', 'aJx2bbbbbbbbbbbbbbbbbbbbbb']]) {
    assert.equal(endsWithItsOutput(argv), true, argv.join(' '));
  }
  for (const argv of [['runs', 'logs', '7k2m9x4q3w8z', '--follow'], ['runs', 'events', 'x'], ['runs', 'wait', 'x'], ['runner', 'start', '--', 'ls'], ['tui'], ['serve'], ['machine', 'start'], ['--version'], ['runs', 'show', 'x'], []]) {
    assert.equal(endsWithItsOutput(argv), false, argv.join(' '));
  }
});

test('a large runs list --json read slowly through a pipe arrives whole before bin/ccg exits', async (t) => {
  const runs = Array.from({ length: 500 }, (_, i) => ({
    id: `7k2m9x4q3w${String(i % 100).padStart(2, '0')}`, name: `run ${i} ${'n'.repeat(3000)}`, status: 'exited', runnerConnected: false,
    createdAt: 1_700_000_000_000 + i, updatedAt: 1_700_000_000_000, startedAt: null, endedAt: null, exitCode: 0, signal: null, reason: null,
    lastSeq: i, bytes: i, createdBy: 'admin', runner: null,
  }));
  const body = JSON.stringify({ runs });
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const env = { PATH: process.env['PATH'], HOME: tempDir('ccg-home-'), CCG_GATEWAY: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, CCG_TOKEN: `ccgo_${'a'.repeat(43)}` };
  const child = spawn(process.execPath, [CCG_BIN, 'runs', 'list', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // Nothing is read until the pipe has been full for a while: the writes wait, and so must the exit.
  child.stdout.pause();
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((r) => child.on('close', r));
  await new Promise((r) => setTimeout(r, 1500));
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  child.stdout.resume();
  const code = await closed;
  assert.equal(code, 0, stderr);
  const out = Buffer.concat(chunks).toString('utf8');
  assert.ok(out.length > 1_500_000, `${out.length} bytes`);
  assert.deepEqual(JSON.parse(out), { runs });
});

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createGateway } from '../../server/gateway.js';
import { InUseError } from '../../server/instance-lock.js';
import { silentLogger } from '../../server/log.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/gateway.js';
import { spawnCcg } from '../helpers/processes.js';
import { startServe } from '../helpers/serve.js';

// Issue 13 (High): two `ccg serve` on one port both listened (uWebSockets.js sets SO_REUSEPORT
// by default) and split the traffic; two on one data directory both ran on one store.

test('a second ccg serve on the same port exits 75 naming the first; every request still reaches the first', async (t) => {
  const first = await startServe(tempDir());
  t.after(() => first.stop());
  const port = Number(new URL(first.url).port);
  const second = spawnCcg(['serve', '--data', tempDir(), '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn'], {});
  t.after(() => second.child.kill('SIGKILL'));
  const { code } = await second.exited;
  assert.equal(code, 75, second.stderr());
  assert.match(second.stderr(), new RegExp(`in use by pid ${first.pid}\\b`));
  // Each CLI call is a new connection: with two listeners about half went to the second.
  for (let i = 0; i < 12; i++) {
    const r = await runCli(['runs', 'list', '--json'], first.env);
    assert.equal(r.code, 0, r.stderr);
  }
});

test('a second ccg serve on the same data directory exits 75 naming the first (--json: ERR_IN_USE)', async (t) => {
  const dir = tempDir();
  const first = await startServe(dir);
  t.after(() => first.stop());
  assert.equal(readFileSync(join(dir, 'serve.lock'), 'utf8').split(' ')[0], String(first.pid));
  const second = spawnCcg(['serve', '--data', dir, '--port', '0', '--host', '127.0.0.1', '--json'], {});
  t.after(() => second.child.kill('SIGKILL'));
  const { code } = await second.exited;
  assert.equal(code, 75, second.stderr());
  const err = JSON.parse(second.stderr().trim().split('\n').at(-1)!) as { error: { code: string; message: string; exit: number } };
  assert.equal(err.error.code, 'ERR_IN_USE');
  assert.equal(err.error.exit, 75);
  assert.match(err.error.message, new RegExp(`in use by another ccg serve, pid ${first.pid}\\b`));
  assert.equal((await runCli(['runs', 'list', '--json'], first.env)).code, 0, 'the first goes on');
  await first.stop();
  assert.ok(!existsSync(join(dir, 'serve.lock')), 'a clean stop removes the lock');
});

test('a lock left by a dead process is taken over; one held by a live process is not', async (t) => {
  const dir = tempDir();
  mkdirSync(dir, { recursive: true });
  const gone = spawnCcg(['--version'], {});
  await gone.exited;
  writeFileSync(join(dir, 'serve.lock'), `${gone.child.pid} -\n`);
  const g = await createGateway({ dataDir: dir, host: '127.0.0.1', port: 0, log: silentLogger });
  t.after(() => g.close());
  assert.equal(readFileSync(join(dir, 'serve.lock'), 'utf8').split(' ')[0], String(process.pid));
  await assert.rejects(createGateway({ dataDir: dir, host: '127.0.0.1', port: 0, log: silentLogger }), (err: unknown) => err instanceof InUseError && err.what === 'data-dir' && err.pid === process.pid);
  // A gateway that could not listen releases the data directory it locked.
  const other = tempDir();
  await assert.rejects(createGateway({ dataDir: other, host: '127.0.0.1', port: g.port, log: silentLogger }), (err: unknown) => err instanceof InUseError && err.what === 'port');
  assert.ok(!existsSync(join(other, 'serve.lock')));
});

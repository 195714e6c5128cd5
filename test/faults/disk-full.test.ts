import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../cli/client/api.js';
import { CreateRunResponse, HealthResponse, RunResponse } from '../../protocol/api.js';
import { contiguous, readStreams, scaled, scratch, spoolBytes } from '../helpers/faults.js';
import { request } from '../helpers/http.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { startServe, type ServeProc } from '../helpers/serve.js';

const EMIT = fileURLToPath(new URL('../../../test/fixtures/fault-emitter.mjs', import.meta.url));
const MiB = 1024 * 1024;

/**
 * The data directory on a small tmpfs (needs root to mount), filled up with a file that is
 * deleted when space should return. There is no stand-in without mount: lmdb-js grows its map
 * on demand, so a mapSize limit never fills, and RLIMIT_FSIZE does not bite because LMDB's
 * data file is already sized for its map. Without root the test is skipped and says so.
 */
interface Disk {
  dataDir: string;
  start(): Promise<ServeProc>;
  fill(): void;
  release(): void;
  cleanup(): void;
}

function tmpfsDisk(): Disk | string {
  if (process.getuid?.() !== 0) return 'not root';
  const mnt = mkdtempSync(join(tmpdir(), 'ccg-fault-disk-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mnt], { encoding: 'utf8' });
  if (r.status !== 0) return `mount failed: ${(r.stderr || r.error?.message || '').trim()}`;
  const dataDir = join(mnt, 'data');
  mkdirSync(dataDir);
  const filler = join(mnt, 'filler');
  return {
    dataDir,
    start: () => startServe(dataDir),
    fill() {
      // Leave about 256 KiB free: the next LMDB pages that need new space fail.
      const s = statfsSync(mnt);
      const fd = openSync(filler, 'w');
      const block = Buffer.alloc(MiB);
      for (let left = s.bavail * s.bsize - 256 * 1024; left > 0; left -= block.length) writeSync(fd, block, 0, Math.min(block.length, left));
      closeSync(fd);
    },
    release() {
      rmSync(filler, { force: true });
    },
    cleanup() {
      spawnSync('umount', ['-l', mnt]);
      rmSync(mnt, { recursive: true, force: true });
    },
  };
}

// The data directory's disk fills up while a runner streams: the gateway stays up, refuses the
// writes with a clear error (ERR_STORAGE, "disk ... full"), the runner keeps its output in its
// spool and retries; once space returns everything is delivered byte-identical, and the
// database reopens intact after a restart.
test('disk full on the data dir: clear error, no crash, no corruption, recovery when space returns', async (t) => {
  const disk = tmpfsDisk();
  if (typeof disk === 'string') return t.skip(`needs a tmpfs on the data dir (${disk})`);
  const d = disk;
  t.after(() => d.cleanup());

  let gw = await d.start();
  t.after(() => gw.proc.child.kill('SIGKILL'));
  const api = () => new ApiClient({ gateway: gw.url, token: gw.env['CCG_TOKEN']!, fingerprint: gw.fingerprint });
  const run = await api().json('POST', '/api/v1/runs', CreateRunResponse, { name: 'disk full' });
  const out = join(scratch(t, 'ccg-fault-disk-out-'), 'child');
  const spoolRoot = scratch(t, 'ccg-fault-spool-');
  const spool = join(spoolRoot, run.id);

  const runner = spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--quiet', '--spool-dir', spoolRoot, '--', process.execPath, EMIT, String(scaled(120_000, 60_000)), '5000', '0', out, '5'],
    { ...gw.env, CCG_RUN_TOKEN: run.token },
  );
  t.after(() => runner.child.kill('SIGKILL'));
  // The disk fills up mid-stream.
  await waitFor(async () => ((await api().json('GET', `/api/v1/runs/${run.id}`, RunResponse)).run.lastSeq > 10 ? true : undefined), 20_000, 'output to flow');
  d.fill();

  // A clear error on both sides, and the gateway still serving.
  await waitFor(() => (/store\.write_failed/.test(gw.proc.stderr()) ? true : undefined), 30_000, 'the gateway to log the failed write');
  await waitFor(() => (/ERR_STORAGE/.test(runner.stderr()) ? true : undefined), 30_000, 'the runner to report ERR_STORAGE');
  await new Promise((r) => setTimeout(r, 2000));
  assert.ok(gw.alive(), `the gateway survives a full disk (exit ${gw.proc.child.exitCode} ${gw.proc.child.signalCode}); stderr: ${gw.proc.stderr().slice(-3000)}`);
  assert.match(gw.proc.stderr(), /storage write refused: the disk of the data directory is full/, 'the log says the disk is full');
  assert.match(runner.stderr(), /ERR_STORAGE: storage write refused: the disk of the data directory is full/);
  assert.equal((await api().json('GET', '/healthz', HealthResponse)).ok, true, 'reads still work');
  // But it is not ready for writes: a load balancer's check (/readyz) would take it out.
  const notReady = await request(gw, 'GET', '/readyz');
  assert.equal(notReady.status, 503);
  assert.deepEqual(HealthResponse.parse(notReady.json).store, { ok: false, kind: 'lmdb' });
  assert.ok(spoolBytes(spool) > 0, 'the runner keeps the undelivered output in its spool');

  // Space returns: the runner's retries get through.
  d.release();
  const { code } = await runner.exited;
  assert.equal(code, 0, `runner exit; stderr: ${runner.stderr().slice(-1500)}`);
  const check = async (when: string) => {
    const stored = await readStreams({ url: gw.url, fingerprint: gw.fingerprint, token: gw.env['CCG_TOKEN']! }, run.id);
    assert.ok(contiguous(stored.seqs), `${when}: every seq once, in order`);
    assert.ok(stored.stdout.equals(readFileSync(`${out}.stdout`)), `${when}: stdout byte-identical`);
    assert.ok(stored.stderr.equals(readFileSync(`${out}.stderr`)), `${when}: stderr byte-identical`);
    const { run: summary } = await api().json('GET', `/api/v1/runs/${run.id}`, RunResponse);
    assert.deepEqual([summary.status, summary.exitCode], ['exited', 0], `${when}: final state`);
  };
  await check('after recovery');
  assert.equal((await request(gw, 'GET', '/readyz')).status, 200, 'ready again once space returned');
  assert.ok(!existsSync(spool), 'spool removed once everything was acknowledged');

  // No corruption: a restarted gateway opens the same database and has the same log.
  await gw.stop();
  gw = await d.start();
  await check('after a restart');
  await gw.stop();
});

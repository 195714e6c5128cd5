import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../cli/client/api.js';
import { CreateRunResponse, RunResponse } from '../../protocol/api.js';
import { STREAM_STDERR, STREAM_STDOUT } from '../../protocol/frames.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { contiguous, killPid, readStreams, scaled, scratch } from '../helpers/faults.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { startServe } from '../helpers/serve.js';

const EMIT = fileURLToPath(new URL('../../../test/fixtures/fault-emitter.mjs', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The child-stream bytes held in a runner spool directory, in seq order (the spool's record format). */
function spooled(dir: string): { stdout: Buffer; stderr: Buffer; records: number } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let records = 0;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.seg')).sort()) {
    const b = readFileSync(join(dir, f));
    for (let at = 0; at + 13 <= b.length; ) {
      const stream = b[at + 8]!;
      const len = b.readUInt32BE(at + 9);
      if (at + 13 + len > b.length) break;
      const data = b.subarray(at + 13, at + 13 + len);
      if (stream === STREAM_STDOUT) out.push(data);
      if (stream === STREAM_STDERR) err.push(data);
      records++;
      at += 13 + len;
    }
  }
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), records };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// The runner is killed (-9) while output it has not delivered sits in its spool, and started
// again for the same run with the same spool directory. The gateway shows the runner away,
// then connected again; the restarted runner delivers the spooled output first, stops the
// previous child if that one outlived its runner, runs the command again, and the run ends
// with the new child's exit code.
test('runner killed and restarted with the same run: shown away, then resumed; spooled output delivered', async (t) => {
  const gw = await startServe(scratch(t, 'ccg-fault-restart-'));
  t.after(() => gw.stop());
  const proxy = await FaultProxy.start(Number(new URL(gw.url).port));
  t.after(() => proxy.close());
  const api = new ApiClient({ gateway: gw.url, token: gw.env['CCG_TOKEN']!, fingerprint: gw.fingerprint });
  const show = async () => (await api.json('GET', `/api/v1/runs/${run.id}`, RunResponse)).run;
  const run = await api.json('POST', '/api/v1/runs', CreateRunResponse, { name: 'restart' });
  const work = scratch(t, 'ccg-fault-restart-out-');
  const spoolRoot = scratch(t, 'ccg-fault-spool-');
  const spoolDir = join(spoolRoot, run.id);
  const env = { CCG_GATEWAY: proxy.url, CCG_FINGERPRINT: gw.fingerprint, CCG_RUN_TOKEN: run.token };
  const argv = (out: string, lines: number, ms: number, code: number, seed: number) =>
    ['runner', 'start', '--run-id', run.id, '--quiet', '--spool-dir', spoolRoot, '--grace', '1s', '--', process.execPath, EMIT, String(lines), String(ms), String(code), out, String(seed)];

  // First runner: its child would run for a long time and outlives the runner.
  const outA = join(work, 'a');
  const a = spawnCcg(argv(outA, scaled(100_000, 40_000), 60_000, 3, 1), { ...env, FAULT_EMITTER_OUTLIVE: '1' });
  t.after(() => a.child.kill('SIGKILL'));
  await waitFor(async () => ((await show()).status === 'running' && (await show()).lastSeq > 20 ? true : undefined), 20_000, 'run A streaming');
  const childA = Number(readFileSync(`${outA}.pid`, 'utf8'));
  t.after(() => killPid(childA));

  // Hold the output back (the connection stays up, nothing is acknowledged), then kill -9.
  proxy.stall();
  await sleep(1500);
  a.child.kill('SIGKILL');
  await a.exited;
  const held = spooled(spoolDir);
  assert.ok(held.records > 0, 'the killed runner left unacknowledged output in its spool');
  proxy.heal();
  await waitFor(async () => ((await show()).runnerConnected ? undefined : true), 20_000, 'the gateway to show the runner away');
  const away = await show();
  assert.equal(away.status, 'running', 'the run is still running while its runner is away');
  assert.ok(alive(childA), 'the first child outlived its runner (the case to handle)');

  // Second runner, same run, same spool directory.
  const outB = join(work, 'b');
  const b = spawnCcg(argv(outB, scaled(20_000, 5000), 2000, 5, 2), env);
  t.after(() => b.child.kill('SIGKILL'));
  await waitFor(async () => ((await show()).runnerConnected ? true : undefined), 20_000, 'the runner to be back');
  const { code } = await b.exited;
  assert.equal(code, 5, `restarted runner exit; stderr: ${b.stderr().slice(-1500)}`);
  await waitFor(() => (alive(childA) ? undefined : true), 10_000, 'the first child to be stopped');

  const final = await show();
  assert.deepEqual([final.status, final.exitCode, final.runnerConnected], ['exited', 5, false]);
  const stored = await readStreams({ url: gw.url, fingerprint: gw.fingerprint, token: gw.env['CCG_TOKEN']! }, run.id);
  assert.ok(contiguous(stored.seqs), 'every seq once, in order');
  for (const stream of ['stdout', 'stderr'] as const) {
    const fromB = readFileSync(`${outB}.${stream}`);
    const all = stored[stream];
    assert.ok(all.subarray(all.length - fromB.length).equals(fromB), `${stream}: ends with everything the second child wrote`);
    const fromA = all.subarray(0, all.length - fromB.length);
    assert.ok(readFileSync(`${outA}.${stream}`).subarray(0, fromA.length).equals(fromA), `${stream}: starts with what the first child wrote, without a gap`);
    assert.ok(fromA.subarray(fromA.length - held[stream].length).equals(held[stream]), `${stream}: the spooled output of the killed runner was delivered`);
  }
  assert.ok(!existsSync(spoolDir), 'spool removed at the end');
});

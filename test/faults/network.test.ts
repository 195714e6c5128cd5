import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../cli/client/api.js';
import { CreateRunResponse, RunResponse } from '../../protocol/api.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { contiguous, readStreams, scaled, scratch, spoolBytes } from '../helpers/faults.js';
import { spawnCcg, waitFor, type Proc } from '../helpers/processes.js';
import { startServe } from '../helpers/serve.js';

const EMIT = fileURLToPath(new URL('../../../test/fixtures/fault-emitter.mjs', import.meta.url));
const SEGMENT = 8 * 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function written(out: string): number {
  const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
  return size(`${out}.stdout`) + size(`${out}.stderr`);
}

// Runners reach the gateway through a proxy that delays, cuts, stalls, takes the network down
// and finally blackholes the connections (no byte and no close gets through). After the
// network heals, every log is byte-identical; the spool held what could not be delivered,
// gave it back once acknowledged, and is removed at the end.
test('through a proxy that delays, cuts, stalls and blackholes: logs byte-identical, spool bounded and resumed', async (t) => {
  const gw = await startServe(scratch(t, 'ccg-fault-net-'));
  t.after(() => gw.stop());
  const proxy = await FaultProxy.start(Number(new URL(gw.url).port));
  t.after(() => proxy.close());
  const api = new ApiClient({ gateway: gw.url, token: gw.env['CCG_TOKEN']!, fingerprint: gw.fingerprint });
  const work = scratch(t, 'ccg-fault-net-out-');

  // One big stream (several spool segments) and two ordinary ones, over about 16 s.
  const specs = [
    { lines: scaled(320_000, 140_000), ms: scaled(16_000, 9000) },
    { lines: scaled(100_000, 20_000), ms: scaled(14_000, 8000) },
    { lines: scaled(100_000, 20_000), ms: scaled(14_000, 8000) },
  ];
  const runners: { run: CreateRunResponse; proc: Proc; out: string; spool: string }[] = [];
  for (const [i, spec] of specs.entries()) {
    const run = await api.json('POST', '/api/v1/runs', CreateRunResponse, { name: `net ${i}` });
    const out = join(work, `child-${i}`);
    const spoolRoot = scratch(t, 'ccg-fault-spool-');
    const proc = spawnCcg(
      ['runner', 'start', '--run-id', run.id, '--quiet', '--spool-dir', spoolRoot, '--heartbeat', '1s', '--', process.execPath, EMIT, String(spec.lines), String(spec.ms), '0', out, String(i + 7)],
      { CCG_GATEWAY: proxy.url, CCG_FINGERPRINT: gw.fingerprint, CCG_RUN_TOKEN: run.token },
    );
    t.after(() => proc.child.kill('SIGKILL'));
    runners.push({ run, proc, out, spool: join(spoolRoot, run.id) });
  }
  const big = runners[0]!;
  let maxSpool = 0;
  const sampler = setInterval(() => (maxSpool = Math.max(maxSpool, spoolBytes(big.spool))), 50);
  t.after(() => clearInterval(sampler));

  proxy.delay(20, 120);
  await sleep(1500);
  proxy.cut();
  await sleep(1000);
  proxy.stall(); // short: the connections survive it
  await sleep(2500);
  proxy.heal();
  await sleep(1000);
  // The network goes down: nothing is delivered, so everything written meanwhile is spooled.
  maxSpool = 0;
  const downAt = written(big.out);
  proxy.refuse(true);
  proxy.cut();
  await sleep(scaled(4000, 3000));
  const downBytes = written(big.out) - downAt;
  const spoolWhileDown = maxSpool;
  proxy.heal();
  proxy.noDelay();
  // Once resumed, the spool gives back what was acknowledged (whole segments are deleted).
  const drained = await waitFor(() => (spoolBytes(big.spool) < 2 * SEGMENT + 1024 * 1024 ? true : undefined), 60_000, 'the spool to drain').catch(() => false);
  await sleep(500);
  // A connection that silently stops passing anything: only the runner's heartbeat notices.
  const before = proxy.accepted;
  proxy.blackhole();

  const exits = await Promise.all(runners.map((r) => r.proc.exited));
  clearInterval(sampler);
  t.diagnostic(`big stream: ${(downBytes / 1e6).toFixed(1)} MB written while the network was down; spool peaked at ${(spoolWhileDown / 1e6).toFixed(1)} MB; ${proxy.accepted} connections through the proxy`);

  assert.ok(proxy.accepted > before, 'the runners reconnected after the blackhole');
  for (const [i, r] of runners.entries()) {
    assert.equal(exits[i]!.code, 0, `runner ${i}; stderr: ${r.proc.stderr().slice(-1500)}`);
    const stored = await readStreams({ url: gw.url, fingerprint: gw.fingerprint, token: gw.env['CCG_TOKEN']! }, r.run.id);
    assert.ok(contiguous(stored.seqs), `run ${i}: every seq once, in order`);
    assert.ok(stored.stdout.equals(readFileSync(`${r.out}.stdout`)), `run ${i}: stdout byte-identical`);
    assert.ok(stored.stderr.equals(readFileSync(`${r.out}.stderr`)), `run ${i}: stderr byte-identical`);
    const { run } = await api.json('GET', `/api/v1/runs/${r.run.id}`, RunResponse);
    assert.deepEqual([run.status, run.exitCode], ['exited', 0]);
    assert.ok(!existsSync(r.spool), `run ${i}: spool removed at the end`);
  }
  // The spool held what the network did not carry (records add 13 bytes each), and no more
  // than that plus the two segments that may be partly acknowledged.
  assert.ok(spoolWhileDown >= 0.9 * downBytes, `spool (${spoolWhileDown}) holds the ${downBytes} bytes written while down`);
  assert.ok(spoolWhileDown <= downBytes * 1.2 + 2 * SEGMENT, `spool (${spoolWhileDown}) bounded by what was undelivered (${downBytes}) + 2 segments`);
  assert.ok(drained, 'the spool drained back below two segments once the network healed');
});

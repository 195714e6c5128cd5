import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../cli/client/api.js';
import { CreateRunResponse, RunResponse } from '../../protocol/api.js';
import { committedSeqOf, contiguous, followLive, readStreams, scaled, scratch, type LiveView } from '../helpers/faults.js';
import { spawnCcg, type Proc } from '../helpers/processes.js';
import { freePort, startServe, type ServeProc } from '../helpers/serve.js';

const EMIT = fileURLToPath(new URL('../../../test/fixtures/fault-emitter.mjs', import.meta.url));

const STREAMS = 10;
const LINES = scaled(200_000, 20_000);
const KILLS = scaled(5, 2);

// kill -9 of the gateway at random moments while 10 runner processes stream and a live viewer
// follows each run: after the last restart, every run's stored stdout and stderr are
// byte-identical to what its child wrote, every seq is there once, and every run has its child's
// exit code. Viewers get chunks before their commit (fan-out before the commit), so a kill can
// land after a viewer saw a chunk the store does not have yet: each viewer, resuming after the
// last seq it saw, still saw every seq exactly once, in order, and exactly the stored bytes.
test(`kill -9 of the gateway ${KILLS}× during ${STREAMS} streams of ${LINES} lines, each followed live: every stored log and every viewer's copy byte-identical`, async (t) => {
  const dataDir = scratch(t, 'ccg-fault-kill-');
  const port = await freePort();
  let gw: ServeProc = await startServe(dataDir, port);
  t.after(() => gw.proc.child.kill('SIGKILL'));
  const api = () => new ApiClient({ gateway: gw.url, token: gw.env['CCG_TOKEN']!, fingerprint: gw.fingerprint });
  const current = () => ({ url: gw.url, fingerprint: gw.fingerprint, token: gw.env['CCG_TOKEN']! });
  const viewers: LiveView[] = [];
  t.after(() => viewers.forEach((v) => v.close()));

  const work = scratch(t, 'ccg-fault-kill-out-');
  const runners: { run: CreateRunResponse; proc: Proc; out: string; spool: string; code: number }[] = [];
  for (let i = 0; i < STREAMS; i++) {
    const run = await api().json('POST', '/api/v1/runs', CreateRunResponse, { name: `kill ${i}` });
    viewers.push(followLive(current, run.id));
    const out = join(work, `child-${i}`);
    const spool = scratch(t, 'ccg-fault-spool-');
    const code = i % 4;
    // Spread over about 8 s (full) so that the kills land mid-stream.
    const proc = spawnCcg(
      ['runner', 'start', '--run-id', run.id, '--quiet', '--spool-dir', spool, '--', process.execPath, EMIT, String(LINES), String(scaled(8000, 4000)), String(code), out, String(i + 1)],
      { ...gw.env, CCG_RUN_TOKEN: run.token },
    );
    t.after(() => proc.child.kill('SIGKILL'));
    runners.push({ run, proc, out, spool: join(spool, run.id), code });
  }

  const exits = Promise.all(runners.map((r) => r.proc.exited));
  // Kills after which a viewer had seen more than the restarted gateway had committed: the kill
  // landed between a fan-out and its commit (a lower bound: a runner may resend before we look).
  let viewerAhead = 0;
  for (let k = 0; k < KILLS; k++) {
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 1500));
    gw.proc.child.kill('SIGKILL');
    await gw.proc.exited;
    const seen = viewers.map((v) => v.last());
    await new Promise((r) => setTimeout(r, Math.random() * 1000));
    gw = await startServe(dataDir, port);
    const committed = await Promise.all(runners.map((r) => committedSeqOf(current(), r.run.id)));
    if (committed.some((c, i) => seen[i]! > c)) viewerAhead++;
  }
  const codes = await Promise.race([exits, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('runners did not finish within 5 min')), 300_000))]);

  let reconnected = 0;
  for (const [i, r] of runners.entries()) {
    assert.equal(codes[i]!.code, r.code, `runner ${i} exit; stderr: ${r.proc.stderr().slice(-1500)}`);
    if (/reconnect/.test(r.proc.stderr())) reconnected++;
    const stored = await readStreams({ url: gw.url, fingerprint: gw.fingerprint, token: gw.env['CCG_TOKEN']! }, r.run.id);
    const stdout = readFileSync(`${r.out}.stdout`);
    const stderr = readFileSync(`${r.out}.stderr`);
    assert.ok(contiguous(stored.seqs), `run ${i}: every seq once, in order`);
    assert.equal(stored.stdout.length, stdout.length, `run ${i}: stdout length`);
    assert.ok(stored.stdout.equals(stdout), `run ${i}: stdout byte-identical`);
    assert.ok(stored.stderr.equals(stderr), `run ${i}: stderr byte-identical (${stored.stderr.length} vs ${stderr.length})`);
    const { run } = await api().json('GET', `/api/v1/runs/${r.run.id}`, RunResponse);
    assert.deepEqual([run.status, run.exitCode], ['exited', r.code], `run ${i} final state`);
    assert.ok(!existsSync(r.spool), `run ${i}: the spool is removed once everything is acknowledged`);
    const v = viewers[i]!;
    const lastSeq = stored.seqs.at(-1)!;
    for (const t0 = Date.now(); v.last() < lastSeq && Date.now() - t0 < 60_000; ) await new Promise((r) => setTimeout(r, 50));
    assert.ok(contiguous(v.seqs), `run ${i}: the live viewer saw every seq once, in order (through ${v.seenBeforeCut.length} cuts)`);
    assert.equal(v.seqs.length, stored.seqs.length, `run ${i}: the live viewer saw every chunk`);
    assert.ok(v.stdout().equals(stored.stdout), `run ${i}: the live viewer's stdout is the stored stdout`);
    assert.ok(v.stderr().equals(stored.stderr), `run ${i}: the live viewer's stderr is the stored stderr`);
  }
  t.diagnostic(`${reconnected} of ${STREAMS} runners reconnected at least once; ${viewerAhead} of ${KILLS} kills left a viewer ahead of the store`);
  assert.ok(reconnected > 0, 'the kills hit the streams');
});

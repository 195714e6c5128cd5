import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../cli/client/api.js';
import { CreateRunResponse, RunResponse } from '../../protocol/api.js';
import { contiguous, followLive, readStreams, scaled, scratch, type LiveView } from '../helpers/faults.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';
import { spawnCcg, type Proc } from '../helpers/processes.js';
import { freePort, startServe, type ServeProc } from '../helpers/serve.js';

const EMIT = fileURLToPath(new URL('../../../test/fixtures/fault-emitter.mjs', import.meta.url));

const STREAMS = scaled(10, 4);
const LINES = scaled(100_000, 10_000);
const KILLS = scaled(4, 2);

// A three-node cluster (three nats-server with JetStream, R3; three `ccg serve --nats`). Runners
// are given every node's URL and start on node 1; a viewer of each run follows it on node 3, which
// is never killed. Nodes 1 and 2 are killed with SIGKILL in turn (each restarted on its port),
// and one NATS server is killed and restarted mid-way. At the end every run's stored output is
// byte-identical to what its child wrote, every seq is there once, and each viewer on node 3 saw
// every chunk exactly once, in order, though the runner moved between nodes under it.
test(`cluster: ${KILLS} SIGKILLs of gateway nodes and one of a NATS server during ${STREAMS} streams of ${LINES} lines: every run byte-identical, every seq once, a viewer on another node saw every chunk once`, async (t) => {
  const nats = await startNatsCluster(3);
  t.after(() => nats.stop());
  const dirs = [1, 2, 3].map((i) => scratch(t, `ccg-fault-cluster-${i}-`));
  const ports = [await freePort(), await freePort(), await freePort()];
  const args = ['--nats', nats.urls];
  const nodes: ServeProc[] = [];
  nodes.push(await startServe(dirs[0]!, ports[0], {}, args));
  for (const i of [1, 2]) {
    mkdirSync(join(dirs[i]!, 'certs'), { recursive: true, mode: 0o700 });
    for (const f of ['certs/cert.pem', 'certs/key.pem', 'secret.key']) copyFileSync(join(dirs[0]!, f), join(dirs[i]!, f));
    nodes.push(await startServe(dirs[i]!, ports[i], {}, args));
  }
  t.after(() => nodes.forEach((n) => n.proc.child.kill('SIGKILL')));
  const token = nodes[0]!.operatorToken;
  const fingerprint = nodes[0]!.fingerprint;
  const api = (i: number) => new ApiClient({ gateway: nodes[i]!.url, token, fingerprint });
  const gateways = nodes.map((n) => n.url).join(',');

  const viewers: LiveView[] = [];
  t.after(() => viewers.forEach((v) => v.close()));
  const work = scratch(t, 'ccg-fault-cluster-out-');
  const runners: { run: CreateRunResponse; proc: Proc; out: string; spool: string; code: number }[] = [];
  for (let i = 0; i < STREAMS; i++) {
    const run = await api(0).json('POST', '/api/v1/runs', CreateRunResponse, { name: `cluster ${i}` });
    viewers.push(followLive(() => ({ url: nodes[2]!.url, fingerprint, token }), run.id));
    const out = join(work, `child-${i}`);
    const spool = scratch(t, 'ccg-fault-cluster-spool-');
    const code = i % 3;
    const proc = spawnCcg(
      ['runner', 'start', '--run-id', run.id, '--quiet', '--spool-dir', spool, '--', process.execPath, EMIT, String(LINES), String(scaled(10_000, 5000)), String(code), out, String(i + 1)],
      { CCG_GATEWAY: gateways, CCG_FINGERPRINT: fingerprint, CCG_RUN_TOKEN: run.token },
    );
    t.after(() => proc.child.kill('SIGKILL'));
    runners.push({ run, proc, out, spool: join(spool, run.id), code });
  }

  const exits = Promise.all(runners.map((r) => r.proc.exited));
  for (let k = 0; k < KILLS; k++) {
    await new Promise((r) => setTimeout(r, 500 + Math.random() * 1500));
    const victim = k % 2; // nodes 1 and 2 in turn; node 3 carries the viewers
    nodes[victim]!.proc.child.kill('SIGKILL');
    await nodes[victim]!.proc.exited;
    if (k === 0) {
      // One NATS server dies too, and comes back: R3 keeps a quorum throughout.
      await nats.kill(1);
      await new Promise((r) => setTimeout(r, 500));
      await nats.restart(1);
    }
    await new Promise((r) => setTimeout(r, Math.random() * 800));
    nodes[victim] = await startServe(dirs[victim]!, ports[victim], {}, args);
  }
  const codes = await Promise.race([exits, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('runners did not finish within 5 min')), 300_000))]);

  let moved = 0;
  for (const [i, r] of runners.entries()) {
    assert.equal(codes[i]!.code, r.code, `runner ${i} exit; stderr: ${r.proc.stderr().slice(-1500)}`);
    if (/reconnect|moving|next gateway/i.test(r.proc.stderr())) moved++;
    const stored = await readStreams({ url: nodes[2]!.url, fingerprint, token }, r.run.id);
    const stdout = readFileSync(`${r.out}.stdout`);
    const stderr = readFileSync(`${r.out}.stderr`);
    assert.ok(contiguous(stored.seqs), `run ${i}: every seq once, in order`);
    assert.equal(stored.stdout.length, stdout.length, `run ${i}: stdout length`);
    assert.ok(stored.stdout.equals(stdout), `run ${i}: stdout byte-identical`);
    assert.ok(stored.stderr.equals(stderr), `run ${i}: stderr byte-identical (${stored.stderr.length} vs ${stderr.length})`);
    const { run } = await api(2).json('GET', `/api/v1/runs/${r.run.id}`, RunResponse);
    assert.deepEqual([run.status, run.exitCode], ['exited', r.code], `run ${i} final state`);
    assert.ok(!existsSync(r.spool), `run ${i}: the spool is removed once everything is acknowledged`);
    const v = viewers[i]!;
    const lastSeq = stored.seqs.at(-1)!;
    for (const t0 = Date.now(); v.last() < lastSeq && Date.now() - t0 < 60_000; ) await new Promise((r) => setTimeout(r, 50));
    assert.ok(contiguous(v.seqs), `run ${i}: the viewer on node 3 saw every seq once, in order (${v.seqs.length} chunks)`);
    assert.equal(v.seqs.length, stored.seqs.length, `run ${i}: the viewer on node 3 saw every chunk`);
    assert.ok(v.stdout().equals(stored.stdout), `run ${i}: the viewer's stdout is the stored stdout`);
    assert.ok(v.stderr().equals(stored.stderr), `run ${i}: the viewer's stderr is the stored stderr`);
  }
  t.diagnostic(`${moved} of ${STREAMS} runners moved to another node at least once`);
  assert.ok(moved > 0, 'the kills hit the streams');
});

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../cli/client/api.js';
import { CreateRunResponse, RunResponse } from '../../protocol/api.js';
import { contiguous, followLive, readStreams, scaled, scratch, type LiveView } from '../helpers/faults.js';
import { claudeRun } from '../helpers/claude-run.js';
import { runCli } from '../helpers/cli.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';
import { spawnCcg, type Proc } from '../helpers/processes.js';
import { startCcgCluster } from '../helpers/ccg-cluster.js';

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
  // One certificate for all (one pin); the secret key is the cluster's, in JetStream (ccg_meta).
  const cluster = await startCcgCluster({ args: () => ['--nats', nats.urls] });
  t.after(() => cluster.stop());
  const { CCG_TOKEN: token } = cluster.env(0);
  const fingerprint = cluster.fingerprint;
  const nodes = cluster.nodes;
  const api = (i: number) => new ApiClient({ gateway: nodes[i]!.url, token: token!, fingerprint });
  const gateways = cluster.urls;

  const viewers: LiveView[] = [];
  t.after(() => viewers.forEach((v) => v.close()));
  const work = scratch(t, 'ccg-fault-cluster-out-');
  const runners: { run: CreateRunResponse; proc: Proc; out: string; spool: string; code: number }[] = [];
  for (let i = 0; i < STREAMS; i++) {
    const run = await api(0).json('POST', '/api/v1/runs', CreateRunResponse, { name: `cluster ${i}` });
    viewers.push(followLive(() => ({ url: nodes[2]!.url, fingerprint, token: token! }), run.id));
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
    await cluster.kill(victim);
    if (k === 0) {
      // One NATS server dies too, and comes back: R3 keeps a quorum throughout.
      await nats.kill(1);
      await new Promise((r) => setTimeout(r, 500));
      await nats.restart(1);
    }
    await new Promise((r) => setTimeout(r, Math.random() * 800));
    await cluster.restart(victim);
  }
  const done = runners.map(() => false);
  runners.forEach((r, i) => void r.proc.exited.then(() => (done[i] = true)));
  const codes = await Promise.race([
    exits,
    new Promise<never>((_, reject) =>
      setTimeout(() => {
        // Which runners are stuck, what they last said, and what each node holds of their runs.
        void Promise.all(
          runners.map(async (r, i) => {
            const states = await Promise.all(
              [0, 1, 2].map((n) =>
                api(n)
                  .json('GET', `/api/v1/runs/${r.run.id}`, RunResponse)
                  .then(({ run }) => `node ${n + 1}: ${run.status} lastSeq ${run.lastSeq} bytes ${run.bytes} runner ${run.runnerConnected ? 'connected' : 'away'}`, (err: unknown) => `node ${n + 1}: ${String(err).slice(0, 120)}`),
              ),
            );
            return `runner ${i} ${done[i] ? 'exited' : 'STILL RUNNING'}; ${states.join('; ')}\n  stderr: ${r.proc.stderr().slice(-1200)}`;
          }),
        ).then((lines) => reject(new Error(`runners did not finish within 5 min:\n${lines.join('\n')}`)));
      }, 300_000),
    ),
  ]);

  let moved = 0;
  for (const [i, r] of runners.entries()) {
    assert.equal(codes[i]!.code, r.code, `runner ${i} exit; stderr: ${r.proc.stderr().slice(-1500)}`);
    if (/reconnect|moving|next gateway/i.test(r.proc.stderr())) moved++;
    // Node 3 hears of the exit (recorded on node 1 or 2) through its copy of the runs bucket: a
    // moment later, not never. What it serves of the run is read once it has.
    const t0 = Date.now();
    let run = (await api(2).json('GET', `/api/v1/runs/${r.run.id}`, RunResponse)).run;
    while (run.status !== 'exited' && Date.now() - t0 < 10_000) {
      await new Promise((res) => setTimeout(res, 100));
      run = (await api(2).json('GET', `/api/v1/runs/${r.run.id}`, RunResponse)).run;
    }
    if (Date.now() - t0 > 200) t.diagnostic(`run ${i}: node 3 showed the exit after ${Date.now() - t0} ms`);
    const elsewhere = await Promise.all([0, 1].map((n) => api(n).json('GET', `/api/v1/runs/${r.run.id}`, RunResponse).then((x) => x.run.status, (err: unknown) => String(err).slice(0, 80))));
    assert.deepEqual([run.status, run.exitCode], ['exited', r.code], `run ${i} final state on node 3 (nodes 1 and 2: ${elsewhere.join(', ')})`);
    const stored = await readStreams({ url: nodes[2]!.url, fingerprint, token: token! }, r.run.id);
    const stdout = readFileSync(`${r.out}.stdout`);
    const stderr = readFileSync(`${r.out}.stderr`);
    assert.ok(contiguous(stored.seqs), `run ${i}: every seq once, in order`);
    if (stored.stdout.length !== stdout.length) {
      // What node 3 said while it served the short read (its warnings: missing chunks, watchers).
      const said = `${nodes[2]!.serve?.proc.stdout().toString() ?? ''}${nodes[2]!.serve?.proc.stderr() ?? ''}`;
      t.diagnostic(`run ${i}: node 3 read ${stored.seqs.length} seqs, its record says lastSeq ${run.lastSeq}; node 3 warned:\n${said.split('\n').filter((l) => l.includes(r.run.id) || /watch|missing|nats/i.test(l)).slice(-40).join('\n')}`);
    }
    assert.equal(stored.stdout.length, stdout.length, `run ${i}: stdout length`);
    assert.ok(stored.stdout.equals(stdout), `run ${i}: stdout byte-identical`);
    assert.ok(stored.stderr.equals(stderr), `run ${i}: stderr byte-identical (${stored.stderr.length} vs ${stderr.length})`);
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

// Claude's approvals while the node holding its runner dies: each approval, asked through one node
// and answered from another, is answered exactly once and Claude goes on, whichever node the
// runner is on when the answer comes.
test('cluster: three approvals of a real Claude, its node SIGKILLed before each answer: each answered once, Claude finishes', async (t) => {
  const nats = await startNatsCluster(3);
  t.after(() => nats.stop());
  const cluster = await startCcgCluster({ args: () => ['--nats', nats.urls] });
  t.after(() => cluster.stop());
  const { CCG_TOKEN: token } = cluster.env(0);
  const fingerprint = cluster.fingerprint;
  const n3 = cluster.nodes[2]!;
  const env3 = { CCG_GATEWAY: n3.url, CCG_FINGERPRINT: fingerprint, CCG_TOKEN: token! };
  const tools = ['one', 'two', 'three'];
  // The runner knows nodes 1 and 2 only; operators watch and answer on node 3, never killed.
  const c = await claudeRun(t, [
    ...tools.map((n) => ({ text: `Step ${n}.`, tools: [{ name: 'Bash', input: { command: `touch ${n}.txt`, description: `Create ${n}.txt` } }] })),
    { text: 'All done.' },
  ], { args: ['--input-wait', '0'], gateway: { url: n3.url, fingerprint, operatorToken: token!, env: env3 }, runnerGateways: `${cluster.nodes[0]!.url},${cluster.nodes[1]!.url}` });
  for (const [i, n] of tools.entries()) {
    const req = await c.event('approval_requested', (e) => JSON.stringify(e.input).includes(`touch ${n}.txt`), 60_000);
    // The node the runner is on dies (1, then 2, then 1 again, each restarted after).
    const victim = i % 2;
    await cluster.kill(victim);
    const answered = await runCli(['runs', 'approve', c.run.id, req.approvalId, '--json'], env3);
    assert.equal(answered.code, 0, answered.stderr);
    await cluster.restart(victim);
    await c.event('approval_resolved', (e) => e.approvalId === req.approvalId, 60_000);
  }
  const { code } = await Promise.race([c.runner.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('claude did not finish within 3 min')), 180_000))]);
  assert.equal(code, 0, c.runner.stderr().slice(-1500));
  for (const n of tools) assert.ok(existsSync(join(c.cwd, `${n}.txt`)), `${n}.txt exists: its approval reached Claude`);
  const stored = await c.stored();
  const resolved = stored.filter((e) => e.type === 'approval_resolved');
  assert.equal(resolved.length, tools.length, 'every approval resolved once');
  assert.equal(new Set(resolved.map((e) => (e as { approvalId: string }).approvalId)).size, tools.length);
  assert.ok(resolved.every((e) => (e as { decision: string }).decision === 'allow'));
  assert.equal(c.api.requests.length, tools.length + 1, 'Claude asked the model once per step: no answer given twice');
});

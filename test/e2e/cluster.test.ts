import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../../cli/client/api.js';
import { CreateRunResponse, RunResponse } from '../../protocol/api.js';
import type { RunSummary } from '../../protocol/run.js';
import { claudeRun } from '../helpers/claude-run.js';
import { contiguous, followLive, readStreams, type LiveView } from '../helpers/faults.js';
import { tempDir } from '../helpers/gateway.js';
import { startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';
import { runCli } from '../helpers/cli.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { rawRunnerUpgrade, signedHeaders } from '../helpers/runner-socket.js';
import { startServe, type ServeProc } from '../helpers/serve.js';

/**
 * Three `ccg serve --nats` nodes on a three-server JetStream cluster (loopback). Each node is a
 * real process with its own data dir; they share the certificate (copied from the first, as
 * docs/OPERATIONS.md says to) and everything else, the secret key included, through JetStream.
 */
describe('a three-node cluster on NATS JetStream', () => {
  let nats: NatsCluster;
  const nodes: ServeProc[] = [];
  const ref = (n: ServeProc) => ({ url: n.url, fingerprint: n.fingerprint, token: nodes[0]!.operatorToken });
  const api = (n: ServeProc) => new ApiClient({ gateway: n.url, token: nodes[0]!.operatorToken, fingerprint: n.fingerprint });
  const env = (n: ServeProc) => ({ CCG_GATEWAY: n.url, CCG_FINGERPRINT: n.fingerprint, CCG_TOKEN: nodes[0]!.operatorToken });

  before(async () => {
    nats = await startNatsCluster(3);
    const first = tempDir('ccg-cluster-1-');
    nodes.push(await startServe(first, 0, {}, ['--nats', nats.urls]));
    for (const i of [2, 3]) {
      const dir = tempDir(`ccg-cluster-${i}-`);
      mkdirSync(join(dir, 'certs'), { recursive: true, mode: 0o700 });
      for (const f of ['certs/cert.pem', 'certs/key.pem']) copyFileSync(join(first, f), join(dir, f));
      nodes.push(await startServe(dir, 0, {}, ['--nats', nats.urls]));
    }
    assert.equal(new Set(nodes.map((n) => n.fingerprint)).size, 1, 'one certificate for the cluster');
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await nats?.stop();
  });

  it('a runner on node 1 is followed live on node 2 and read on node 3, byte for byte, every seq once', async () => {
    const [n1, n2, n3] = nodes as [ServeProc, ServeProc, ServeProc];
    const run = await api(n1).json('POST', '/api/v1/runs', CreateRunResponse, { name: 'across nodes' });
    // Node 3 knows the run node 1 created (the run records are shared).
    await waitFor(async () => ((await api(n3).json('GET', `/api/v1/runs/${run.id}`, RunResponse)).run.id === run.id ? true : undefined), 10_000, 'node 3 to know the run');
    let viewer: LiveView | undefined;
    try {
      viewer = followLive(() => ref(n2), run.id);
      const lines = 3000;
      const script = `let i=0;const t=setInterval(()=>{for(let k=0;k<50&&i<${lines};k++){i++;process.stdout.write('line '+i+'\\n')}if(i>=${lines}){clearInterval(t);process.stderr.write('done\\n')}},5)`;
      const runner = spawnCcg(['runner', 'start', '--run-id', run.id, '--quiet', '--spool-dir', tempDir(), '--', process.execPath, '-e', script], { ...env(n1), CCG_RUN_TOKEN: run.token });
      const { code } = await runner.exited;
      assert.equal(code, 0, runner.stderr());
      const want = Array.from({ length: lines }, (_, i) => `line ${i + 1}\n`).join('');
      const stored = await readStreams(ref(n3), run.id);
      assert.equal(stored.stdout.toString(), want, 'node 3 reads what the child wrote');
      assert.equal(stored.stderr.toString(), 'done\n');
      const v = viewer;
      const end = Math.max(...stored.seqs);
      await waitFor(() => (v.last() >= end ? true : undefined), 20_000, 'the viewer on node 2 to see the last chunk');
      assert.equal(v.stdout().toString(), want, 'the viewer on node 2 saw every byte');
      assert.equal(new Set(v.seqs).size, v.seqs.length, 'no chunk twice');
      assert.ok(contiguous(v.seqs), 'every seq, in order');
      const shown = (await api(n2).json('GET', `/api/v1/runs/${run.id}`, RunResponse)).run;
      assert.equal(shown.status, 'exited');
      assert.equal(shown.exitCode, 0);
    } finally {
      viewer?.close();
    }
  });

  it('node 2 sees the runner on node 1 connected; a cancel from node 3 reaches it', async () => {
    const [n1, n2, n3] = nodes as [ServeProc, ServeProc, ServeProc];
    const run = await api(n1).json('POST', '/api/v1/runs', CreateRunResponse, { name: 'cancel across nodes' });
    const runner = spawnCcg(['runner', 'start', '--run-id', run.id, '--quiet', '--spool-dir', tempDir(), '--', process.execPath, '-e', 'setInterval(()=>console.log("tick"),200)'], { ...env(n1), CCG_RUN_TOKEN: run.token });
    try {
      const show = async (n: ServeProc): Promise<RunSummary> => (await api(n).json('GET', `/api/v1/runs/${run.id}`, RunResponse)).run;
      await waitFor(async () => ((await show(n2)).status === 'running' && (await show(n2)).runnerConnected ? true : undefined), 20_000, 'node 2 to see the runner connected');
      const cancelled = await runCli(['runs', 'cancel', run.id, '--json'], env(n3));
      assert.equal(cancelled.code, 0, cancelled.stderr);
      const { code } = await runner.exited;
      assert.notEqual(code, null);
      const ended = await waitFor(async () => {
        const r = await show(n3);
        return r.status === 'cancelled' ? r : undefined;
      }, 20_000, 'the run to end cancelled');
      assert.equal(ended.runnerConnected, false);
    } finally {
      runner.child.kill('SIGKILL');
    }
  });

  it('an approval asked on node 1 is answered on node 3; the same answer from node 2 loses', async (t) => {
    const [n1, n2, n3] = nodes as [ServeProc, ServeProc, ServeProc];
    const gateway = { url: n1.url, fingerprint: n1.fingerprint, operatorToken: nodes[0]!.operatorToken, env: env(n1) };
    const c = await claudeRun(t, [
      { text: 'I will create it.', tools: [{ name: 'Bash', input: { command: 'touch across.txt', description: 'Create across.txt' } }] },
      { text: 'Created it.' },
    ], { args: ['--input-wait', '0'], gateway });
    const req = await c.event('approval_requested');
    const answer = (n: ServeProc) => runCli(['runs', 'approve', c.run.id, req.approvalId, '--json'], env(n));
    const [a3, a2] = await Promise.all([answer(n3), answer(n2)]);
    const codes = [a3.code, a2.code].sort();
    assert.equal(codes[0], 0, `one answer wins: ${a3.stderr} ${a2.stderr}`);
    assert.notEqual(codes[1], 0, `the other is refused; node 3 said ${a3.stdout.slice(0, 400)} ${a3.stderr.slice(0, 400)}; node 2 said ${a2.stdout.slice(0, 400)} ${a2.stderr.slice(0, 400)}`);
    assert.match(a3.code === 0 ? a2.stdout + a2.stderr : a3.stdout + a3.stderr, /ERR_APPROVAL_RESOLVED|already/);
    const { code } = await c.runner.exited;
    assert.equal(code, 0, c.runner.stderr());
    const resolved = await c.event('approval_resolved');
    assert.equal(resolved.decision, 'allow');
    assert.equal(c.api.requests.length, 2, 'Claude got exactly one answer and went on');
  });

  it('a signed runner upgrade replayed on another node is refused', async () => {
    const [n1, n2] = nodes as [ServeProc, ServeProc];
    const run = await api(n1).json('POST', '/api/v1/runs', CreateRunResponse, { name: 'replay' });
    const headers = signedHeaders(run.token, run.id);
    const first = await rawRunnerUpgrade(n1.url, n1.fingerprint, headers);
    assert.equal(first.status, 101);
    first.ws?.close();
    const again = await rawRunnerUpgrade(n2.url, n2.fingerprint, headers);
    assert.equal(again.status, 401);
    assert.equal(again.body?.error?.code, 'ERR_NONCE_REPLAY');
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tempDir } from '../helpers/gateway.js';
import { runCli } from '../helpers/cli.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';
import { spawnCcg } from '../helpers/processes.js';
import { startServe } from '../helpers/serve.js';

/** `ccg serve` as a process: its cluster flags are checked before anything starts. */
async function serve(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const p = spawnCcg(['serve', '--data', tempDir(), '--port', '0', ...args], env);
  const { code } = await p.exited;
  return { code, stderr: p.stderr() };
}

test('ccg serve: --nats takes NATS URLs and says clearly when none answers; the cluster flags need --nats', async () => {
  const bad = await serve(['--nats', 'nats://127.0.0.1:4222,bad url!']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--nats: "bad url!" is not a NATS URL/);
  const replicas = await serve(['--nats', 'nats://127.0.0.1:4222', '--nats-replicas', '2']);
  assert.equal(replicas.code, 1);
  assert.match(replicas.stderr, /--nats-replicas must be 1, 3 or 5/);
  const alone = await serve(['--secret-key-file', '/nonexistent']);
  assert.equal(alone.code, 1);
  assert.match(alone.stderr, /need --nats/);
  // Nothing listens on port 1: refused at start, naming where it looked (env CCG_NATS as the flag).
  const down = await serve([], { CCG_NATS: 'nats://127.0.0.1:1' });
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
});

test('ccg serve --nats on servers that require a user: CCG_NATS_USER and CCG_NATS_PASSWORD from the environment', async (t) => {
  const nats = await startNatsCluster(1, { auth: { user: 'ccg', pass: 'test-only-password' } });
  t.after(() => nats.stop());
  const refused = await serve([], { CCG_NATS: nats.urls });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /cannot reach NATS.*auth/i);
  const gw = await startServe(tempDir(), 0, { CCG_NATS: nats.urls, CCG_NATS_USER: 'ccg', CCG_NATS_PASSWORD: 'test-only-password' });
  t.after(() => gw.stop());
  assert.equal((await runCli(['runs', 'create', '--json'], gw.env)).code, 0);
});

test('ccg serve --nats whose start fails after it joined the cluster (a certificate file missing) exits with its error instead of staying up on its NATS connection', async (t) => {
  const nats = await startNatsCluster(1);
  t.after(() => nats.stop());
  const p = spawnCcg(['serve', '--data', tempDir(), '--port', '0'], { CCG_NATS: nats.urls, CCG_TLS_CERT: '/nonexistent/cert.pem', CCG_TLS_KEY: '/nonexistent/key.pem' });
  t.after(() => p.child.kill('SIGKILL'));
  let bound: NodeJS.Timeout | undefined;
  const ended = await Promise.race([p.exited, new Promise<'running'>((r) => (bound = setTimeout(() => r('running'), 30_000)))]);
  clearTimeout(bound);
  assert.notEqual(ended, 'running', `still running 30 s after its error: ${p.stderr()}`);
  assert.equal((ended as { code: number | null }).code, 1);
  assert.match(p.stderr(), /cluster\.node/, 'it joined the cluster first');
  assert.match(p.stderr(), /ccg: .*\/nonexistent\/cert\.pem/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tempDir } from '../helpers/gateway.js';
import { spawnCcg } from '../helpers/processes.js';

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

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import type { CreateRunResponse } from '../../protocol/api.js';
import { NatsRunnerRouter } from '../../server/core/runner-router.js';
import { NatsBus } from '../../server/live/nats-bus.js';
import { silentLogger } from '../../server/log.js';
import { JetStreamStore } from '../../server/store/jetstream/jetstream-store.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';

const EMIT = fileURLToPath(new URL('../../../test/fixtures/emit-lines.mjs', import.meta.url));

function expectedLines(n: number): Buffer {
  let s = '';
  for (let i = 1; i <= n; i++) s += `${i}\n`;
  return Buffer.from(s);
}

/**
 * Two gateway nodes in one process, each with its own JetStream store, NATS bus and runner router
 * on a real three-server NATS cluster, its own certificate and port, and the one secret key (run
 * tokens are sealed with it). Node A stops while a runner given both URLs streams into it: the
 * runner moves on to B and resumes from what JetStream acknowledged.
 */
test('JetStream cluster: a runner given both nodes moves from a stopped node to the other and resumes; a viewer on that node sees every byte once', async (t) => {
  const cleanup: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });
  const nats = await startNatsCluster(3);
  cleanup.push(() => nats.stop());
  const node = async (name: string, keyFrom?: string): Promise<TestGateway> => {
    const nc = await connect({ servers: nats.urls });
    cleanup.push(() => nc.close());
    const bus = new NatsBus({ nc, node: name, log: silentLogger });
    const router = new NatsRunnerRouter({ nc, node: name, log: silentLogger });
    cleanup.push(() => (router.close(), bus.close()));
    const dataDir = tempDir();
    if (keyFrom) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      copyFileSync(join(keyFrom, 'secret.key'), join(dataDir, 'secret.key'));
    }
    const store = await JetStreamStore.open({ servers: nats.nodes.map((n) => n.url), log: silentLogger, audit: { retentionMs: 86_400_000, maxBytes: 1 << 26 } });
    return startGateway({ dataDir, store, bus, router });
  };
  const a = await node('n-aaaaaaaa');
  let aClosed = false;
  cleanup.push(() => (aClosed ? undefined : a.close()));
  const b = await node('n-bbbbbbbb', a.dataDir);
  cleanup.push(() => b.close());
  assert.notEqual(a.fingerprint, b.fingerprint, 'each node its own certificate: one pin per URL');

  const envA = a.env;
  const envB = { ...b.env, CCG_TOKEN: a.operatorToken }; // the shared store knows A's token
  const created = JSON.parse((await runCli(['runs', 'create', '--name', 'failover', '--json'], envA)).stdout) as CreateRunResponse;
  const N = 40_000;
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', created.id, '--quiet', '--spool-dir', tempDir(), '--', process.execPath, EMIT, String(N), '5000', '3'],
    { CCG_GATEWAY: `${a.url},${b.url}`, CCG_FINGERPRINT: `${a.fingerprint},${b.fingerprint}`, CCG_RUN_TOKEN: created.token },
  );
  t.after(() => runner.child.kill('SIGKILL'));
  // A viewer on node B, following from the start.
  const viewer = spawnCcg(['runs', 'logs', created.id, '--follow', '--raw'], envB);
  t.after(() => viewer.child.kill('SIGKILL'));

  await waitFor(() => (a.gw.runs.get(created.id)?.lastSeq ?? 0) > 0 || undefined, 30_000, 'output on node A');
  await a.close();
  aClosed = true;

  const { code } = await runner.exited;
  assert.equal(code, 3, `runner exit; stderr: ${runner.stderr().slice(-2000)}`);
  assert.match(runner.stderr(), new RegExp(`reconnecting to ${b.url.replace(/\./g, '\\.')}`));
  assert.match(runner.stderr(), new RegExp(`reconnected at ${b.url.replace(/\./g, '\\.')}; resending from seq \\d+`));
  const want = expectedLines(N);
  const logs = await runCli(['runs', 'logs', created.id], envB);
  assert.ok(logs.stdoutBytes.equals(want), `byte-identical through node B (${logs.stdoutBytes.length} of ${want.length} bytes)`);
  const followed = await viewer.exited;
  assert.equal(followed.code, 0, viewer.stderr());
  assert.ok(viewer.stdout().equals(want), `the viewer on B saw every byte once, in order (${viewer.stdout().length} of ${want.length} bytes)`);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../../server/log.js';
import { JetStreamStore } from '../../../server/store/jetstream/jetstream-store.js';
import type { Approval } from '../../../protocol/claude-control.js';
import type { RunRecord } from '../../../server/store/types.js';
import { startNatsCluster } from '../../helpers/nats-cluster.js';
import { waitFor } from '../../helpers/processes.js';

function run(id: string): RunRecord {
  return { id, name: id, status: 'running', runnerConnected: false, createdAt: 1, updatedAt: 1, startedAt: 1, endedAt: null, exitCode: null, signal: null, reason: null, lastSeq: 0, bytes: 0, createdBy: 'alice', runner: null, tokenBox: 'v1.x.y.z', cancelRequestedBy: null };
}

test('JetStream store on three NATS servers: R3 by default, a node on each side reads the other\'s writes, a killed server costs nothing, a node whose server died moves on', async (t) => {
  const nats = await startNatsCluster(3);
  t.after(() => nats.stop());
  const open = (url: string) => JetStreamStore.open({ servers: [url], log: silentLogger, audit: { retentionMs: 3600_000, maxBytes: 8 * 1024 * 1024 } });
  // Each node is given one URL only: the cluster's size (and the other servers) come from the server.
  const a = await open(nats.nodes[0]!.url);
  const b = await open(nats.nodes[2]!.url);
  t.after(async () => {
    await a.close();
    await b.close();
  });
  assert.equal(a.link.replicas, 3, `replicas from the cluster's size (servers: ${a.link.servers().join(', ')})`);
  const info = await a.link.jsm.streams.info('CCG_OUT');
  assert.equal(info.config.num_replicas, 3);
  assert.equal((await a.link.jsm.streams.info('KV_ccg_runs')).config.num_replicas, 3);

  const id = 'jsclustr0001';
  await a.createRun(run(id));
  let seq = 0;
  const write = async (node: JetStreamStore) => node.appendChunk(id, { seq: ++seq, stream: 1, time: seq, data: Buffer.from(`line ${seq}\n`) });
  for (let i = 0; i < 20; i++) await write(a);
  assert.equal(await b.lastSeq(id), 20, 'node b reads what node a stored');

  // A server that is not a's dies: writes go on (a quorum of two), b (on server 2) reads them.
  // If it was JetStream's meta leader, writes are refused clearly ("jetstream is not enabled")
  // for the moment a new one is elected: the store says so, and the write goes through after.
  await nats.kill(1);
  for (let i = 0; i < 20; i++) {
    await waitFor(async () => {
      try {
        await write(a);
        return true;
      } catch (err) {
        seq--;
        assert.match(String((err as Error).message), /storage|NATS|timeout|TIMEOUT|no responders|not enabled/i);
        return undefined;
      }
    }, 30_000, 'a write with one server of three down');
  }
  assert.equal(await b.lastSeq(id), 40);
  await nats.restart(1);

  // a's own server dies: a refuses writes clearly while it has none, then moves to another server.
  await nats.kill(0);
  await waitFor(async () => {
    try {
      await write(a);
      return true;
    } catch (err) {
      seq--;
      assert.match(String((err as Error).message), /storage|NATS|timeout|TIMEOUT|no responders/i);
      return undefined;
    }
  }, 60_000, 'a writes again through another server');
  assert.equal(await b.lastSeq(id), seq);
  // Health looks at the streams' leaders every 2 s while one was missing: it follows the writes shortly.
  await waitFor(() => (a.health().ok ? true : undefined), 10_000, `a healthy again: ${JSON.stringify(a.health())}`);
  assert.notEqual(a.health().cluster!.server, nats.nodes[0]!.url.replace('nats://', ''));
  const all = await b.readChunks(id, 1, { limit: 1000, maxBytes: 1e9 });
  assert.deepEqual(all.map((c) => c.seq), Array.from({ length: seq }, (_, i) => i + 1), 'every seq once, in order');
  await nats.restart(0);
});

test('JetStream store with its one NATS server down: writes are refused at once with ERR_STORAGE, and when it is back writes go on and each node hears the other again', async (t) => {
  const nats = await startNatsCluster(1);
  t.after(() => nats.stop());
  const open = () => JetStreamStore.open({ servers: [nats.urls], log: silentLogger, audit: { retentionMs: 3600_000, maxBytes: 8 * 1024 * 1024 } });
  const a = await open();
  const b = await open();
  t.after(async () => {
    await a.close();
    await b.close();
  });
  await a.createRun(run('jsdown000001'));
  await nats.kill(0);
  await waitFor(() => (a.health().ok ? undefined : true), 30_000, 'a knows NATS is gone');
  const started = performance.now();
  await assert.rejects(a.putRun({ ...run('jsdown000001'), bytes: 1 }), (e: unknown) => (e as { code?: string }).code === 'ERR_STORAGE' && /unreachable/.test((e as Error).message));
  await assert.rejects(a.appendChunk('jsdown000001', { seq: 1, stream: 1, time: 1, data: Buffer.from('x') }), (e: unknown) => (e as { code?: string }).code === 'ERR_STORAGE');
  assert.ok(performance.now() - started < 1000, 'refused at once, not after a timeout');
  assert.match(a.health().detail, /unreachable/);
  assert.equal(a.getRun('jsdown000001')?.name, 'jsdown000001', 'reads are still served from memory');

  await nats.restart(0);
  await waitFor(async () => {
    try {
      await a.appendChunk('jsdown000001', { seq: 1, stream: 1, time: 1, data: Buffer.from('x') });
      return true;
    } catch {
      return undefined;
    }
  }, 60_000, 'a writes again');
  // The watchers resumed: b hears a's write made after the outage.
  await a.putRun({ ...run('jsdown000001'), bytes: 77 });
  await waitFor(() => (b.getRun('jsdown000001')?.bytes === 77 ? true : undefined), 30_000, 'b hears a after the outage');
  assert.equal(await b.lastSeq('jsdown000001'), 1);
});

test('JetStream store on a NATS server that requires a user: opened with it; refused clearly without', async (t) => {
  const nats = await startNatsCluster(1, { auth: { user: 'ccg', pass: 'test-only-password' } });
  t.after(() => nats.stop());
  const opts = { servers: [nats.urls], log: silentLogger, audit: { retentionMs: 3600_000, maxBytes: 8 * 1024 * 1024 } };
  await assert.rejects(JetStreamStore.open(opts), /cannot reach NATS.*(authoriz|auth)/i);
  const s = await JetStreamStore.open({ ...opts, auth: { user: 'ccg', pass: 'test-only-password' } });
  t.after(() => s.close());
  await s.createRun(run('jsauth000001'));
  assert.equal(s.getRun('jsauth000001')?.id, 'jsauth000001');
});

test('JetStream store on three NATS servers (R3): of two nodes changing the same approval at once, exactly one wins, every time', async (t) => {
  const nats = await startNatsCluster(3);
  t.after(() => nats.stop());
  const open = (url: string) => JetStreamStore.open({ servers: [url], log: silentLogger, audit: { retentionMs: 3600_000, maxBytes: 8 * 1024 * 1024 } });
  const a = await open(nats.nodes[0]!.url);
  const b = await open(nats.nodes[1]!.url);
  const c = await open(nats.nodes[2]!.url);
  t.after(async () => {
    await Promise.all([a.close(), b.close(), c.close()]);
  });
  // nats-server 2.9 accepts two updates expecting the same revision on an R3 bucket about half the
  // time (measured); the store claims the revision first, so the first answer wins on any node.
  let doubles = 0;
  for (let i = 0; i < 30; i++) {
    const ap = { runId: 'jscas0000001', approvalId: `ap${String(i).padStart(10, '0')}`, state: 'pending', toolName: 'Bash', requestedAt: i, answer: null, resolution: null } as unknown as Approval;
    await a.putApproval(ap);
    const claim = (who: string) => (latest: Approval) => (latest.state === 'pending' ? ({ ...latest, state: 'answered', answer: { by: who } } as unknown as Approval) : undefined);
    const [x, y] = await Promise.all([b.updateApproval(ap.runId, ap.approvalId, claim('b')), c.updateApproval(ap.runId, ap.approvalId, claim('c'))]);
    assert.ok(x || y, `trial ${i}: someone wins`);
    if (x && y) doubles++;
  }
  assert.equal(doubles, 0, 'never two winners');
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { CcgError } from '../../../protocol/errors.js';
import type { GatewayToRunner } from '../../../protocol/runner-messages.js';
import { NatsRunnerRouter } from '../../../server/core/runner-router.js';
import type { RunnerLink } from '../../../server/core/runs.js';
import { toLiveChunk, type LiveChunk } from '../../../server/live/bus.js';
import { decodeChunk, encodeChunk, liveSubject, NatsBus } from '../../../server/live/nats-bus.js';
import { silentLogger } from '../../../server/log.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster.js';
import { waitFor } from '../../helpers/processes.js';

const chunk = (seq: number, text: string): LiveChunk => toLiveChunk({ seq, stream: 1, time: 1_700_000_000_000 + seq, data: Buffer.from(text) });

/** Two nodes of a cluster on one real nats-server: node A's bus and router, node B's. */
describe('cluster live layer over a real nats-server', () => {
  let nats: NatsCluster;
  let ncA: NatsConnection;
  let ncB: NatsConnection;
  let probe: NatsConnection;
  const open = () => connect({ servers: nats.urls });
  before(async () => {
    nats = await startNatsCluster(1);
    ncA = await open();
    ncB = await open();
    probe = await open();
  });
  after(async () => {
    await Promise.all([ncA, ncB, probe].map((nc) => nc?.close()));
    await nats?.stop();
  });

  it('chunk frames round-trip and malformed ones are refused', () => {
    const got = decodeChunk(encodeChunk('n-abc123', chunk(7, 'hello\x1b[31m')));
    assert.equal(got?.node, 'n-abc123');
    assert.equal(got?.chunk.seq, 7);
    assert.equal(got?.chunk.data.toString(), 'hello\x1b[31m');
    assert.equal(decodeChunk(new Uint8Array(5)), undefined);
    const bad = Buffer.from(encodeChunk('n-1', chunk(1, 'x')));
    bad.writeDoubleBE(1.5, 8);
    assert.equal(decodeChunk(bad), undefined, 'a fractional seq');
    bad.writeDoubleBE(-3, 8);
    assert.equal(decodeChunk(bad), undefined, 'a negative seq');
  });

  it("a viewer on node B gets node A's chunks and topics once, in order; B's services do not", async () => {
    const a = new NatsBus({ nc: ncA, node: 'n-aaaaaa', log: silentLogger });
    const b = new NatsBus({ nc: ncB, node: 'n-bbbbbb', log: silentLogger });
    try {
      const seen: number[] = [];
      const runs: string[] = [];
      const serviceHeard: string[] = [];
      const offChunk = b.onChunk('run1', (c) => seen.push(c.seq));
      const offRun = b.on('run', (r) => runs.push(r.id));
      b.on('run', (r) => serviceHeard.push(r.id), { keep: true });
      const localOnA: number[] = [];
      a.onChunk('run1', (c) => localOnA.push(c.seq));
      await ncB.flush();
      for (let s = 1; s <= 50; s++) a.publishChunk('run1', chunk(s, `line ${s}\n`));
      a.publish('run', { id: 'run1' } as never);
      // A sentinel published after everything else: once it is here, the rest has arrived.
      a.publish('run', { id: 'sentinel' } as never);
      await waitFor(() => (runs.includes('sentinel') ? true : undefined), 10_000, 'the sentinel');
      assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i + 1));
      assert.deepEqual(runs, ['run1', 'sentinel']);
      assert.deepEqual(serviceHeard, [], "a service on B does not react to A's publications");
      assert.deepEqual(localOnA, seen, 'A hears its own chunks once (no echo from NATS)');
      assert.deepEqual(b.remoteChunks('run1', 48).map((c) => c.seq), [48, 49, 50]);
      assert.deepEqual(b.remoteChunks('run1', 51), []);
      offChunk();
      offRun();
      // Events and auth changes stay on their node.
      const events: unknown[] = [];
      b.on('events', (e) => events.push(e));
      a.publish('events', { runId: 'run1', events: [] });
      a.publish('run', { id: 'sentinel2' } as never);
      const after2: string[] = [];
      b.on('run', (r) => after2.push(r.id));
      a.publish('run', { id: 'sentinel3' } as never);
      await waitFor(() => (after2.includes('sentinel3') ? true : undefined), 10_000, 'the second sentinel');
      assert.deepEqual(events, []);
    } finally {
      a.close();
      b.close();
    }
  });

  it('hostile messages on the live subjects are dropped, the bus keeps working', async () => {
    const b = new NatsBus({ nc: ncB, node: 'n-bbbbbb', log: silentLogger });
    try {
      const seen: number[] = [];
      const runs: unknown[] = [];
      b.onChunk('run2', (c) => seen.push(c.seq));
      b.on('run', (r) => runs.push(r));
      await ncB.flush();
      probe.publish(liveSubject.chunk('run2'), new Uint8Array([1, 2, 3]));
      probe.publish(liveSubject.topic('run'), '{not json');
      probe.publish(liveSubject.topic('run'), JSON.stringify({ n: 'x', m: 42 }));
      probe.publish(liveSubject.topic('auth'), JSON.stringify({ n: 'x', m: { kind: 'user', id: 'u' } }));
      probe.publish(liveSubject.chunk('run2'), encodeChunk('n-zzzzzz', chunk(1, 'ok')));
      probe.publish(liveSubject.topic('run'), JSON.stringify({ n: 'n-zzzzzz', m: { id: 'sentinel' } }));
      await waitFor(() => (runs.length > 0 ? true : undefined), 10_000, 'the sentinel');
      assert.deepEqual(seen, [1]);
      assert.deepEqual(runs, [{ id: 'sentinel' }]);
    } finally {
      b.close();
    }
  });

  it("what node B sends reaches the runner on node A; a takeover drops A's socket", async () => {
    const ra = new NatsRunnerRouter({ nc: ncA, node: 'n-aaaaaa', log: silentLogger });
    const rb = new NatsRunnerRouter({ nc: ncB, node: 'n-bbbbbb', log: silentLogger });
    try {
      const got: GatewayToRunner[] = [];
      const cancels: string[] = [];
      const kicks: string[] = [];
      const link: RunnerLink = {
        send: (m) => void got.push(m),
        sendExec: (m) => void got.push(m),
        sendCancel: (cancel) => cancels.push(`${cancel.by} ${cancel.controlId}`),
        kick: (e) => kicks.push(e.code),
      };
      ra.attached('run3', link);
      await ncA.flush();
      await waitFor(() => (rb.isAlive('n-aaaaaa') ? true : undefined), 10_000, 'B to hear A');
      assert.equal(rb.remote('run3', 'n-gone00'), undefined, 'a node nobody heard of holds nothing');
      assert.equal(rb.remote('run3', 'n-bbbbbb'), undefined, 'B does not route to itself');
      const viaB = rb.remote('run3', 'n-aaaaaa');
      assert.ok(viaB);
      viaB.send({ type: 'input', inputId: 'in_0123456789ab', text: 'hello', by: 'alice' } as GatewayToRunner);
      viaB.sendCancel({ by: 'alice', controlId: 'ctl_0123456789' });
      // Not a message for a runner: the holder refuses it.
      probe.publish('ccg.runner.run3', JSON.stringify({ op: 'send', n: 'n-x', msg: { type: 'rm -rf' } }));
      viaB.send({ type: 'resize', cols: 80, rows: 24 } as GatewayToRunner);
      await waitFor(() => (got.length >= 2 ? true : undefined), 10_000, 'the messages');
      assert.deepEqual(got.map((m) => m.type), ['input', 'resize']);
      assert.deepEqual(cancels, ['alice ctl_0123456789']);
      // The runner reconnects to B: A lets its socket go.
      let droppedOnA = '';
      ra.onTakeover((id) => (droppedOnA = id));
      rb.attached('run3', { ...link, kick: () => undefined });
      await waitFor(() => (droppedOnA ? true : undefined), 10_000, 'the takeover');
      assert.equal(droppedOnA, 'run3');
      // A revoke from A now reaches the runner on B.
      const kicked: string[] = [];
      rb.attached('run4', { ...link, kick: (e: CcgError) => kicked.push(e.code) });
      await ncB.flush();
      ra.remote('run4', 'n-bbbbbb')!.kick(new CcgError('ERR_RUN_REVOKED'));
      await waitFor(() => (kicked.length ? true : undefined), 10_000, 'the kick');
      assert.deepEqual(kicked, ['ERR_RUN_REVOKED']);
      assert.deepEqual(kicks, []);
    } finally {
      ra.close();
      rb.close();
    }
  });

  it('a message for a runner its node no longer holds is refused (ERR_RUNNER_AWAY), not dropped, while that node still counts as alive', async () => {
    const ra = new NatsRunnerRouter({ nc: ncA, node: 'n-aaaaaa', log: silentLogger });
    const rb = new NatsRunnerRouter({ nc: ncB, node: 'n-bbbbbb', log: silentLogger });
    try {
      const got: string[] = [];
      const link: RunnerLink = { send: (m) => void got.push(m.type), sendExec: (m) => void got.push(m.type), sendCancel: () => undefined, kick: () => undefined };
      ra.attached('run5', link);
      await ncA.flush();
      await waitFor(() => (rb.isAlive('n-aaaaaa') ? true : undefined), 10_000, 'B to hear A');
      const viaB = rb.remote('run5', 'n-aaaaaa');
      assert.ok(viaB);
      const input = { type: 'input', inputId: 'in_0123456789ab', text: 'hello', by: 'alice' } as GatewayToRunner;
      await viaB.send(input, true); // resolves once A's socket took it
      assert.deepEqual(got, ['input']);
      // As when node A dies or loses NATS: its subscription goes, its last heartbeat still counts.
      ra.detached('run5', link);
      await ncA.flush();
      await assert.rejects(async () => viaB.send(input, true), (err: unknown) => err instanceof CcgError && err.code === 'ERR_RUNNER_AWAY' && /no longer holds it/.test(err.message));
      await assert.rejects(async () => viaB.sendExec({ type: 'exec', requestId: 'r_0123456789abcdef', name: 'test', params: {} }), (err: unknown) => err instanceof CcgError && err.code === 'ERR_RUNNER_AWAY');
      assert.ok(rb.isAlive('n-aaaaaa'), 'A still counts as alive: its heartbeat alone would not tell');
      assert.deepEqual(got, ['input']);
    } finally {
      ra.close();
      rb.close();
    }
  });

  it("a machine's socket on node A is reached from node B; its answer to a start reaches B", async () => {
    const ra = new NatsRunnerRouter({ nc: ncA, node: 'n-aaaaaa', log: silentLogger });
    const rb = new NatsRunnerRouter({ nc: ncB, node: 'n-bbbbbb', log: silentLogger });
    try {
      const sent: string[] = [];
      const kicked: string[] = [];
      ra.attachedMachine('box-1', { send: (m) => sent.push(m.type), kick: (e) => kicked.push(e.code) });
      await ncA.flush();
      await waitFor(() => (rb.isAlive('n-aaaaaa') ? true : undefined), 10_000, 'B to hear A');
      const viaB = rb.remoteMachine('box-1', 'n-aaaaaa');
      assert.ok(viaB);
      // Not a message for a machine: refused on A.
      probe.publish('ccg.machine.box-1', JSON.stringify({ op: 'send', n: 'n-x', msg: { type: 'exec', cmd: 'rm -rf /' } }));
      viaB.send({ type: 'error', code: 'ERR_BAD_REQUEST', message: 'test' } as never);
      viaB.kick(new CcgError('ERR_MACHINE_REVOKED'));
      await waitFor(() => (kicked.length ? true : undefined), 10_000, 'the kick');
      assert.deepEqual(sent, ['error']);
      assert.deepEqual(kicked, ['ERR_MACHINE_REVOKED']);
      const answers: unknown[] = [];
      rb.onMachineAnswer((runId, ok, reason) => answers.push([runId, ok, reason]));
      ra.broadcastMachineAnswer('run9', false, 'no such workspace');
      await waitFor(() => (answers.length ? true : undefined), 10_000, 'the answer');
      assert.deepEqual(answers, [['run9', false, 'no such workspace']]);
    } finally {
      ra.close();
      rb.close();
    }
  });
});

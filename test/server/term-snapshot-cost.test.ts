import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STREAM_STDOUT, encodeOutput } from '../../protocol/frames.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';

/**
 * The gateway's screen snapshots of `--pty` runs against a hostile runner: what they cost stays
 * in proportion to the output (a big screen of coloured cells, then one changed cell per 32 KiB,
 * made it serialize 17 MB every 32 KiB), and a burst of large chunks no longer leaves the
 * snapshots behind for good.
 */

test('a burst of 256 KiB chunks does not leave the screen snapshots behind: the run’s last snapshot covers all its output', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const { run, token } = await g.gw.runs.create('burst', 'test');
  const r = await fakeRunner(g, run.id, token, { mode: 'command', pty: true });
  t.after(() => r.close());
  // 8 MiB at once: more than the snapshot follower queues (4 MiB), so it waits, and the queue
  // drains in chunks each past the 32 KiB that takes a snapshot.
  const big = Buffer.from(`${'x'.repeat(79)}\n`.repeat(256 * 1024 / 80 + 1)).subarray(0, 256 * 1024);
  let seq = 0;
  for (let i = 0; i < 32; i++) r.ws.send(encodeOutput({ stream: STREAM_STDOUT, seq: ++seq, data: big }));
  for (let i = 0; i < 40; i++) r.ws.send(encodeOutput({ stream: STREAM_STDOUT, seq: ++seq, data: Buffer.from(`small line ${i}\r\n`) }));
  r.send({ type: 'exit', code: 0, signal: null, lastSeq: seq });
  await r.next('exit_ack', undefined, 30_000);
  await waitFor(() => (g.gw.store.latestTermSnapshot(run.id)?.seq === seq ? true : undefined), 30_000, `the last snapshot at seq ${seq} (it is at ${g.gw.store.latestTermSnapshot(run.id)?.seq})`);
  assert.match(g.gw.store.latestTermSnapshot(run.id)!.data, /small line 39/);
});

test('a big coloured screen changed one cell per 32 KiB is not serialized again for every 32 KiB', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const { run, token } = await g.gw.runs.create('costly screen', 'test');
  const r = await fakeRunner(g, run.id, token, { mode: 'command', pty: true });
  t.after(() => r.close());
  const taken: { seq: number; bytes: number }[] = [];
  const put = g.gw.store.putTermSnapshot.bind(g.gw.store);
  g.gw.store.putTermSnapshot = (id, snap) => {
    if (id === run.id) taken.push({ seq: snap.seq, bytes: snap.data.length });
    return put(id, snap);
  };
  let seq = await r.events({ type: 'pty_resized', cols: 400, rows: 200 });
  // Sent without waiting for each ack (acks of a trickle are gathered for up to a second).
  const send = (data: Buffer) => r.ws.send(encodeOutput({ stream: STREAM_STDOUT, seq: ++seq, data }));
  const applied = async () => {
    await waitFor(() => (g.gw.runs.committedSeq(run.id) === seq ? true : undefined), 30_000, `seq ${seq} committed`);
    await g.gw.services.screens.settled(run.id);
  };
  // Every cell its own colours: the serialized screen is many times the 32 KiB of a snapshot's step.
  let fill = '';
  for (let row = 1; row <= 200; row++) {
    fill += `\x1b[${row};1H`;
    for (let c = 0; c < 400; c++) fill += `\x1b[38;2;${c % 256};${row % 256};${(c * 7) % 256}m${String.fromCharCode(33 + ((row * 400 + c) % 90))}`;
  }
  const bytes = Buffer.from(fill);
  for (let i = 0; i < bytes.length; i += 200_000) send(bytes.subarray(i, i + 200_000));
  await applied();
  // The filled screen is snapshotted once its output pauses (3 s).
  await waitFor(() => (taken.at(-1)?.seq === seq ? true : undefined), 30_000, 'the filled screen snapshotted');
  const screenBytes = Math.max(...taken.map((x) => x.bytes));
  assert.ok(screenBytes > 20 * 32 * 1024, `a screen of ${screenBytes} bytes`);
  const before = taken.length;
  // Then 20 × 32 KiB that each rewrite one cell: far less output than one snapshot is long.
  const trickle = Buffer.from('\x1b[1;1HZ'.repeat(Math.ceil(32768 / 7)));
  for (let i = 0; i < 20; i++) send(trickle);
  await applied();
  assert.ok(taken.length - before <= 1, `${taken.length - before} snapshots of ${screenBytes} bytes for ${20 * trickle.length} bytes of output`);
  // The run's end still takes its last one, whatever the last one cost.
  send(Buffer.from('\x1b[2;1HY'));
  r.send({ type: 'exit', code: 0, signal: null, lastSeq: seq });
  await waitFor(() => (taken.at(-1)?.seq === seq ? true : undefined), 30_000, 'the last snapshot');
});

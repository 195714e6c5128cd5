import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { MAX_CHUNK_DATA, STREAM_COMMAND, STREAM_EVENT, STREAM_STDERR, STREAM_STDOUT, decodeOutput } from '../../protocol/frames.js';
import { COALESCE_BYTES, COALESCE_MS, ChunkSender, HOLD_RELEASE_MS, IMMEDIATE_BURST, OutputPipeline, SEND_WINDOW, runRedaction, type ChunkLink } from '../../cli/runner/output-pipeline.js';
import { Spool } from '../../cli/runner/spool.js';
import { tempDir } from '../helpers/gateway.js';

const TOKEN = 'ccgrun_0123456789abcdefghijklmnop';

function openSpool(t: TestContext): Spool {
  const dir = join(tempDir(), 'run');
  const spool = Spool.open(dir);
  t.after(() => {
    spool.close(false);
    rmSync(dir, { recursive: true, force: true });
  });
  return spool;
}

/** The spool's chunks from `from` on, as [seq, stream, text]. */
function chunks(spool: Spool, from = spool.minSeq): [number, number, string][] {
  const out: [number, number, string][] = [];
  for (let seq = from; seq <= spool.maxSeq; seq++) {
    const c = spool.read(seq)!;
    out.push([c.seq, c.stream, c.data.toString('utf8')]);
  }
  return out;
}

function pipeline(t: TestContext, linkIdle?: () => boolean, now?: () => number) {
  const spool = openSpool(t);
  const tapped: [number, string][] = [];
  let spooled = 0;
  let wake: (() => void) | null = null;
  const p = new OutputPipeline({
    spool,
    redaction: runRedaction(TOKEN, { HOME: '/home/x' }),
    tap: (stream, data) => tapped.push([stream, data.toString('utf8')]),
    spooled: () => {
      spooled++;
      wake?.();
    },
    ...(linkIdle ? { linkIdle } : {}),
    ...(now ? { now } : {}),
  });
  /** Resolves at the next `spooled` call. */
  const nextSpooled = () => new Promise<void>((resolve) => (wake = resolve));
  return { spool, p, tapped, nextSpooled, spooledCalls: () => spooled };
}

test('output pipeline: small writes coalesce into one chunk; a switch of stream closes it; seqs follow each other', async (t) => {
  assert.deepEqual([COALESCE_MS, COALESCE_BYTES], [4, 64 * 1024], 'the latency trade-off is unchanged');
  const { spool, p, nextSpooled } = pipeline(t);
  const started = performance.now();
  // Whole lines: the redactor holds back nothing after a newline.
  p.output(STREAM_STDOUT, Buffer.from('a\n'));
  p.output(STREAM_STDOUT, Buffer.from('b\n'));
  assert.equal(spool.maxSeq, 0, 'nothing is spooled before the coalescing window closes');
  p.output(STREAM_STDERR, Buffer.from('c\n'));
  p.output(STREAM_STDOUT, Buffer.from('d\n'));
  assert.deepEqual(chunks(spool), [
    [1, STREAM_STDOUT, 'a\nb\n'],
    [2, STREAM_STDERR, 'c\n'],
  ]);
  await nextSpooled();
  assert.ok(performance.now() - started >= COALESCE_MS - 1, 'the last chunk waited for the window');
  assert.deepEqual(chunks(spool), [
    [1, STREAM_STDOUT, 'a\nb\n'],
    [2, STREAM_STDERR, 'c\n'],
    [3, STREAM_STDOUT, 'd\n'],
  ]);
});

test('output pipeline: a write that finds the link idle is a chunk at once; one that finds it busy, or a chunk waiting, is coalesced', async (t) => {
  let idle = true;
  const { spool, p, nextSpooled } = pipeline(t, () => idle);
  p.output(STREAM_STDOUT, Buffer.from('alone\n'));
  assert.deepEqual(chunks(spool), [[1, STREAM_STDOUT, 'alone\n']], 'a lone line does not wait for the window');
  idle = false;
  p.output(STREAM_STDOUT, Buffer.from('a\n'));
  idle = true;
  p.output(STREAM_STDOUT, Buffer.from('b\n'));
  assert.equal(spool.maxSeq, 1, 'a line written while the link was busy waits, and the next joins it');
  await nextSpooled();
  assert.deepEqual(chunks(spool), [
    [1, STREAM_STDOUT, 'alone\n'],
    [2, STREAM_STDOUT, 'a\nb\n'],
  ]);
});

test('output pipeline: past IMMEDIATE_BURST writes at once, a fast writer is coalesced even on an idle link', async (t) => {
  const { spool, p, nextSpooled } = pipeline(t, () => true, () => 1000); // a frozen clock: no refill however slow the machine
  const lines = IMMEDIATE_BURST + 50;
  for (let i = 0; i < lines; i++) p.output(STREAM_STDOUT, Buffer.from(`line ${i}\n`));
  assert.equal(spool.maxSeq, IMMEDIATE_BURST, 'IMMEDIATE_BURST chunks left at once');
  await nextSpooled();
  const all = chunks(spool);
  assert.equal(all.map(([, , text]) => text).join(''), Array.from({ length: lines }, (_, i) => `line ${i}\n`).join(''), 'every line, in order, once');
  assert.ok(all.length < lines, 'the rest was coalesced');
});

test('output pipeline: COALESCE_BYTES is spooled at once, and more than MAX_CHUNK_DATA becomes several chunks', (t) => {
  const { spool, p, spooledCalls } = pipeline(t);
  // Dots: a tail of x would be held back (it may begin xoxb-…, a Slack token), one byte short.
  p.output(STREAM_STDOUT, Buffer.alloc(COALESCE_BYTES, '.'));
  assert.deepEqual(chunks(spool).map(([seq, , text]) => [seq, text.length]), [[1, COALESCE_BYTES]]);
  p.output(STREAM_STDOUT, Buffer.alloc(MAX_CHUNK_DATA + 10, 'y'));
  assert.deepEqual(chunks(spool).map(([seq, , text]) => [seq, text.length]), [
    [1, COALESCE_BYTES],
    [2, MAX_CHUNK_DATA],
    [3, 10],
  ]);
  assert.equal(spooledCalls(), 2);
});

test('output pipeline: a secret split across writes is redacted; an event releases the held tail and is its own chunk', (t) => {
  const { spool, p, tapped } = pipeline(t);
  p.output(STREAM_COMMAND, Buffer.from(`curl -H "Bearer ${TOKEN.slice(0, 10)}`));
  p.output(STREAM_COMMAND, Buffer.from(`${TOKEN.slice(10)}" ok\n`));
  // The command's last bytes may start another secret: held back, until an event follows.
  p.output(STREAM_COMMAND, Buffer.from('tail ccgrun_'));
  p.event({ type: 'exec_refused', requestId: 'r1', name: 'x', reason: 'no' });
  const got = chunks(spool);
  assert.equal(got.length, 2, 'the event closed the command chunk at once');
  assert.deepEqual(got[0]!.slice(0, 2), [1, STREAM_COMMAND]);
  // The tail began the run token: released by the event, but redacted (it used to go out in clear).
  assert.equal(got[0]![2], 'curl -H "Bearer [REDACTED:ccg-token]" ok\ntail [REDACTED:ccg-token]');
  assert.deepEqual(got[1]!.slice(0, 2), [2, STREAM_EVENT]);
  assert.deepEqual(JSON.parse(got[1]![2]), { type: 'exec_refused', requestId: 'r1', name: 'x', reason: 'no' });
  assert.ok(!tapped.some(([, text]) => text.includes(TOKEN.slice(8))), 'the tap sees only redacted output');
});

test('output pipeline: a held tail goes out after HOLD_RELEASE_MS of quiet, or at once on drain()', async (t) => {
  const { spool, p, nextSpooled } = pipeline(t);
  const started = performance.now();
  p.output(STREAM_STDOUT, Buffer.from('prompt> ccgrun_'));
  await nextSpooled();
  assert.deepEqual(chunks(spool), [[1, STREAM_STDOUT, 'prompt> ']]);
  await nextSpooled();
  assert.ok(performance.now() - started >= HOLD_RELEASE_MS - 1, 'released after the quiet period');
  // The tail is the start of the run token: it goes out redacted, never in clear.
  assert.deepEqual(chunks(spool, 2), [[2, STREAM_STDOUT, '[REDACTED:ccg-token]']]);

  p.output(STREAM_STDOUT, Buffer.from('0123 rest\nlast words ccgrun_'));
  p.drain();
  // Its continuation is dropped too, however late; at the end, a held token start is redacted.
  assert.deepEqual(chunks(spool, 3), [[3, STREAM_STDOUT, ' rest\nlast words [REDACTED:ccg-token]']]);
});

/** A link that keeps what is sent; `buffered` plays the socket's unsent bytes. */
class RecordingLink implements ChunkLink {
  readonly sent: (string | [number, number, string])[] = [];
  buffered = 0;
  /** How often the sender looked at the socket's backlog. */
  looks = 0;
  private waiter: { n: number; resolve: () => void } | null = null;

  get bufferedAmount(): number {
    this.looks++;
    return this.buffered;
  }

  send(data: string | Buffer): boolean {
    if (typeof data === 'string') this.sent.push(data);
    else {
      const f = decodeOutput(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer);
      assert.ok(f.ok);
      this.sent.push([f.value.seq, f.value.stream, Buffer.from(f.value.data).toString('utf8')]);
    }
    if (this.waiter && this.sent.length >= this.waiter.n) this.waiter.resolve();
    return true;
  }

  /** Resolves once `n` messages were sent in all. */
  until(n: number): Promise<void> {
    return this.sent.length >= n ? Promise.resolve() : new Promise((resolve) => (this.waiter = { n, resolve }));
  }
}

function fill(spool: Spool, n: number): void {
  for (let i = 0; i < n; i++) spool.append(spool.maxSeq + 1, STREAM_STDOUT, Buffer.from(`line ${spool.maxSeq + 1}`));
}

test('chunk sender: sends in order, the exit after the last chunk, and resends from where the gateway stands after a reconnect', (t) => {
  const spool = openSpool(t);
  const link = new RecordingLink();
  let ready = false;
  const sender = new ChunkSender(spool, link, () => ready);
  fill(spool, 3);
  sender.pump();
  assert.deepEqual(link.sent, [], 'nothing goes out before the welcome');
  ready = true;
  assert.equal(sender.welcomed(1, true), 1);
  sender.exit = { type: 'exit', code: 0, signal: null, lastSeq: 3, error: null };
  sender.pump();
  assert.deepEqual(link.sent, [[1, 0, 'line 1'], [2, 0, 'line 2'], [3, 0, 'line 3'], JSON.stringify(sender.exit)]);
  spool.ack(1);

  // A new connection: the gateway has everything before 3. Unacknowledged chunks go again, then the exit.
  link.sent.length = 0;
  assert.equal(sender.welcomed(3, true), 3);
  sender.pump();
  assert.deepEqual(link.sent, [[3, 0, 'line 3'], JSON.stringify(sender.exit)]);
  sender.pump();
  assert.equal(link.sent.length, 2, 'the exit is sent once per connection');
});

test('chunk sender: holds back while the socket has SEND_WINDOW unsent, and goes on once it drains', async (t) => {
  const spool = openSpool(t);
  const link = new RecordingLink();
  const sender = new ChunkSender(spool, link, () => true);
  sender.welcomed(1, false);
  fill(spool, 2);
  link.buffered = SEND_WINDOW;
  sender.exit = { type: 'exit', code: 0, signal: null, lastSeq: 2, error: null };
  sender.pump();
  assert.deepEqual(link.sent, []);
  link.buffered = 0;
  await link.until(3);
  assert.deepEqual(link.sent, [[1, 0, 'line 1'], [2, 0, 'line 2'], JSON.stringify(sender.exit)]);
});

test('chunk sender: a backed-up socket is polled by one timer, however often chunks arrive meanwhile', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const spool = openSpool(t);
  const link = new RecordingLink();
  const sender = new ChunkSender(spool, link, () => true);
  sender.welcomed(1, false);
  link.buffered = SEND_WINDOW;
  for (let i = 1; i <= 20; i++) {
    fill(spool, 1);
    sender.pump(); // what every spooled chunk does
  }
  const before = link.looks;
  t.mock.timers.tick(10);
  assert.equal(link.looks - before, 1, 'one look per poll interval, not one per chunk that arrived');
  link.buffered = 0;
  t.mock.timers.tick(10);
  assert.equal(link.sent.length, 20);
});

test('chunk sender: before the child starts, numbering continues after the gateway or the leftover spool, whichever is further', (t) => {
  const spool = openSpool(t);
  const link = new RecordingLink();
  const sender = new ChunkSender(spool, link, () => true);
  fill(spool, 3); // a previous runner's leftover

  // The gateway already has more (a restarted runner whose spool lagged): continue after it.
  assert.equal(sender.welcomed(8, false), 8);
  assert.equal(spool.count, 0);
  spool.append(8, STREAM_STDOUT, Buffer.from('line 8'));
  sender.pump();
  assert.deepEqual(link.sent, [[8, 0, 'line 8']]);

  // The gateway lacks part of the spool: the spool keeps it and resends from the gateway's next.
  const other = openSpool(t);
  const link2 = new RecordingLink();
  const sender2 = new ChunkSender(other, link2, () => true);
  fill(other, 3);
  assert.equal(sender2.welcomed(2, false), 2);
  sender2.pump();
  assert.deepEqual(link2.sent, [[2, 0, 'line 2'], [3, 0, 'line 3']]);
});

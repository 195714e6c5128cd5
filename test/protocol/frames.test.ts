import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeOutput, decodeView, encodeOutput, encodeView, MAX_CHUNK_DATA } from '../../protocol/frames.js';
import { parseFingerprint } from '../../protocol/fingerprint.js';

const ab = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;

test('output frames round-trip any bytes', () => {
  const data = Buffer.from([0, 255, 10, 13, 0x1b, 0x80]);
  const frame = encodeOutput({ stream: 1, seq: 42, data });
  assert.equal(frame.toString('hex'), '0101000000000000002a' + data.toString('hex'));
  const back = decodeOutput(ab(frame));
  assert.ok(back.ok);
  assert.deepEqual({ ...back.value, data: Buffer.from(back.value.data) }, { stream: 1, seq: 42, data });
});

test('malformed output frames are refused with a reason', () => {
  const cases: [Buffer, RegExp][] = [
    [Buffer.alloc(3), /shorter/],
    [Buffer.from('02000000000000000001', 'hex'), /kind/],
    [Buffer.from('01070000000000000001', 'hex'), /stream/],
    [Buffer.from('01000000000000000000', 'hex'), /range/],
    [Buffer.from('0100ffffffffffffffff', 'hex'), /range/],
    // 2^53: past Number.MAX_SAFE_INTEGER, the first seq that would not survive as a number.
    [Buffer.from('01000020000000000000', 'hex'), /range/],
    [Buffer.concat([Buffer.from('01000000000000000001', 'hex'), Buffer.alloc(MAX_CHUNK_DATA + 1)]), /exceeds/],
  ];
  for (const [frame, why] of cases) {
    const r = decodeOutput(ab(frame));
    assert.ok(!r.ok && why.test(r.message), `${frame.subarray(0, 10).toString('hex')}: ${JSON.stringify(r)}`);
  }
});

test('output frames take every seq up to 2^53 - 1, read as two 32-bit halves', () => {
  for (const seq of [1, 0xffff_ffff, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
    const r = decodeOutput(ab(encodeOutput({ stream: 0, seq, data: Buffer.from('x') })), 9);
    assert.ok(r.ok, String(seq));
    assert.equal(r.value.seq, seq);
    assert.equal(Buffer.from(r.value.data).toString(), 'x', 'the data after the headroom');
  }
  const v = decodeView(encodeView({ runId: 'abcdefghjkmn', seq: Number.MAX_SAFE_INTEGER, stream: 2, time: 3, data: Buffer.from('y') }));
  assert.ok(v.ok);
  assert.deepEqual([v.value.seq, v.value.stream, v.value.time], [Number.MAX_SAFE_INTEGER, 2, 3]);
  const past = encodeView({ runId: 'abcdefghjkmn', seq: 1, stream: 0, time: 0, data: Buffer.alloc(0) });
  past.writeUInt32BE(0x20_0000, 2); // seq 2^53: the high half…
  past.writeUInt32BE(0, 6); // …and the low half
  assert.ok(!decodeView(past).ok);
});

test('view frames carry run id and time', () => {
  const f = encodeView({ runId: 'abcdefghjkmn', seq: 7, stream: 0, time: 1234.5, data: Buffer.from('hi') });
  const r = decodeView(f);
  assert.ok(r.ok);
  assert.equal(r.value.runId, 'abcdefghjkmn');
  assert.equal(r.value.time, 1234.5);
  assert.equal(Buffer.from(r.value.data).toString(), 'hi');
  // The run id encoded once by the caller, and a seq past 2^32 (written as two halves).
  const big = 2 ** 40 + 5;
  const g = decodeView(encodeView({ runId: 'abcdefghjkmn', seq: big, stream: 1, time: 1, data: Buffer.from('x') }, Buffer.from('abcdefghjkmn')));
  assert.ok(g.ok);
  assert.equal(g.value.seq, big);
  assert.equal(g.value.runId, 'abcdefghjkmn');
  assert.equal(g.value.stream, 1);
});

test('fingerprints parse in any case, with colons, and refuse anything else', () => {
  const hex = 'ab'.repeat(32);
  const want = `sha256:${hex}`;
  assert.equal(parseFingerprint(want), want);
  assert.equal(parseFingerprint(`SHA256:${hex.toUpperCase()}`), want);
  assert.equal(parseFingerprint(`sha256:${hex.match(/../g)!.join(':').toUpperCase()}`), want);
  assert.equal(parseFingerprint(hex.match(/../g)!.join(':')), want);
  for (const bad of ['', 'sha256:', `sha1:${hex}`, `sha256:${hex}00`, `sha256:${hex.slice(2)}`, `sha256:${'zz'.repeat(32)}`]) {
    assert.throws(() => parseFingerprint(bad), /invalid certificate fingerprint/, bad);
  }
});

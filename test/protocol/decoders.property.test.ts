import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseCloseReason } from '../../protocol/errors.js';
import { MAX_CHUNK_DATA, OUTPUT_HEADER_BYTES, STREAMS, decodeOutput, decodeView, encodeOutput, encodeView } from '../../protocol/frames.js';
import { OperatorToGateway, GatewayToOperator } from '../../protocol/operator-messages.js';
import { GatewayToRunner, RunnerToGateway } from '../../protocol/runner-messages.js';
import { checkSignedHeaders, signatureMatches, signature } from '../../protocol/signing.js';
import { parseEvents } from '../../protocol/runner-events.js';

// Property-based tests of every decoder that reads bytes or JSON from the network: whatever
// arrives, they return a verdict and never throw, and what they accept is well-formed.

const bytes = fc.uint8Array({ maxLength: 300 });
const ab = (u: Uint8Array): ArrayBuffer => u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;

test('decodeOutput: any bytes give a verdict; accepted frames are well-formed', () => {
  fc.assert(
    fc.property(fc.oneof(bytes, bytes.map((b) => Uint8Array.from([1, ...b]))), (b) => {
      const r = decodeOutput(ab(b));
      if (!r.ok) return;
      assert.equal(b[0], 1);
      assert.ok(r.value.stream < STREAMS.length);
      assert.ok(Number.isSafeInteger(r.value.seq) && r.value.seq >= 1);
      assert.equal(r.value.data.length, b.length - OUTPUT_HEADER_BYTES);
    }),
    { numRuns: 2000 },
  );
});

test('decodeOutput: oversized data is refused', () => {
  const big = new Uint8Array(OUTPUT_HEADER_BYTES + MAX_CHUNK_DATA + 1);
  big.set(encodeOutput({ stream: 0, seq: 1, data: new Uint8Array(0) }));
  assert.equal(decodeOutput(ab(big)).ok, false);
});

test('OUTPUT and VIEW frames round-trip', () => {
  const chunk = fc.record({
    stream: fc.integer({ min: 0, max: STREAMS.length - 1 }),
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    data: fc.uint8Array({ maxLength: 2000 }),
  });
  fc.assert(
    fc.property(chunk, fc.stringMatching(/^[0-9a-z]{0,40}$/), fc.double({ noNaN: true }), (c, runId, time) => {
      const out = decodeOutput(ab(encodeOutput(c)));
      assert.ok(out.ok);
      assert.deepEqual([out.value.stream, out.value.seq, Buffer.from(out.value.data)], [c.stream, c.seq, Buffer.from(c.data)]);
      const view = decodeView(encodeView({ ...c, runId, time }));
      assert.ok(view.ok);
      assert.deepEqual([view.value.runId, view.value.seq, Object.is(view.value.time, time) || view.value.time === time], [runId, c.seq, true]);
      assert.ok(Buffer.from(view.value.data).equals(Buffer.from(c.data)));
    }),
    { numRuns: 500 },
  );
});

test('decodeView: any bytes give a verdict', () => {
  fc.assert(
    fc.property(fc.oneof(bytes, bytes.map((b) => Uint8Array.from([2, ...b]))), (b) => {
      const r = decodeView(b);
      if (r.ok) assert.ok(r.value.seq >= 1);
    }),
    { numRuns: 2000 },
  );
});

test('the message unions: any JSON, and near-misses of real messages, are parsed without throwing', () => {
  const types = fc.constantFrom('hello', 'started', 'exit', 'subscribe', 'unsubscribe', 'watch_runs', 'welcome', 'ack', 'cancel', 'exec', 'error', 'x');
  const nearMiss = fc.record({ type: types, v: fc.anything(), runId: fc.anything(), seq: fc.anything(), from: fc.anything(), tail: fc.anything(), runner: fc.anything(), code: fc.anything(), lastSeq: fc.anything() }, { requiredKeys: ['type'] });
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), fc.anything(), nearMiss), (v) => {
      for (const schema of [RunnerToGateway, OperatorToGateway, GatewayToRunner, GatewayToOperator]) {
        const r = schema.safeParse(v);
        if (r.success) assert.equal(typeof (r.data as { type: unknown }).type, 'string');
      }
    }),
    { numRuns: 2000 },
  );
});

test('signed headers: any strings give a verdict; only well-formed, fresh ones pass the shape check', () => {
  const maybe = fc.option(fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[0-9a-z]{12}$/), fc.stringMatching(/^[0-9a-f]{64}$/), fc.stringMatching(/^[A-Za-z0-9_-]{16,64}$/)), { nil: undefined });
  const now = Date.now();
  fc.assert(
    fc.property(maybe, fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.integer({ min: 0, max: 4e9 }).map(String)), { nil: undefined }), maybe, maybe, (runId, timestamp, nonce, sig) => {
      const v = checkSignedHeaders({ runId, timestamp, nonce, signature: sig }, now);
      if (!v.ok) return;
      assert.match(runId!, /^[0-9a-hjkmnp-tv-z]{12}$/);
      assert.ok(Math.abs(Number(timestamp) - now / 1000) <= 300);
      assert.match(sig!, /^[0-9a-f]{64}$/);
    }),
    { numRuns: 2000 },
  );
});

test('signatureMatches: a forged or garbled signature never matches, and never throws', () => {
  const token = 'ccgr_' + 'k'.repeat(43);
  const req = { method: 'GET', target: '/v1/runner' };
  const h = { runId: 'abcdefghjkmn', timestamp: String(Math.floor(Date.now() / 1000)), nonce: 'n'.repeat(24) };
  const good = signature(token, { ...req, runId: h.runId, timestamp: Number(h.timestamp), nonce: h.nonce });
  assert.ok(signatureMatches(token, { ...h, signature: good }, req));
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 70 }), fc.stringMatching(/^[0-9a-f]{64}$/), fc.stringMatching(/^[0-9a-f]{1,63}$/)), (sig) => {
      fc.pre(sig !== good);
      assert.equal(signatureMatches(token, { ...h, signature: sig }, req), false);
    }),
    { numRuns: 2000 },
  );
});

test('close reasons and runner event lines: any input parses without throwing', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 400 }), (reason, events) => {
      const r = parseCloseReason(reason);
      assert.equal(typeof r.message, 'string');
      assert.ok(Array.isArray(parseEvents(Buffer.from(events))));
    }),
    { numRuns: 2000 },
  );
});

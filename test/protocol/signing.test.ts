import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canonicalString, checkSignedHeaders, signature, signatureMatches, signRequest } from '../../protocol/signing.js';

const token = 'ccgr_' + 'A'.repeat(43);
const runId = '0123456789ab';

/** The `signing-example` blocks of docs/PROTOCOL.md, parsed into name → value. */
function docExamples(): Record<string, string>[] {
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/PROTOCOL.md', import.meta.url)), 'utf8');
  const blocks = [...doc.matchAll(/```signing-example\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.map((b) => {
    const fields: Record<string, string> = {};
    for (const line of b.split('\n')) {
      const m = /^(\w+):\s?(.*)$/.exec(line);
      if (m) fields[m[1]!] = m[2]!;
    }
    return fields;
  });
}

test('the worked examples in docs/PROTOCOL.md are exactly what the code computes', () => {
  const examples = docExamples();
  assert.ok(examples.length >= 2, 'PROTOCOL.md has at least two signing-example blocks');
  for (const ex of examples) {
    const input = {
      method: ex['method']!,
      target: ex['target']!,
      runId: ex['run_id']!,
      timestamp: Number(ex['timestamp']),
      nonce: ex['nonce']!,
      body: JSON.parse(ex['body']!) as string,
    };
    assert.equal(canonicalString(input), JSON.parse(ex['canonical']!), `canonical string of ${ex['method']} ${ex['target']}`);
    assert.equal(signature(ex['token']!, input), ex['signature'], `signature of ${ex['method']} ${ex['target']}`);
  }
});

test('canonical string is the scheme, method, target, run, time, nonce and body hash joined by newlines', () => {
  const s = canonicalString({ method: 'post', target: '/a?b=1', runId, timestamp: 1700000000, nonce: 'n'.repeat(16), body: 'hi' });
  assert.equal(
    s,
    'CCG1-HMAC-SHA256\nPOST\n/a?b=1\n0123456789ab\n1700000000\nnnnnnnnnnnnnnnnn\n8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4',
  );
  assert.equal(signature(token, { method: 'POST', target: '/a?b=1', runId, timestamp: 1700000000, nonce: 'n'.repeat(16), body: 'hi' }), createHmac('sha256', token).update(s).digest('hex'));
});

test('signature check refuses a change to any signed part', () => {
  const now = 1_800_000_000_000;
  const h = signRequest(token, { method: 'POST', target: '/x', runId, body: 'body' }, { now, nonce: 'abcdefghijklmnop' });
  const signed = { runId: h['x-ccg-run-id']!, timestamp: h['x-ccg-timestamp']!, nonce: h['x-ccg-nonce']!, signature: h['x-ccg-signature']! };
  assert.ok(signatureMatches(token, signed, { method: 'POST', target: '/x', body: 'body' }));
  assert.ok(!signatureMatches(token, signed, { method: 'GET', target: '/x', body: 'body' }), 'method');
  assert.ok(!signatureMatches(token, signed, { method: 'POST', target: '/y', body: 'body' }), 'path');
  assert.ok(!signatureMatches(token, signed, { method: 'POST', target: '/x', body: 'bodY' }), 'body');
  assert.ok(!signatureMatches(token, { ...signed, runId: 'ba9876543210' }, { method: 'POST', target: '/x', body: 'body' }), 'run id');
  assert.ok(!signatureMatches(token, { ...signed, nonce: 'abcdefghijklmnoq' }, { method: 'POST', target: '/x', body: 'body' }), 'nonce');
  assert.ok(!signatureMatches(token, { ...signed, timestamp: String(Number(signed.timestamp) + 1) }, { method: 'POST', target: '/x', body: 'body' }), 'timestamp');
  assert.ok(!signatureMatches('ccgr_' + 'B'.repeat(43), signed, { method: 'POST', target: '/x', body: 'body' }), 'token');
});

test('header checks: window of ±300 s and strict formats', () => {
  const now = 1_800_000_000_000;
  const base = { runId, timestamp: String(now / 1000), nonce: 'abcdefghijklmnop', signature: 'a'.repeat(64) };
  assert.deepEqual(checkSignedHeaders(base, now), { ok: true });
  assert.equal(checkSignedHeaders({ ...base, timestamp: String(now / 1000 - 301) }, now).ok, false);
  assert.equal(checkSignedHeaders({ ...base, timestamp: String(now / 1000 + 301) }, now).ok, false);
  assert.deepEqual(checkSignedHeaders({ ...base, timestamp: String(now / 1000 + 300) }, now), { ok: true });
  const stale = checkSignedHeaders({ ...base, timestamp: '0' }, now);
  assert.equal(!stale.ok && stale.code, 'ERR_SIGNATURE_STALE');
  // Just outside the window never reads as inside it ("300 s away … (window ±300 s)").
  const justOut = checkSignedHeaders(base, now + 300_400);
  assert.match(!justOut.ok ? justOut.message : '', /^timestamp is more than 300 s away/);
  const far = checkSignedHeaders(base, now + 3_600_000);
  assert.match(!far.ok ? far.message : '', /^timestamp is 3600 s away/);
  for (const bad of [{ runId: 'UPPERCASE123' }, { timestamp: '1e9' }, { timestamp: '-5' }, { timestamp: '+5' }, { timestamp: '0' + String(now / 1000) }, { timestamp: '00' }, { nonce: 'short' }, { nonce: 'a b c d e f g h i j' }, { signature: 'A'.repeat(64) }, { signature: 'a'.repeat(63) }]) {
    const r = checkSignedHeaders({ ...base, ...bad }, now);
    assert.equal(!r.ok && r.code, 'ERR_SIGNATURE_INVALID', JSON.stringify(bad));
  }
  const none = checkSignedHeaders({}, now);
  assert.equal(!none.ok && none.code, 'ERR_SIGNATURE_MISSING');
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ChunkRedactor, Redaction, StreamRedactor, secretEnvValues } from '../../protocol/redaction.js';

const runToken = 'ccgr_' + 'R'.repeat(20) + 'x'.repeat(23);
const env = { MY_API_TOKEN: 'hunter2-secret-value', DB_PASSWORD: 'pa55word!', HOME: '/root', SHORT_KEY: 'abc', PATH: '/usr/bin' };

const SAMPLES: [string, string][] = [
  ['anthropic', 'sk-ant-api03-' + 'a1B2'.repeat(20) + '-AA'],
  ['openai', 'sk-proj-' + 'Zq9'.repeat(16)],
  ['github', 'ghp_' + 'A1b2C3d4E5'.repeat(4)],
  ['github', 'github_pat_11ABCDEFG0' + 'x'.repeat(60)],
  ['aws', 'AKIAIOSFODNN7EXAMPLE'],
  ['slack', 'xoxb-1234567890-abcdefghij'],
  ['jwt', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'],
  ['ccg-token', runToken],
  ['ccg-token', 'ccgo_' + 'O'.repeat(43)],
  ['ccg-token', 'ccgm_' + 'M1_-'.repeat(10) + 'Mmm'], // a machine token
  ['env:MY_API_TOKEN', 'hunter2-secret-value'],
  ['env:DB_PASSWORD', 'pa55word!'],
  ['private-key', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACBZ\n-----END OPENSSH PRIVATE KEY-----'],
];

function redaction(): Redaction {
  return new Redaction({ literals: [{ kind: 'ccg-token', value: runToken }, ...secretEnvValues(env).map((v) => ({ kind: `env:${v.name}`, value: v.value }))] });
}

function streamThrough(parts: Buffer[]): string {
  const s = new StreamRedactor(redaction());
  const out: Buffer[] = parts.map((p) => s.push(p));
  out.push(s.flush());
  return Buffer.concat(out).toString('latin1');
}

test('every secret kind is redacted, whatever offset the stream splits it at', () => {
  for (const [kind, secret] of SAMPLES) {
    const text = `before ${secret} after\nnext line`;
    const whole = Buffer.from(text, 'latin1');
    for (let cut = 0; cut <= whole.length; cut++) {
      const out = streamThrough([whole.subarray(0, cut), whole.subarray(cut)]);
      assert.ok(!out.includes(secret.slice(0, 12)) || kind === 'private-key', `${kind} leaked at split ${cut}: ${out}`);
      assert.ok(!out.includes(secret.slice(-8)), `${kind} tail leaked at split ${cut}: ${out}`);
      assert.match(out, new RegExp(`before \\[REDACTED:${kind.replace('-', '\\-')}\\] after\\nnext line$`), `${kind} at ${cut}`);
    }
  }
});

test('Authorization and Bearer credentials are redacted whatever offset the stream splits them at', () => {
  const cases: [string, string][] = [
    ['GET /\r\nAuthorization: Bearer abcdefghijklmnopqrstuvwxyz012345\r\nnext: 1\r\n', 'GET /\r\nAuthorization: Bearer [REDACTED:authorization]\r\nnext: 1\r\n'],
    ['curl -H "authorization: token gho_notreallyatoken123" x\n', 'curl -H "authorization: token [REDACTED:authorization] x\n'],
    ['Authorization: Bot MTk4NjIy.Cl2FMQ.ZnCjm1X\n', 'Authorization: Bot [REDACTED:authorization]\n'],
    ['Authorization: Negotiate YIIHRAYGKwYB x\n', 'Authorization: Negotiate [REDACTED:authorization] x\n'],
    ['Authorization: SSWS 00abcDEF\n', 'Authorization: SSWS [REDACTED:authorization]\n'],
    ['{"Authorization": "Basic dXNlcjpw YWJj", "x": 1}', '{"Authorization": "Basic [REDACTED:authorization]", "x": 1}'],
    ["authorization: 'Bearer abc def'", "authorization: 'Bearer [REDACTED:authorization]'"],
    ['-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----\nok', '[REDACTED:private-key]\nok'],
    ['send it with bearer Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA== please\n', 'send it with bearer [REDACTED:bearer] please\n'],
  ];
  for (const [input, expected] of cases) {
    const whole = Buffer.from(input, 'latin1');
    for (let cut = 0; cut <= whole.length; cut++) {
      assert.equal(streamThrough([whole.subarray(0, cut), whole.subarray(cut)]), expected, `split at ${cut}`);
    }
    // And across three writes.
    for (let a = 1; a < whole.length; a += 3) {
      const b = Math.min(whole.length, a + 7);
      assert.equal(streamThrough([whole.subarray(0, a), whole.subarray(a, b), whole.subarray(b)]), expected, `split at ${a} and ${b}`);
    }
  }
});

test('redactor throughput on output with no secrets (diagnostic, not asserted)', (t) => {
  const line = 'PASS test/unit/parser.test.ts (12 ms) › handles sk- prefixes, eyJ fragments and AKIA words\n';
  const input = Buffer.from(line.repeat(Math.ceil((16 * 1024 * 1024) / line.length)));
  for (const [label, size] of [['4 KiB writes', 4096], ['64 KiB writes', 64 * 1024]] as const) {
    const s = new StreamRedactor(redaction());
    const started = performance.now();
    let out = 0;
    for (let off = 0; off < input.length; off += size) out += s.push(input.subarray(off, off + size)).length;
    out += s.flush().length;
    const sec = (performance.now() - started) / 1000;
    assert.equal(out, input.length);
    t.diagnostic(`StreamRedactor, ${label}: ${(input.length / 1024 / 1024 / sec).toFixed(0)} MB/s (16 MiB, token + 2 env secrets + every known format)`);
  }
  const c = new ChunkRedactor(redaction());
  const started = performance.now();
  for (let off = 0; off < input.length; off += 64 * 1024) c.apply(input.subarray(off, off + 64 * 1024));
  t.diagnostic(`ChunkRedactor (gateway pass), 64 KiB chunks: ${(input.length / 1024 / 1024 / ((performance.now() - started) / 1000)).toFixed(0)} MB/s`);
});

test('a secret written one byte at a time is still caught', () => {
  for (const [kind, secret] of SAMPLES) {
    const text = Buffer.from(`x=${secret}\n`, 'latin1');
    const out = streamThrough([...text].map((b) => Buffer.from([b])));
    assert.equal(out, `x=[REDACTED:${kind}]\n`);
  }
});

test('Authorization headers and bearer credentials keep their name, lose their value', () => {
  const out = streamThrough([Buffer.from('GET / HTTP/1.1\r\nAuthorization: Bearer abcdefghijklmnopqrstuvwxyz012345\r\nauthorization: Basic dXNlcjpwYXNz\r\n')]);
  assert.equal(out, 'GET / HTTP/1.1\r\nAuthorization: Bearer [REDACTED:authorization]\r\nauthorization: Basic [REDACTED:authorization]\r\n');
});

test('a megabyte of ordinary output passes through byte-identical, binary included', () => {
  const lines: string[] = [];
  for (let i = 0, size = 0; size < 1024 * 1024; i++) {
    const line = `test ${i} passed in ${i % 97} ms: sk- is not a key, nor is eyJ alone, AKIA short, bearer of news, Authorization pending\n`;
    lines.push(line);
    size += line.length;
  }
  const text = Buffer.from(lines.join(''));
  const bin = randomBytes(256 * 1024);
  for (const input of [text, bin]) {
    const parts: Buffer[] = [];
    for (let off = 0; off < input.length; off += 4093) parts.push(input.subarray(off, off + 4093));
    const out = Buffer.from(streamThrough(parts), 'latin1');
    assert.ok(out.equals(input), 'identical');
  }
});

test('short env values and non-secret names are not treated as secrets', () => {
  const values = secretEnvValues(env).map((v) => v.name).sort();
  assert.deepEqual(values, ['DB_PASSWORD', 'MY_API_TOKEN']);
});

test('an over-long unterminated private key block is redacted to its end, and output resumes after', () => {
  const s = new StreamRedactor(redaction());
  const out: Buffer[] = [s.push(Buffer.from('key:\n-----BEGIN RSA PRIVATE KEY-----\n'))];
  for (let i = 0; i < 100; i++) out.push(s.push(Buffer.from('A'.repeat(1023) + '\n')));
  out.push(s.push(Buffer.from('-----END RSA PRIVATE KEY-----\nafter\n')));
  out.push(s.flush());
  assert.equal(Buffer.concat(out).toString(), 'key:\n[REDACTED:private-key]\nafter\n');
});

test('gateway pass: a secret straddling two stored chunks is redacted in both', () => {
  const c = new ChunkRedactor(redaction());
  const secret = 'ghp_' + 'A1b2C3d4E5'.repeat(4);
  const first = c.apply(Buffer.from(`start ${secret.slice(0, 10)}`)).toString();
  const second = c.apply(Buffer.from(`${secret.slice(10)} end`)).toString();
  // Nothing is held at the gateway: a chunk ending in a possible secret is stored redacted, and
  // the rest of that secret in the next chunk is dropped (it used to store the first part in clear).
  assert.equal(first, 'start [REDACTED:github]');
  assert.equal(second, ' end');
  assert.equal(c.apply(Buffer.from(`plain ${runToken}\n`)).toString(), 'plain [REDACTED:ccg-token]\n');
});

test('gateway pass: a chunk with nothing to redact comes back as the same buffer, whatever its last word', () => {
  const c = new ChunkRedactor(redaction());
  // Each ends in a word the stream redactor holds back (it could begin a secret) or in nothing held.
  for (const tail of ['ordinary words\n', 'ends in sk', 'ends in ghp', 'ends with Author', 'then Bearer', 'no newline at all']) {
    const chunk = Buffer.from(`line of output with sk- and eyJ alone and AKIA short\n${tail}`);
    const copy = Buffer.from(chunk);
    const out = c.apply(chunk);
    assert.equal(out.toString('latin1'), copy.toString('latin1'), tail);
    assert.equal(out, chunk, `${JSON.stringify(tail)}: not copied`);
  }
  // …and one that had something redacted is a new buffer; the caller's is left as it was.
  const secret = 'ghp_' + 'A1b2C3d4E5'.repeat(4);
  const chunk = Buffer.from(`push with ${secret} now\n`);
  const out = c.apply(chunk);
  assert.equal(out.toString(), 'push with [REDACTED:github] now\n');
  assert.equal(chunk.toString(), `push with ${secret} now\n`);
});

test('gateway pass: every secret kind split over two chunks at every offset is never stored in clear', () => {
  for (const [kind, secret] of SAMPLES) {
    const whole = Buffer.from(`before ${secret} after\nnext line`, 'latin1');
    for (let cut = 0; cut <= whole.length; cut++) {
      const c = new ChunkRedactor(redaction());
      const out = Buffer.concat([c.apply(whole.subarray(0, cut)), c.apply(whole.subarray(cut))]).toString('latin1');
      assert.ok(!out.includes(secret.slice(0, 12)) || kind === 'private-key', `${kind} stored at split ${cut}: ${out}`);
      if (kind === 'private-key') assert.ok(!out.includes('b3BlbnNzaC1rZXktdjEAAAAA'), `key body stored at split ${cut}`);
    }
  }
});

test('a secret split at any offset after more than 8 KiB without whitespace (minified JSON) is caught by both passes', () => {
  /** Whether any 8 characters of the secret past its public format marker reached `out`. */
  const leaked = (out: string, secret: string, pub: number) => {
    for (let i = pub; i + 8 <= secret.length; i++) if (out.includes(secret.slice(i, i + 8))) return secret.slice(i, i + 8);
    return null;
  };
  for (const [kind, secret] of SAMPLES.filter(([k]) => k !== 'private-key')) {
    const pre = `{"data":"${'~'.repeat(9000)}","token":"`;
    const whole = Buffer.from(`${pre}${secret}"}\n`, 'latin1');
    const pub = kind.startsWith('env:') ? 0 : 3; // the shortest format marker (sk-, eyJ) is public
    for (let cut = pre.length - 2; cut <= whole.length; cut++) {
      const runner = streamThrough([whole.subarray(0, cut), whole.subarray(cut)]);
      assert.equal(leaked(runner, secret, pub), null, `${kind}: the runner let part of it out at split ${cut}`);
      const c = new ChunkRedactor(redaction());
      const gateway = Buffer.concat([c.apply(whole.subarray(0, cut)), c.apply(whole.subarray(cut))]).toString('latin1');
      assert.equal(leaked(gateway, secret, pub), null, `${kind}: the gateway stored part of it at split ${cut}`);
    }
    // Nothing else is lost: unsplit, the text comes out whole but for the secret.
    assert.equal(streamThrough([whole]), `${pre}[REDACTED:${kind}]"}\n`);
  }
});

test('gateway pass with the run token as its only literal: the token is caught whole, split at any offset, and beside other secrets', () => {
  // The gateway's own Redaction holds just the run token, whose `ccgr_` is a starter: a text the
  // prefilter finds no starter in is not scanned for the token again. Every way the token can
  // reach the gateway must still be caught.
  const gateway = () => new Redaction({ literals: [{ kind: 'ccg-token', value: runToken }] });
  const lines = [`plain ${runToken}\n`, `${runToken}`, `x=${runToken};ghp_${'A1b2C3d4E5'.repeat(4)} and AKIAIOSFODNN7EXAMPLE\n`, `Authorization: Bearer ${runToken}\n`];
  for (const line of lines) {
    const whole = Buffer.from(line, 'latin1');
    for (let cut = 0; cut <= whole.length; cut++) {
      const c = new ChunkRedactor(gateway());
      const out = Buffer.concat([c.apply(whole.subarray(0, cut)), c.apply(whole.subarray(cut))]).toString('latin1');
      assert.ok(!out.includes(runToken.slice(5, 25)), `token stored at split ${cut} of ${JSON.stringify(line)}: ${out}`);
    }
  }
  assert.equal(new ChunkRedactor(gateway()).apply(Buffer.from(`plain ${runToken}\n`)).toString(), 'plain [REDACTED:ccg-token]\n');
  // A literal with no starter in it (a secret env value at the runner) is still looked for in a line with none.
  const env = new ChunkRedactor(new Redaction({ literals: [{ kind: 'ccg-token', value: runToken }, { kind: 'env:X', value: 'hunter2-secret-value' }] }));
  assert.equal(env.apply(Buffer.from('say hunter2-secret-value now\n')).toString(), 'say [REDACTED:env:X] now\n');
});

test('Redaction.find: the token-only literal scan is skipped exactly when the prefilter found no starter; literals near a starter are always looked for', () => {
  const tokenOnly = new Redaction({ literals: [{ kind: 'ccg-token', value: runToken }] });
  const line = `plain ${runToken} line`;
  // The caller's prefilter result is trusted: told there is no starter, the token-only scan is
  // skipped (a caller must never say so of a text holding one: the streaming redactor computes it
  // on the very text, or a text holding it)…
  assert.deepEqual(tokenOnly.find(line, { rule: false, header: false }), []);
  // …and with the starters as they are, the token is found (by its literal and by its rule).
  assert.deepEqual(tokenOnly.find(line, { rule: true, header: false }).map((f) => [f.start, f.end]), [[6, 6 + runToken.length]]);
  // Literals that only look like a token format (no starter in them) switch the skip off: each is
  // found in a line with no starter, beside the run token.
  for (const value of ['sk_live_0123456789abcdef', 'xoxz-0123456789', 'ghpABCDEF0123456', 'akiaabcdef012345', 'ccgr-abcdefghijk', 'a.b*c(d)+secret']) {
    const r = new Redaction({ literals: [{ kind: 'ccg-token', value: runToken }, { kind: 'env:X', value }] });
    const c = new ChunkRedactor(r);
    assert.equal(c.apply(Buffer.from(`say ${value} now\n`, 'latin1')).toString('latin1'), 'say [REDACTED:env:X] now\n', value);
    assert.deepEqual(r.find(`say ${value} now`, { rule: false, header: false }).map((f) => f.kind), ['env:X'], value);
  }
  // A literal with regex characters that holds a starter: found exactly, its near miss left alone.
  const odd = 'ccgr_a.b*c(d)';
  const r = new ChunkRedactor(new Redaction({ literals: [{ kind: 'env:Y', value: odd }] }));
  assert.equal(r.apply(Buffer.from(`x ${odd} ccgr_aXbbc(d) y\n`)).toString(), 'x [REDACTED:env:Y] ccgr_aXbbc(d) y\n');
});

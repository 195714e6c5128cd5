import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { mock, test } from 'node:test';
import { HOLD_RELEASE_MS, OutputPipeline, runRedaction } from '../../cli/runner/output-pipeline.js';
import { Spool } from '../../cli/runner/spool.js';
import { STREAM_STDOUT } from '../../protocol/frames.js';
import { ChunkRedactor, Redaction, StreamRedactor, secretEnvValues } from '../../protocol/redaction.js';
import { tempDir } from '../helpers/gateway.js';

// A secret printed in two writes with a pause longer than the release time between them: no
// byte of it may go out, whatever the offset of the pause (issue 13, High).

const runToken = 'ccgr_' + 'R'.repeat(20) + 'x'.repeat(23);
const env = { MY_API_TOKEN: 'hunter2-secret-value', DB_PASSWORD: 'pa55word!' };

interface Case {
  name: string;
  /** Text before the secret, the secret, text after it. */
  pre: string;
  secret: string;
  post: string;
  /** Leading characters of `secret` that are a public format marker, not secret material. */
  pub: number;
}

const CASES: Case[] = [
  ['anthropic', 'sk-ant-api03-' + 'a1B2'.repeat(20) + '-AA', 7],
  ['openai', 'sk-proj-' + 'Zq9'.repeat(16), 8],
  ['github', 'ghp_' + 'A1b2C3d4E5'.repeat(4), 4],
  ['github-pat', 'github_pat_11ABCDEFG0' + 'x'.repeat(60), 11],
  ['aws', 'AKIAIOSFODNN7EXAMPLE', 4],
  ['slack', 'xoxb-1234567890-abcdefghij', 5],
  ['jwt', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', 3],
  ['ccg-token', runToken, 5],
  ['ccg-machine-token', 'ccgm_' + 'M1_-'.repeat(10) + 'Mmm', 5],
  ['env-literal', 'hunter2-secret-value', 0],
  ['env-literal-short', 'pa55word!', 0],
  ['private-key', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n' + 'QyNTUxOQAAACBZ'.repeat(70) + '\n-----END OPENSSH PRIVATE KEY-----', 36],
].map(([name, secret, pub]) => ({ name: name as string, pre: 'before ', secret: secret as string, post: ' after\nnext line\n', pub: pub as number }));
CASES.push(
  { name: 'authorization', pre: 'GET /\r\nAuthorization: ', secret: 'Bearer abcdefghijklmnopqrstuvwxyz012345', post: '\r\nnext: 1\r\n', pub: 7 },
  { name: 'authorization-token', pre: 'curl -H "authorization: ', secret: 'token gho_notreallyatoken123"', post: ' x\n', pub: 6 },
  { name: 'bearer', pre: 'send it with ', secret: 'bearer Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==', post: ' please\n', pub: 7 },
  // Any scheme word, a quoted field's whole value, PGP key blocks.
  { name: 'authorization-bot', pre: 'GET /\r\nAuthorization: ', secret: 'Bot MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs', post: '\r\nnext: 1\r\n', pub: 4 },
  { name: 'authorization-negotiate', pre: 'GET /\r\nAuthorization: ', secret: 'Negotiate YIIHRAYGKwYBBQUCoIIHODCCBzSgMDAuBgkqhkiC9xIBAgIGCSqG', post: '\r\nnext: 1\r\n', pub: 10 },
  { name: 'authorization-ssws', pre: 'authorization: ', secret: 'SSWS 00QCjAl4MlV-WPXM-ABCDEFGHIJKLMNOPQRSTUVWXYZ', post: '\nnext\n', pub: 5 },
  { name: 'authorization-json', pre: '{"headers": {"Authorization": "', secret: 'Basic dXNlcjpwYXNzd29yZDEyMzQ= more words', post: '", "x": 1}}\n', pub: 6 },
  { name: 'private-key-pgp', pre: 'before ', secret: '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF' + 'QyNTUxOQAAACBZ'.repeat(70) + '\n-----END PGP PRIVATE KEY BLOCK-----', post: ' after\nnext line\n', pub: 38 },
);

function redaction(): Redaction {
  return new Redaction({ literals: [{ kind: 'ccg-token', value: runToken }, ...secretEnvValues(env).map((v) => ({ kind: `env:${v.name}`, value: v.value }))] });
}

/**
 * The output is the text before the secret, at most a prefix of the secret's public marker,
 * one or more `[REDACTED:…]`, then the text after it: not one character of the secret's body.
 */
function assertNoLeak(c: Case, out: string, where: string): void {
  assert.ok(out.startsWith(c.pre) || out.startsWith(c.pre.slice(0, c.pre.lastIndexOf('\n') + 1)), `${c.name} ${where}: text before changed: ${JSON.stringify(out)}`);
  assert.ok(out.endsWith(c.post), `${c.name} ${where}: text after lost: ${JSON.stringify(out)}`);
  const start = out.startsWith(c.pre) ? c.pre.length : c.pre.lastIndexOf('\n') + 1;
  const middle = out.slice(start, out.length - c.post.length);
  const m = /^([^[]*?)((?:\[REDACTED:[^\]]+\])+)$/s.exec(middle);
  assert.ok(m, `${c.name} ${where}: not a redaction: ${JSON.stringify(middle)}`);
  const clear = m[1]!;
  // "Authorization: Bea" released: the header name stays, the scheme may go with the value.
  const marker = out.startsWith(c.pre) ? c.secret.slice(0, c.pub) : c.pre.slice(c.pre.lastIndexOf('\n') + 1) + c.secret.slice(0, c.pub);
  assert.ok(marker.startsWith(clear), `${c.name} ${where}: ${JSON.stringify(clear)} went out in clear`);
}

test('a pause at any offset of any secret lets none of it out of the runner (release between the writes)', () => {
  for (const c of CASES) {
    const whole = Buffer.from(c.pre + c.secret + c.post, 'latin1');
    for (let cut = 0; cut <= whole.length; cut++) {
      const s = new StreamRedactor(redaction());
      const out = [s.push(whole.subarray(0, cut)), s.release(), s.push(whole.subarray(cut)), s.flush()];
      assertNoLeak(c, Buffer.concat(out).toString('latin1'), `pause at ${cut}`);
    }
  }
});

test('two pauses inside a secret, and a pause at every byte, let none of it out', () => {
  for (const c of CASES) {
    const whole = Buffer.from(c.pre + c.secret + c.post, 'latin1');
    for (let a = 1; a < whole.length; a += 5) {
      const b = Math.min(whole.length, a + 9);
      const s = new StreamRedactor(redaction());
      const out = [s.push(whole.subarray(0, a)), s.release(), s.push(whole.subarray(a, b)), s.release(), s.push(whole.subarray(b)), s.flush()];
      assertNoLeak(c, Buffer.concat(out).toString('latin1'), `pauses at ${a} and ${b}`);
    }
    const s = new StreamRedactor(redaction());
    const out: Buffer[] = [];
    for (let i = 0; i < whole.length; i++) out.push(s.push(whole.subarray(i, i + 1)), s.release());
    out.push(s.flush());
    assertNoLeak(c, Buffer.concat(out).toString('latin1'), 'a pause after every byte');
  }
});

test('the gateway pass stores none of a secret split over chunks at any offset, nor over a chunk per byte', () => {
  // The gateway knows the run token, not the runner's environment.
  const gateway = new Redaction({ literals: [{ kind: 'ccg-token', value: runToken }] });
  for (const c of CASES.filter((x) => !x.name.startsWith('env-'))) {
    const whole = Buffer.from(c.pre + c.secret + c.post, 'latin1');
    for (let cut = 0; cut <= whole.length; cut++) {
      const g = new ChunkRedactor(gateway);
      assertNoLeak(c, Buffer.concat([g.apply(whole.subarray(0, cut)), g.apply(whole.subarray(cut))]).toString('latin1'), `chunk split at ${cut}`);
    }
    const g = new ChunkRedactor(gateway);
    const out: Buffer[] = [];
    for (let i = 0; i < whole.length; i++) out.push(g.apply(whole.subarray(i, i + 1)));
    assertNoLeak(c, Buffer.concat(out).toString('latin1'), 'a chunk per byte');
  }
});

test('a private key far past the hold bound is redacted from BEGIN to END, across pauses, and output resumes after', () => {
  const s = new StreamRedactor(redaction());
  const body = 'QUFBQUFBQUFBQUFB'.repeat(64) + '\n';
  const out: Buffer[] = [s.push(Buffer.from('key:\n-----BEGIN RSA PRIVATE KEY-----\n'))];
  out.push(s.release());
  for (let i = 0; i < 200; i++) {
    out.push(s.push(Buffer.from(body)));
    if (i % 7 === 0) out.push(s.release());
  }
  out.push(s.push(Buffer.from('-----END RSA PRI')), s.release(), s.push(Buffer.from('VATE KEY-----\nafter\n')), s.flush());
  assert.equal(Buffer.concat(out).toString(), 'key:\n[REDACTED:private-key]\nafter\n');
});

test('a pause inside a certificate header redacts only what was held, and the certificate then goes on in clear', () => {
  const s = new StreamRedactor(redaction());
  const out = [s.push(Buffer.from('cert:\n-----BEGIN CERT')), s.release(), s.push(Buffer.from('IFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')), s.flush()];
  assert.equal(Buffer.concat(out).toString(), 'cert:\n[REDACTED:private-key]IFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
});

test('ordinary output with pauses between the writes passes through unchanged', () => {
  const text = 'PASS test/unit/parser.test.ts (12 ms) handles tasks, items and the bearer of news\nAuthorization pending\n'.repeat(50);
  const whole = Buffer.from(text);
  const s = new StreamRedactor(redaction());
  const out: Buffer[] = [];
  for (let off = 0; off < whole.length; off += 37) out.push(s.push(whole.subarray(off, off + 37)), s.release());
  out.push(s.flush());
  assert.equal(Buffer.concat(out).toString(), text);
});

test('output pipeline: a pause longer than HOLD_RELEASE_MS (mock timers) inside any secret lets none of it into the spool', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  for (const c of CASES.filter((x) => x.name !== 'ccg-token')) {
    const dir = join(tempDir(), 'run');
    const spool = Spool.open(dir);
    try {
      const p = new OutputPipeline({ spool, redaction: runRedaction(runToken, env), tap: () => {}, spooled: () => {} });
      const whole = Buffer.from(c.pre + c.secret + c.post, 'latin1');
      for (let cut = 1; cut < whole.length; cut += c.secret.length > 200 ? 17 : 1) {
        const from = spool.maxSeq + 1;
        p.output(STREAM_STDOUT, whole.subarray(0, cut));
        mock.timers.tick(HOLD_RELEASE_MS + 50);
        p.output(STREAM_STDOUT, whole.subarray(cut));
        mock.timers.tick(HOLD_RELEASE_MS + 50);
        const parts: Buffer[] = [];
        for (let seq = from; seq <= spool.maxSeq; seq++) parts.push(spool.read(seq)!.data);
        assertNoLeak({ ...c, name: c.name.replace('env-literal', 'env') }, Buffer.concat(parts).toString('latin1'), `pipeline pause at ${cut}`);
      }
    } finally {
      spool.close(false);
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

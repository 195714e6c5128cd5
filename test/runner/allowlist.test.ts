import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { advertise, loadAllowlistFile, parseAllowFlag, resolveExec, splitCommandLine } from '../../cli/runner/allowlist.js';
import { tempDir } from '../helpers/gateway.js';

function load(commands: unknown): ReturnType<typeof loadAllowlistFile> {
  const file = join(tempDir(), 'allow.json');
  writeFileSync(file, JSON.stringify({ commands }));
  return loadAllowlistFile(file, tempDir());
}

test('--allow splits like a shell would, without expanding anything', () => {
  assert.deepEqual(splitCommandLine(`npm test -- --grep "a b" 'c $HOME' d\\ e`), ['npm', 'test', '--', '--grep', 'a b', 'c $HOME', 'd e']);
  assert.deepEqual(parseAllowFlag('test=npm test').argv, ['npm', 'test']);
  assert.throws(() => parseAllowFlag('Bad Name=x'), /not a valid name/);
  assert.throws(() => parseAllowFlag('show=git show {rev}'), /parameters need patterns/);
  assert.throws(() => parseAllowFlag('x="unterminated'), /unterminated quote/);
});

test('allowlist files: placeholders anywhere in an element, each declared; bounded; argv never advertised', () => {
  const [show] = load([{ name: 'show', argv: ['git', 'show', '{rev}:{path}'], params: { rev: { pattern: '[A-Za-z0-9~^]+' }, path: { pattern: '[a-z/.]+' } }, timeout: '30s', maxOutputBytes: 1000 }]);
  const r = resolveExec([show!], 'show', { rev: 'HEAD~1', path: 'src/a.ts' });
  assert.ok(r.ok);
  assert.deepEqual(r.ok && r.argv, ['git', 'show', 'HEAD~1:src/a.ts']);
  assert.equal(show!.timeoutMs, 30_000);
  assert.deepEqual(advertise([show!]), [{ name: 'show', params: [{ name: 'rev', pattern: '[A-Za-z0-9~^]+' }, { name: 'path', pattern: '[a-z/.]+' }], timeoutMs: 30_000 }]);

  // A value is never expanded again, whatever it contains.
  const [echo] = load([{ name: 'echo', argv: ['echo', '{a}-{b}'], params: { a: { pattern: '.+' }, b: { pattern: '.+' } } }]);
  const e = resolveExec([echo!], 'echo', { a: '{b}', b: 'x' });
  assert.deepEqual(e.ok && e.argv, ['echo', '{b}-x']);
  // Patterns are anchored: a partial match is no match.
  const bad = resolveExec([show!], 'show', { rev: 'HEAD;rm', path: 'a' });
  assert.ok(!bad.ok && /does not match/.test(bad.reason));

  assert.throws(() => load([{ name: 'x', argv: ['cat', '{file}'] }]), /\{file\} has no pattern/);
  assert.throws(() => load([{ name: 'x', argv: ['{prog}'], params: { prog: { pattern: '.+' } } }]), /argv\[0\]/);
  assert.throws(() => load([{ name: 'x', argv: ['true'], params: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`p${i}`, { pattern: 'x' }])) }]), /at most 8 parameters/);
  assert.throws(() => load([{ name: 'x', argv: ['true'], shell: true }]), /Unrecognized key/i);
  assert.throws(() => load([{ name: 'x', argv: ['true'], params: { p: { pattern: '(' } } }]), /not a valid regular expression/);
});

test('an allowlist file inside the workspace is refused (the agent could rewrite it)', () => {
  const ws = tempDir();
  const file = join(ws, 'allow.json');
  writeFileSync(file, '{"commands":[]}');
  assert.throws(() => loadAllowlistFile(file, ws), /inside the workspace/);
});

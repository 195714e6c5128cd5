import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readConfined } from '../../cli/runner/confined-read.js';
import { checkGlob, findGlobFiles, globToRegExp } from '../../cli/runner/glob.js';
import { tempDir } from '../helpers/gateway.js';

test('glob patterns: relative and confined, or refused with a reason', () => {
  assert.deepEqual(checkGlob('./coverage/'), { ok: true, pattern: 'coverage/**' });
  for (const [p, why] of [['/etc/*', /relative/], ['../x', /leave the workspace/], ['a/../../b', /leave/], ['a//b', /empty path segment/], ['a\\b', /backslashes/], ['a**b', /whole path segment/], ['', /empty/], ['a\nb', /control/]] as const) {
    const c = checkGlob(p);
    assert.ok(!c.ok && why.test(c.reason), `${JSON.stringify(p)}: ${JSON.stringify(c)}`);
  }
  const re = (p: string) => globToRegExp(p);
  assert.ok(re('coverage/**').test('coverage/lcov.info') && re('coverage/**').test('coverage/a/b/c.json'));
  assert.ok(!re('coverage/**').test('coverage-x/a'));
  assert.ok(re('**/*.log').test('a.log') && re('**/*.log').test('x/y/a.log') && !re('**/*.log').test('a.log.txt'));
  assert.ok(re('out/*.txt').test('out/a.txt') && !re('out/*.txt').test('out/sub/a.txt'));
  assert.ok(re('a/**/b.txt').test('a/b.txt') && re('a/**/b.txt').test('a/x/y/b.txt'));
  assert.ok(re('file?.md').test('file1.md') && !re('file?.md').test('file10.md'));
  assert.ok(re('a.b(c)[d]+$').test('a.b(c)[d]+$'), 'everything else is literal');
});

test('the walk never follows symlinks, skips .git, and reads only inside the workspace', () => {
  const ws = tempDir();
  const outside = tempDir();
  writeFileSync(join(outside, 'secret.txt'), 'outside\n');
  mkdirSync(join(ws, 'cov/sub'), { recursive: true });
  writeFileSync(join(ws, 'cov/a.txt'), 'a\n');
  writeFileSync(join(ws, 'cov/sub/b.txt'), 'b\n');
  symlinkSync(join(outside, 'secret.txt'), join(ws, 'cov/link.txt'));
  symlinkSync(outside, join(ws, 'cov/dirlink'));
  mkdirSync(join(ws, '.git'));
  writeFileSync(join(ws, '.git/x.txt'), 'git\n');
  const r = findGlobFiles(ws, ['cov/**', '**/*.txt']);
  assert.deepEqual(r.files, ['cov/a.txt', 'cov/sub/b.txt']);
  assert.deepEqual(r.skipped.map((s) => s.path).sort(), ['cov/dirlink', 'cov/link.txt']);
  // The prefix itself being a symlink out of the workspace: nothing is walked.
  symlinkSync(outside, join(ws, 'out'));
  assert.deepEqual(findGlobFiles(ws, ['out/*.txt']).files, []);
  // Reading refuses a symlink and anything that resolves outside, and honours the cap.
  assert.deepEqual(readConfined(ws, 'cov/a.txt', 100), { ok: true, data: Buffer.from('a\n') });
  assert.match((readConfined(ws, 'cov/link.txt', 100) as { reason: string }).reason, /symbolic link/);
  assert.match((readConfined(ws, 'out/secret.txt', 100) as { reason: string }).reason, /outside the workspace/);
  assert.match((readConfined(ws, 'cov/a.txt', 1) as { reason: string }).reason, /over the 1-byte cap/);
  const limited = findGlobFiles(ws, ['**'], { maxFiles: 1, maxEntries: 1000 });
  assert.equal(limited.files.length, 1);
  assert.equal(limited.limited, true);
});

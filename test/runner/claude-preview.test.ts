import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { editDiff, PlanTracker, questionsOf } from '../../cli/runner/claude-preview.js';
import { tempDir } from '../helpers/gateway.js';

test('edit previews: Edit, replace_all, MultiEdit, Write (new and existing), NotebookEdit, and what cannot be previewed', () => {
  const dir = tempDir('ccg-preview-');
  const f = join(dir, 'a.txt');
  writeFileSync(f, 'one\ntwo\ntwo\nthree\n');
  /** The changed lines of a diff, in order: what a reader checks. */
  const changes = (text: string) => text.split('\n').filter((l) => /^[-+](?![-+]{2} )/.test(l)).sort();
  const one = editDiff('Edit', { file_path: f, old_string: 'two', new_string: 'TWO' }, dir)!;
  assert.match(one.text, /^diff --git a\/a\.txt b\/a\.txt\n--- a\/a\.txt\n\+\+\+ b\/a\.txt\n@@ -1,4 \+1,4 @@\n/);
  assert.deepEqual(changes(one.text), ['+TWO', '-two']);
  assert.deepEqual(changes(editDiff('Edit', { file_path: f, old_string: 'two', new_string: 'TWO', replace_all: true }, dir)!.text), ['+TWO', '+TWO', '-two', '-two']);
  assert.deepEqual(changes(editDiff('MultiEdit', { file_path: f, edits: [{ old_string: 'one', new_string: '1' }, { old_string: 'three', new_string: '3' }] }, dir)!.text), ['+1', '+3', '-one', '-three']);
  assert.equal(editDiff('MultiEdit', { file_path: f, edits: [{ old_string: 'one', new_string: '1' }, { old_string: 'nope', new_string: 'x' }] }, dir)?.note, 'edit 2: old_string is not in the file: the edit will fail');
  assert.equal(editDiff('Edit', { file_path: join(dir, 'missing.txt'), old_string: 'a', new_string: 'b' }, dir)?.note, 'the file does not exist: the edit will fail');
  const created = editDiff('Write', { file_path: join(dir, 'sub', 'new.txt'), content: 'hello\n' }, dir)!;
  assert.equal(created.note, 'new file');
  assert.match(created.text, /^diff --git a\/sub\/new\.txt b\/sub\/new\.txt\n--- a\/sub\/new\.txt\n\+\+\+ b\/sub\/new\.txt\n@@ -0,0 \+1,1 @@\n\+hello\n$/);
  assert.deepEqual(changes(editDiff('Write', { file_path: f, content: 'one\n' }, dir)!.text), ['-three', '-two', '-two']);
  // Outside the workspace: the absolute path.
  const outside = tempDir('ccg-preview-out-');
  writeFileSync(join(outside, 'o.txt'), 'x\n');
  assert.equal(editDiff('Write', { file_path: join(outside, 'o.txt'), content: 'y\n' }, dir)?.path, join(outside, 'o.txt'));
  // Binary, huge, a 1 MB line: a note or a bounded, truncated diff.
  writeFileSync(join(dir, 'b.bin'), Buffer.from([0, 1, 2, 3]));
  assert.equal(editDiff('Write', { file_path: join(dir, 'b.bin'), content: 'x' }, dir)?.note, 'binary file');
  writeFileSync(join(dir, 'big.txt'), 'z'.repeat(3 * 1024 * 1024));
  assert.match(editDiff('Edit', { file_path: join(dir, 'big.txt'), old_string: 'z', new_string: 'y' }, dir)!.note!, /too large to preview/);
  writeFileSync(join(dir, 'line.txt'), `a\n${'q'.repeat(1024 * 1024)}\n`);
  const long = editDiff('Edit', { file_path: join(dir, 'line.txt'), old_string: 'a\n', new_string: 'b\n' }, dir)!;
  assert.equal(long.truncated, true);
  assert.ok(long.text.length <= 48 * 1024);
  // NotebookEdit: the cell's source.
  writeFileSync(join(dir, 'n.ipynb'), JSON.stringify({ cells: [{ id: 'c1', cell_type: 'code', source: ['print(1)\n', 'x = 2\n'] }] }));
  assert.deepEqual(changes(editDiff('NotebookEdit', { notebook_path: join(dir, 'n.ipynb'), cell_id: 'c1', new_source: 'print(2)\nx = 2\n' }, dir)!.text), ['+print(2)', '-print(1)']);
  assert.equal(editDiff('NotebookEdit', { notebook_path: join(dir, 'n.ipynb'), cell_id: 'zz', new_source: 'x' }, dir)?.note, 'no cell zz in the notebook');
  assert.equal(editDiff('Edit', { old_string: 'a', new_string: 'b' }, dir), null);
});

test('questions are read bounded; the plan comes from the call, else from the plan file Claude wrote', () => {
  const qs = questionsOf({ questions: [{ question: 'Q?', header: 'H', multiSelect: true, options: [{ label: 'A', description: 'd'.repeat(5000) }, { label: '' }, { nope: 1 }] }, { header: 'no question' }, ...Array.from({ length: 6 }, (_, i) => ({ question: `q${i}`, options: [] }))] })!;
  assert.equal(qs.length, 3, 'at most 4 entries read, the one without a question dropped');
  assert.deepEqual(qs[0]!.options.map((o) => [o.label, o.description.length]), [['A', 1000]]);
  assert.equal(questionsOf({}), null);
  const dir = tempDir('ccg-plan-');
  const plans = new PlanTracker();
  plans.toolUse('t1', 'ExitPlanMode', { plan: '# From the call' });
  assert.equal(plans.plan('t1')?.text, '# From the call');
  const file = join(dir, '.claude', 'plans', 'p.md');
  plans.toolUse('t2', 'Write', { file_path: file, content: 'x' });
  assert.equal(plans.plan('t3'), null, 'the file does not exist yet');
  mkdirSync(join(dir, '.claude', 'plans'), { recursive: true });
  writeFileSync(file, '# From the file');
  assert.equal(plans.plan('t3')?.text, '# From the file');
});


test('an edit preview reads only inside the workspace: a file outside, a symlink out of it and a FIFO give a note, never their content', () => {
  const dir = tempDir('ccg-preview-ws-');
  const outside = join(tempDir('ccg-preview-out-'), 'secret.txt');
  writeFileSync(outside, 'the secret\n');
  symlinkSync(outside, join(dir, 'link.txt'));
  mkdirSync(join(dir, 'sub'));
  symlinkSync(dirname(outside), join(dir, 'sub', 'out'));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  const cases: [string, RegExp][] = [
    [outside, /outside the workspace: not previewed/],
    [join(dir, 'sub', 'out', 'secret.txt'), /outside the workspace: not previewed/],
    [join(dir, 'link.txt'), /symbolic link/],
    [join(dir, 'fifo'), /not a regular file/],
  ];
  for (const [file_path, note] of cases) {
    for (const tool of ['Write', 'Edit']) {
      const d = editDiff(tool, { file_path, content: 'new', old_string: 'the secret', new_string: 'x' }, dir)!;
      assert.match(d.note ?? '', note, `${tool} ${file_path}`);
      assert.equal(d.text, '', `${tool} ${file_path}: no diff`);
    }
  }
  // A new file inside, and one in a new directory inside, are new files.
  assert.equal(editDiff('Write', { file_path: join(dir, 'new.txt'), content: 'hi\n' }, dir)!.note, 'new file');
  assert.equal(editDiff('Write', { file_path: join(dir, 'newdir', 'new.txt'), content: 'hi\n' }, dir)!.note, 'new file');
});

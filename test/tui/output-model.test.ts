import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STREAM_COMMAND, STREAM_EVENT, STREAM_STDERR, STREAM_STDOUT } from '../../protocol/frames.js';
import { MAX_LINE, OutputModel, type ModelChunk } from '../../cli/tui/output-model.js';
import { displayWidth } from '../../cli/tui/sanitize.js';
import { moveAnchor, topAnchor, viewport } from '../../cli/tui/viewport.js';

const chunk = (seq: number, text: string | Buffer, stream = STREAM_STDOUT): ModelChunk => ({ seq, stream, data: Buffer.isBuffer(text) ? text : Buffer.from(text) });
const lines = (m: OutputModel) => m.lines.map((l) => l.segments.map((s) => s.text).join(''));

test('output model: lines across chunks, streams, UTF-8 splits, events, duplicates', () => {
  const m = new OutputModel();
  const euro = Buffer.from('€');
  m.append([chunk(1, 'hel'), chunk(2, 'lo\nwor'), chunk(3, Buffer.concat([Buffer.from('ld '), euro.subarray(0, 1)])), chunk(4, Buffer.concat([euro.subarray(1), Buffer.from('\n')]))]);
  assert.deepEqual(lines(m), ['hello', 'world €']);
  m.append([chunk(4, 'dup\n'), chunk(3, 'dup\n')]);
  assert.deepEqual(lines(m), ['hello', 'world €'], 'already-seen seqs are ignored');
  m.append([chunk(5, 'half'), chunk(6, 'err\n', STREAM_STDERR), chunk(7, 'ok\n', STREAM_COMMAND)]);
  assert.deepEqual(lines(m), ['hello', 'world €', 'half', 'err', '│ ok'], 'a stream switch ends the line');
  m.append([chunk(8, JSON.stringify({ type: 'exec_exit', requestId: 'r', name: 'test', code: 0, signal: null, timedOut: false, truncated: false, durationMs: 1200 }) + '\n', STREAM_EVENT)]);
  assert.equal(lines(m).at(-1), '» test exited 0 in 1.2s');
  m.append([chunk(9, 'not json\n' + JSON.stringify({ type: '\x1b]0;x\x07weird' }) + '\n', STREAM_EVENT)]);
  assert.equal(lines(m).at(-1), '» weird', 'unknown events by type, sanitized');
  assert.equal(m.gaps, 0);
  assert.equal(m.firstSeq, 1);
  assert.equal(m.lastSeq, 9);
});

test('output model: a line that never ends is cut, not parsed again in full on every chunk', () => {
  const m = new OutputModel();
  for (let i = 1; i <= 100; i++) m.append([chunk(i, 'x'.repeat(1000))]);
  const widths = m.lines.map((l) => l.width);
  assert.ok(widths.every((w) => w <= 17 * 1024), String(widths));
  assert.equal(widths.reduce((a, b) => a + b, 0), 100_000, 'nothing lost');
});

test('output model: a huge finished line (combining marks) is cut before it is measured', () => {
  // A runner can send 240 KiB lines of 'a' + U+0301; measured whole, string-width took seconds each.
  const m = new OutputModel();
  m.append([chunk(1, 'a\u0301'.repeat(80_000) + '\nnext\n')]);
  assert.equal(m.lines.length, 2);
  assert.ok(lines(m)[0]!.length <= MAX_LINE, 'cut to MAX_LINE characters');
  assert.equal(m.lines[0]!.width, MAX_LINE / 2, 'each a + combining acute is one column');
  assert.equal(lines(m)[1], 'next');
});

test('display width: one linear pass, marks zero, wide characters two', () => {
  assert.equal(displayWidth('abc'), 3);
  assert.equal(displayWidth('e\u0301'), 1);
  assert.equal(displayWidth('漢字'), 4);
  assert.equal(displayWidth('a\u0301'.repeat(100_000)), 100_000);
});

test('output model: older pages prepend, the front is trimmed past the byte budget', () => {
  const m = new OutputModel({ maxBytes: 100 });
  m.append([chunk(5, 'e\n'), chunk(6, 'f\n')]);
  assert.equal(m.prepend([chunk(2, 'x\n'), chunk(3, 'y\n')]), false, 'must end right before the loaded range');
  assert.equal(m.prepend([chunk(3, 'c\n'), chunk(4, 'd')]), true);
  assert.deepEqual(lines(m), ['c', 'de', 'f']);
  const before = m.appended;
  for (let i = 7; i < 40; i++) m.append([chunk(i, `line ${i}\n`)]);
  assert.equal(m.appended - before, 33, 'appended counts new lines only');
  assert.ok((m.firstSeq ?? 0) > 3, 'oldest chunks dropped');
  assert.equal(lines(m).at(-1), 'line 39');
});

test('viewport: follows the end, scrolls back by rows with wrapping, stops at the top', () => {
  const m = new OutputModel();
  for (let i = 1; i <= 30; i++) m.append([chunk(i, i === 10 ? `${'w'.repeat(25)}\n` : `line ${i}\n`)]);
  const text = (rows: ReturnType<typeof viewport>['rows']) => rows.map((r) => r.segments.map((s) => s.text).join(''));
  let v = viewport(m, null, 10, 5);
  assert.deepEqual(text(v.rows), ['line 26', 'line 27', 'line 28', 'line 29', 'line 30']);
  assert.equal(v.atTop, false);
  let a = moveAnchor(m, null, 3, 10, 5);
  assert.deepEqual(text(viewport(m, a, 10, 5).rows), ['line 23', 'line 24', 'line 25', 'line 26', 'line 27']);
  a = moveAnchor(m, a, 17, 10, 5); // to the wrapped line 10 (3 rows at width 10)
  assert.deepEqual(text(viewport(m, a, 10, 5).rows), ['line 8', 'line 9', 'wwwwwwwwww', 'wwwwwwwwww', 'wwwww']);
  a = moveAnchor(m, a, 1000, 10, 5);
  v = viewport(m, a, 10, 5);
  assert.deepEqual(text(v.rows), ['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
  assert.equal(v.atTop, true);
  assert.deepEqual(topAnchor(m, 10, 5), a);
  assert.equal(moveAnchor(m, a, -1000, 10, 5), null, 'back to following');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { screenRows } from '../../cli/tui/term-rows.js';
import { newScreen, writeScreen } from '../../protocol/terminal-screen.js';

test('screenRows: cells with their colours, bold, underline and inverse; the cursor; bidi controls dropped; a tall screen shows the cursor part', async () => {
  const s = newScreen(20, 6);
  await writeScreen(s, '\x1b[1;31mred\x1b[0m \x1b[38;2;1;2;3mrgb\x1b[0m \x1b[4;38;5;200mu\x1b[0m\r\n\x1b[7minv\x1b[0m a\u202eb\r\n> ');
  const rows = screenRows(s.term, 20, 6);
  assert.equal(rows.length, 6);
  assert.deepEqual(rows[0]!.segments, [
    { text: 'red', color: 'red', bg: undefined, bold: true, dim: undefined, italic: undefined, underline: undefined, inverse: undefined },
    { text: ' ', color: undefined, bg: undefined, bold: undefined, dim: undefined, italic: undefined, underline: undefined, inverse: undefined },
    { text: 'rgb', color: '#010203', bg: undefined, bold: undefined, dim: undefined, italic: undefined, underline: undefined, inverse: undefined },
    { text: ' ', color: undefined, bg: undefined, bold: undefined, dim: undefined, italic: undefined, underline: undefined, inverse: undefined },
    { text: 'u', color: 'ansi256(200)', bg: undefined, bold: undefined, dim: undefined, italic: undefined, underline: true, inverse: undefined },
  ]);
  assert.equal(rows[1]!.segments[0]!.text, 'inv');
  assert.equal(rows[1]!.segments[0]!.inverse, true);
  // The bidi override is in the cell before it: dropped there, so the row keeps one column a cell
  // and reaches the console's terminal without it.
  assert.equal(rows[1]!.segments.map((x) => x.text).join(''), 'inv ab');
  // The cursor after "> " is an inverse cell.
  assert.deepEqual(rows[2]!.segments.map((x) => [x.text, x.inverse ?? false]), [['> ', false], [' ', true]]);
  // A 3-row pane over a 6-row screen whose cursor is on row 3 shows rows 1–3.
  await writeScreen(s, '\r\n\r\n\r\nlast');
  const short = screenRows(s.term, 20, 3);
  assert.equal(short.length, 3);
  assert.equal(short.at(-1)!.segments.map((x) => x.text).join('').trimEnd(), 'last');
  s.term.dispose();
});

test('screenRows: zero-width characters kept in a cell do not widen it (40 of them pushed the rest of the row off)', async () => {
  const s = newScreen(20, 2);
  await writeScreen(s, `x${'\u200b'.repeat(40)}y${'\u2060'.repeat(3)}z`);
  const text = screenRows(s.term, 20, 2)[0]!.segments.map((x) => x.text).join('');
  assert.equal(text.trimEnd(), 'xyz');
  assert.doesNotMatch(text, /[\u200b\u2060\ufffd]/, 'one column a cell');
  s.term.dispose();
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liveRows } from '../../cli/tui/live-rows.js';
import { displayWidth } from '../../cli/tui/sanitize.js';

test('live text in the TUI: the newest rows of the reply, wrapped to the width, escapes gone, bounded', () => {
  const rows = liveRows(`first line\nsecond \u001b]52;c;eA==\u0007line \u001b[2J${'漢'.repeat(50)}\n${'z'.repeat(100_000)}`, 40, 5);
  assert.equal(rows.length, 5, 'at most maxRows');
  for (const r of rows) {
    const t = r.segments.map((s) => s.text).join('');
    assert.ok(displayWidth(t) <= 39, `fits: ${t}`);
    assert.doesNotMatch(t, /[\u001b\u0007]/);
  }
  assert.match(rows.at(-1)!.segments[0]!.text, /^z+$/, 'the end of the reply is what shows');
  const short = liveRows('hello', 40, 5);
  assert.deepEqual(short.map((r) => r.segments[0]!.text), ['◆ Claude (writing…): hello']);
  assert.deepEqual(liveRows('x', 40, 0), []);
});

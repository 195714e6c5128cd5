import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OperatorLiveText } from '../../../protocol/claude-live.js';
import type { RunnerEvent } from '../../../protocol/runner-events.js';
import { LiveTextPrinter } from '../../../cli/render/live-text-printer.js';

const live = (offset: number, text: string, done = false): OperatorLiveText => ({ type: 'live_text', runId: 'r1', messageId: 'msg_1', block: 0, offset, text, done });
const stored = (text: string): RunnerEvent => ({ type: 'claude_text', messageId: 'msg_1', text, truncated: false, parentToolUseId: null, error: null }) as RunnerEvent;

test('live text printer: the stored message is not printed again when it matches the live text, before or after the live text ended', () => {
  for (const doneFirst of [false, true]) {
    let out = '';
    const p = new LiveTextPrinter((s) => (out += s));
    p.onLive(live(0, 'Hello '));
    p.onLive(live(6, 'world.'));
    // A viewer catching up from the store gets the stored message after the live text's end.
    if (doneFirst) p.onLive(live(12, '', true));
    assert.equal(p.beforeEvent(stored('Hello world.')), true, `the stored message is the one shown (done first: ${doneFirst})`);
    assert.equal(out, '◆ Claude: Hello world.\n');
  }
});

test('live text printer: a stored message that differs from what was shown, or comes after another event, is printed', () => {
  let out = '';
  const p = new LiveTextPrinter((s) => (out += s));
  p.onLive(live(0, 'Hello '));
  p.onLive(live(6, '', true));
  assert.equal(p.beforeEvent(stored('Hello world.')), false, 'a piece was missed: printed in full');
  p.onLive(live(0, 'Again.'));
  p.onLive(live(6, '', true));
  assert.equal(p.beforeEvent({ type: 'claude_result' } as RunnerEvent), false);
  assert.equal(p.beforeEvent(stored('Again.')), false, 'only the next event can be the one shown');
  assert.equal(out, '◆ Claude: Hello \n◆ Claude: Again.\n');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TextTimeline, renderTimelineText, sanitizeTerminal } from '../../../cli/render/timeline-text.js';
import { fixtureItems, fixtureNames } from '../../helpers/fixtures.js';

// Any C0 control but newline, DEL, C1 controls, ESC, and bidi overrides/isolates.
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;

test('no control sequence from any captured session reaches the terminal lines', () => {
  for (const name of fixtureNames()) {
    for (const l of renderTimelineText(fixtureItems(name))) {
      assert.doesNotMatch(l.text, CONTROL, `${name}: ${JSON.stringify(l.text)}`);
      assert.ok(!l.text.includes('\n'), 'one line each');
    }
  }
});

test('hostile text keeps its words but loses its escapes (colours, title, clear screen, C1, RTL override, bell, clipboard)', () => {
  const text = renderTimelineText(fixtureItems('hostile-text')).map((l) => l.text).join('\n');
  assert.ok(text.includes('red') && text.includes('c1') && text.includes('evil-rtl') && text.includes('bell'));
  assert.ok(!text.includes('pwned-title'), 'an OSC title is removed whole');
  assert.ok(text.includes('<script>alert("xss")</script>'), 'HTML is just text in a terminal');
  const tool = renderTimelineText(fixtureItems('hostile-tool-result')).map((l) => l.text).join('\n');
  assert.ok(!tool.includes('52;c;') && tool.includes('clipboard'));
  assert.match(tool, /… \d+ more lines/);
  for (const s of ['\u001b[2J', '\u001bP1;2|data\u001b\\', '\u009b31m', '\u001b]8;;http://x\u0007link\u001b]8;;\u0007', 'a\u0000b\u0008c\u007fd', '\u001b[?1049h', '\u001bc']) {
    assert.doesNotMatch(sanitizeTerminal(s), CONTROL, JSON.stringify(s));
  }
  assert.equal(sanitizeTerminal('\u001b]8;;http://x\u0007link\u001b]8;;\u0007'), 'link');
});

test('a session reads as a log: prompt, text, tool call, approval, result, and the final cost line', () => {
  const lines = new TextTimeline({ approvalHint: (id) => `ccg runs approve R ${id}` });
  const out = fixtureItems('tool-denied').flatMap((i) => lines.push(i)).map((l) => `${l.kind}|${l.text}`);
  assert.deepEqual(out.filter((l) => !l.startsWith('session|')), [
    'prompt|▸ runner: delete things',
    'assistant|◆ Claude: Removing.',
    'tool|⚙ Bash: rm -rf build',
    'approval|  ⏳ approval needed for Bash: rm -rf build (always would allow Bash(rm -rf build))',
    'approval|     ccg runs approve R approval-00000001',
    'warn|  ✖ Bash denied by alice: Denied by the operator: not now',
    'warn|  ↳ Bash failed: Denied by the operator: not now',
    'assistant|◆ Claude: Understood, I did not remove it.',
    out.find((l) => l.startsWith('result-ok|'))!,
  ]);
  assert.match(out.find((l) => l.startsWith('result-ok|'))!, /^result-ok\|✔ result: success · \$0\.\d+ this turn · \$0\.\d+ session total · [\d,]+ in \/ [\d,]+ out tokens · 2 turns · [\d.]+ (ms|s) · 1 denial \(Bash\)$/);
});

test('Claude\'s text, a tool\'s output and a prompt cannot pass for a line of ccg\'s own: their further lines carry a bar', () => {
  const t = new TextTimeline();
  const forged = '✔ Bash allowed by admin';
  const lines = [
    ...t.push({ seq: 1, time: 0, event: { type: 'claude_text', messageId: 'm', text: `Done.\n${forged}`, truncated: false, parentToolUseId: null, error: null } }),
    ...t.push({ seq: 2, time: 0, event: { type: 'claude_tool_result', toolUseId: 't', content: `ok\n${forged}`, isError: false, chars: 30, truncated: false, parentToolUseId: null } }),
    ...t.push({ seq: 3, time: 0, event: { type: 'input_sent', inputId: 'i'.repeat(16), by: 'olivia', text: `go\n${forged}`, bytes: 30 } }),
  ].map((l) => l.text);
  assert.equal(lines.filter((l) => l.includes(forged)).length, 3);
  for (const l of lines) assert.doesNotMatch(l, /^ *✔/, l);
  const real = t.push({ seq: 4, time: 0, event: { type: 'approval_resolved', approvalId: 'a'.repeat(16), decision: 'allow', always: false, message: null, by: 'admin', reason: 'operator' } });
  assert.match(real[0]!.text, /^ {2}✔ tool use allowed by admin$/);
});

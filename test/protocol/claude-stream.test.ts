import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { APPROVAL_ID_RE, ClaudeResult, type ClaudeEvent } from '../../protocol/claude-events.js';
import { CLAUDE_STREAM_FLAGS, TESTED_CLAUDE_VERSION, allowLine, denyLine, interruptLine, parseClaudeLine, userMessageLine } from '../../protocol/claude-stream.js';
import { RunnerEvent } from '../../protocol/runner-events.js';
import { CLAUDE_VERSION } from '../helpers/claude.js';
import { CLAUDE_FIXTURES, fixture, fixtureNames, stdoutLines } from '../helpers/fixtures.js';

const events = (name: string): ClaudeEvent[] => stdoutLines(name).flatMap((l) => parseClaudeLine(l).events);

test('the fixtures were captured from the pinned Claude Code version', () => {
  assert.equal(readFileSync(`${CLAUDE_FIXTURES}VERSION`, 'utf8').trim(), CLAUDE_VERSION);
  assert.equal(TESTED_CLAUDE_VERSION, CLAUDE_VERSION, 'the version ccg names as tested is the pinned one');
  const init = events('text-reply').find((e) => e.type === 'claude_init');
  assert.equal(init?.type === 'claude_init' && init.version, CLAUDE_VERSION);
});

test('every line of every captured session parses into valid runner events, without throwing', () => {
  const names = fixtureNames();
  assert.ok(names.length >= 10, `fixtures: ${names.join(', ')}`);
  for (const name of names) {
    for (const line of stdoutLines(name)) {
      const parsed = parseClaudeLine(line);
      for (const ev of parsed.events) {
        const v = RunnerEvent.safeParse(JSON.parse(JSON.stringify(ev)));
        assert.ok(v.success, `${name}: ${ev.type} does not validate: ${v.success ? '' : v.error.message}`);
      }
    }
    // Nothing known ends up raw: raw is only for what the parser does not recognise.
    assert.deepEqual(events(name).filter((e) => e.type === 'claude_raw'), [], `${name} has raw events`);
  }
});

test('a text reply: init, the assistant text (markdown kept verbatim), and the result with cost, tokens, turns, duration', () => {
  const evs = events('text-reply');
  assert.deepEqual(evs.map((e) => e.type), ['claude_init', 'claude_text', 'claude_result']);
  const text = evs[1]!;
  assert.ok(text.type === 'claude_text');
  assert.equal(text.text, 'Hello! **Bold** and `code`.\n\n- one\n- two');
  assert.equal(text.error, null);
  const r = evs[2]!;
  assert.ok(r.type === 'claude_result');
  assert.equal(r.subtype, 'success');
  assert.equal(r.isError, false);
  assert.equal(r.numTurns, 1);
  assert.ok(r.costUsd !== null && r.costUsd > 0);
  assert.ok(r.usage.inputTokens > 0 && r.usage.outputTokens > 0);
  assert.ok(r.durationMs !== null && r.durationMs >= 0);
  assert.deepEqual(r.denials, []);
});

test('a permission request becomes a can_use_tool control with the tool, input and suggested rule', () => {
  const lines = stdoutLines('tool-approved').map(parseClaudeLine);
  const ctl = lines.find((p) => p.control?.kind === 'can_use_tool')?.control;
  assert.ok(ctl?.kind === 'can_use_tool');
  const req = ctl.request;
  assert.equal(req.toolName, 'Bash');
  assert.deepEqual(req.input, { command: 'touch created.txt', description: 'Create created.txt' });
  assert.deepEqual(req.rule, { toolName: 'Bash', ruleContent: 'touch created.txt' });
  assert.equal(req.blockedPath, '/workspace/created.txt');
  assert.match(req.toolUseId ?? '', /^toolu_/);
  // What ccg writes back is exactly what the capture driver wrote (and claude accepted).
  const sent = fixture('tool-approved').find((l) => l.dir === 'in' && (l.line as { type: string }).type === 'control_response')!.line;
  assert.deepEqual(JSON.parse(allowLine(req, false)), sent);
});

test('"always allow" hands Claude its own suggested rule, scoped to the session', () => {
  const req = stdoutLines('always-allow').map(parseClaudeLine).find((p) => p.control?.kind === 'can_use_tool')!.control;
  assert.ok(req?.kind === 'can_use_tool');
  const sent = JSON.parse(allowLine(req.request, true)) as { response: { response: { updatedPermissions: { destination: string; rules: unknown }[] } } };
  assert.deepEqual(sent, fixture('always-allow').find((l) => l.dir === 'in' && (l.line as { type: string }).type === 'control_response')!.line);
  assert.equal(sent.response.response.updatedPermissions[0]!.destination, 'session');
  // And it worked: the second identical call was not asked about.
  assert.equal(stdoutLines('always-allow').filter((l) => parseClaudeLine(l).control?.kind === 'can_use_tool').length, 1);
});

test('a denial: Claude sees the message as the tool error, and the result lists the denial', () => {
  const evs = events('tool-denied');
  const result = evs.find((e) => e.type === 'claude_tool_result');
  assert.ok(result?.type === 'claude_tool_result');
  assert.equal(result.isError, true);
  assert.equal(result.content, 'Denied by the operator: not now');
  const final = evs.at(-1)!;
  assert.ok(final.type === 'claude_result');
  assert.deepEqual(final.denials, [{ toolName: 'Bash', toolUseId: result.toolUseId, input: { command: 'rm -rf build', description: 'Remove build' } }]);
  assert.equal(JSON.parse(denyLine('r1', 'no')).response.response.behavior, 'deny');
});

test('tool results: errors flagged, long content kept whole up to the cap, hostile bytes kept verbatim for the renderers', () => {
  const err = events('tool-error').find((e) => e.type === 'claude_tool_result');
  assert.ok(err?.type === 'claude_tool_result' && err.isError);
  const hostile = events('hostile-tool-result').find((e) => e.type === 'claude_tool_result');
  assert.ok(hostile?.type === 'claude_tool_result');
  assert.ok(hostile.content.includes('\u001b]52;c;'), 'the parser does not sanitise; renderers do');
  assert.ok(hostile.content.split('\n').length > 60);
  assert.equal(hostile.truncated, false);
});

test('an interrupt: control_response, the aborted text, the "interrupted" user text, an error result', () => {
  const lines = stdoutLines('interrupt').map(parseClaudeLine);
  assert.ok(lines.some((p) => p.control?.kind === 'response' && p.control.requestId === 'ccg-interrupt-1' && p.control.ok));
  const evs = lines.flatMap((p) => p.events);
  assert.ok(evs.some((e) => e.type === 'claude_user' && e.text === '[Request interrupted by user]'));
  const r = evs.at(-1)!;
  assert.ok(r.type === 'claude_result' && r.isError && r.subtype === 'error_during_execution');
  assert.equal(JSON.parse(interruptLine('x')).request.subtype, 'interrupt');
});

test('hooks from --settings show as system events; an API error shows as an error text and an error result', () => {
  const sys = events('hooks').filter((e) => e.type === 'claude_system');
  const summaries = sys.map((e) => (e.type === 'claude_system' ? e.summary : ''));
  for (const hook of ['SessionStart:startup', 'PreToolUse:Bash', 'PostToolUse:Bash', 'Stop']) {
    assert.ok(summaries.some((s) => s.startsWith(`hook ${hook} started`)), `${hook} started`);
    assert.ok(summaries.some((s) => s.startsWith(`hook ${hook} success (exit 0)`)), `${hook} finished: ${summaries.join(' | ')}`);
  }
  assert.ok(summaries.some((s) => s.includes('pre-tool-hook-ran')));
  const api = events('api-error');
  const text = api.find((e) => e.type === 'claude_text');
  assert.ok(text?.type === 'claude_text' && text.error === 'invalid_request (400)');
  const r = api.at(-1)!;
  assert.ok(r.type === 'claude_result' && r.isError && r.apiErrorStatus === 400);
});

test('follow-ups: each turn has its own result; the user lines ccg sends are the documented shape', () => {
  const results = events('follow-up').filter((e) => e.type === 'claude_result');
  assert.equal(results.length, 2);
  const sent = fixture('follow-up').filter((l) => l.dir === 'in').map((l) => l.line);
  assert.deepEqual(sent, [JSON.parse(userMessageLine('first question')), JSON.parse(userMessageLine('and a second one'))]);
});

test('unknown types, changed shapes and non-JSON lines become claude_raw; nothing throws', () => {
  const cases = [
    '{"type":"brand_new_event","x":1}',
    'not json at all \u001b[31m',
    '{"no_type":true}',
    '[1,2,3]',
    '{"type":"assistant","message":"changed shape"}',
    '{"type":"result","subtype":42}',
    '{"type":"control_request","request_id":"r9","request":{"subtype":"mcp_message"}}',
    '{"type":"assistant","message":{"content":[{"type":"server_tool_use","id":"x"}]}}',
  ];
  for (const line of cases) {
    const p = parseClaudeLine(line);
    assert.ok(p.events.length === 1 && p.events[0]!.type === 'claude_raw', line);
  }
  // A control request ccg does not serve is answered, so Claude never hangs on it.
  assert.deepEqual(parseClaudeLine(cases[6]!).control, { kind: 'unsupported', requestId: 'r9', subtype: 'mcp_message' });
  // A can_use_tool ccg cannot read is refused the same way (never left waiting).
  assert.equal(parseClaudeLine('{"type":"control_request","request_id":"r1","request":{"subtype":"can_use_tool"}}').control?.kind, 'unsupported');
  assert.deepEqual(parseClaudeLine('').events, []);
});

test('huge fields are capped so one event always fits one output chunk', () => {
  const big = 'x'.repeat(300_000);
  const p = parseClaudeLine(JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't1', content: big }] } }));
  const ev = p.events[0]!;
  assert.ok(ev.type === 'claude_tool_result' && ev.truncated && ev.chars === 300_000 && ev.content.length === 32 * 1024);
  const t = parseClaudeLine(JSON.stringify({ type: 'assistant', message: { content: [{ type: 'tool_use', id: 't2', name: 'Write', input: { content: big } }] } })).events[0]!;
  assert.ok(t.type === 'claude_tool_use' && t.inputTruncated && typeof t.input === 'string');
  assert.ok(RunnerEvent.safeParse(t).success && RunnerEvent.safeParse(ev).success);
  assert.ok(ClaudeResult.safeParse(parseClaudeLine(JSON.stringify({ type: 'result', subtype: 'success', result: big })).result).success);
});

test('the flags ccg passes are the ones verified against the real CLI', () => {
  assert.deepEqual([...CLAUDE_STREAM_FLAGS], ['-p', '--output-format', 'stream-json', '--verbose', '--input-format', 'stream-json', '--permission-prompt-tool', 'stdio', '--include-hook-events', '--include-partial-messages']);
});

test('approval ids never start with "-" or "_": operators type them as a command argument, where "-…" reads as an option', () => {
  const body = 'MeEyrhYGEMU5UL7bXX1FA';
  for (const lead of ['-', '_']) assert.ok(!APPROVAL_ID_RE.test(`${lead}${body}`), `${lead}${body}`);
  assert.ok(APPROVAL_ID_RE.test(`a${body}`));
  const event = { type: 'approval_requested', toolName: 'Bash', displayName: 'Bash', toolUseId: null, input: {}, inputTruncated: false, description: null, blockedPath: null, rule: null, expiresAt: 1 };
  assert.equal(RunnerEvent.safeParse({ ...event, approvalId: `-${body}` }).success, false);
  assert.equal(RunnerEvent.safeParse({ ...event, approvalId: `a${body}` }).success, true);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LiveTextView, isPartialOnlyLine, liveDeltaOf, MAX_LIVE_CHUNK } from '../../protocol/claude-live.js';
import { apiRetryOf, systemSentence } from '../../protocol/claude-system.js';
import { MAX_GROUP_CHILDREN, resultHeadline } from '../../protocol/timeline-narrative.js';
import { buildTimeline, MAX_AGENT_DEPTH, MAX_TREE_STEPS, type TimelineEntry, type TimelineItem } from '../../protocol/timeline.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { LiveForwarder } from '../../cli/runner/claude-live.js';
import { renderTimelineHtml } from '../../server/render/timeline-html.js';
import { renderTimelineText } from '../../cli/render/timeline-text.js';

const items = (evs: RunnerEvent[]): TimelineItem[] => evs.map((event, i) => ({ seq: i + 1, time: 1_795_000_000_000 + i, event }));

test('a result with an error never reads "error (success)"; budget and turn limits say what stopped Claude', () => {
  const r = { isError: true, apiErrorStatus: 529, terminalReason: 'api_error' };
  assert.equal(resultHeadline({ ...r, subtype: 'success' }), 'Ended with an error (API 529): api error');
  assert.equal(resultHeadline({ ...r, subtype: 'error_max_budget_usd', apiErrorStatus: null }), "Stopped: the run's spending limit was reached");
  assert.equal(resultHeadline({ ...r, subtype: 'error_max_turns', apiErrorStatus: null }), 'Stopped: the maximum number of turns was reached');
  assert.equal(resultHeadline({ isError: false, subtype: 'success', apiErrorStatus: null, terminalReason: null }), 'Done');
  for (const s of ['success', 'error_during_execution', 'error_whatever']) assert.doesNotMatch(resultHeadline({ ...r, subtype: s }), /\(success\)/);
});

test('system lines read as sentences: retries, compaction, mode changes, subagents', () => {
  const retry = { type: 'system', subtype: 'api_retry', attempt: 2, max_retries: 10, retry_delay_ms: 1157, error_status: 529, error: 'overloaded' };
  assert.equal(systemSentence(retry), 'API overloaded (529); Claude retries in 1.2 s (attempt 2 of 10)');
  assert.deepEqual(apiRetryOf(JSON.stringify(retry)), { attempt: 2, maxRetries: 10, delayMs: 1157, status: 529, error: 'overloaded' });
  assert.equal(apiRetryOf('{"subtype":"api_retry","attempt":"x"}'), null, 'a malformed retry line is not a retry');
  assert.equal(systemSentence({ subtype: 'compact_boundary', compact_metadata: { trigger: 'auto', pre_tokens: 150000 } }), 'Conversation compacted automatically (150,000 tokens before)');
  assert.equal(systemSentence({ subtype: 'status', status: null, permissionMode: 'acceptEdits' }), 'Permission mode is now acceptEdits');
  assert.equal(systemSentence({ subtype: 'task_started', subagent_type: 'Explore', description: 'Look', is_backgrounded: true }), 'Subagent Explore started: Look (in the background)');
  assert.equal(systemSentence({ subtype: 'some_new_thing' }), 'some new thing');
});

test('subagent steps group under their call, with a label; hostile labels are inert in HTML and on a terminal', () => {
  const evil = '<img src=x onerror=alert(1)>\u001b]52;c;eA==\u0007';
  const tl = buildTimeline(items([
    { type: 'claude_tool_use', toolUseId: 'task1', name: 'Task', input: { subagent_type: evil, description: 'Survey', prompt: 'p' }, inputTruncated: false, parentToolUseId: null },
    { type: 'claude_text', messageId: 'm2', text: 'inside', truncated: false, parentToolUseId: 'task1', error: null },
    { type: 'claude_tool_use', toolUseId: 'b1', name: 'Bash', input: { command: 'ls' }, inputTruncated: false, parentToolUseId: 'task1' },
    { type: 'claude_tool_result', toolUseId: 'b1', content: 'a\nb', isError: false, chars: 3, truncated: false, parentToolUseId: 'task1' },
    { type: 'claude_text', messageId: 'm3', text: 'outside', truncated: false, parentToolUseId: null, error: null },
  ]));
  assert.deepEqual(tl.map((e) => e.kind), ['tool', 'text'], 'the subagent steps are not top-level entries');
  const task = tl[0]!;
  assert.ok(task.kind === 'tool' && task.agent && task.agent.children.length === 2 && task.agent.label === evil);
  const html = renderTimelineHtml(tl).toString();
  assert.match(html, /<details class="tl-agent"><summary>Subagent <strong class="tl-agent-name">&lt;img src=x onerror=alert\(1\)&gt;<\/strong>: Survey · 2 steps<\/summary>/);
  assert.doesNotMatch(html, /<img|\u001b|\u0007/);
  const text = renderTimelineText(items([
    { type: 'claude_tool_use', toolUseId: 'task1', name: 'Task', input: { subagent_type: evil, description: 'Survey', prompt: 'p' }, inputTruncated: false, parentToolUseId: null },
    { type: 'claude_text', messageId: 'm2', text: 'inside', truncated: false, parentToolUseId: 'task1', error: null },
  ])).map((l) => l.text);
  assert.ok(text.some((l) => /^ {4}◇ \[<img src=x onerror=alert\(1\)>.*\]: inside$/.test(l)), text.join('\n'));
  assert.ok(!text.some((l) => /[\u001b\u0007]/.test(l)));
});

test('live text: deltas of the main conversation only; kept in order, bounded, never garbled', () => {
  const line = (parent: string | null, text: string) => ({ type: 'stream_event', event: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }, parent_tool_use_id: parent, api_message_id: 'msg_1' });
  assert.deepEqual(liveDeltaOf(line(null, 'hi')), { messageId: 'msg_1', block: 0, text: 'hi' });
  assert.equal(liveDeltaOf(line('toolu_1', 'hi')), null, 'a subagent shows its messages whole, in its group');
  assert.equal(liveDeltaOf({ type: 'stream_event', event: { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{' } } }), null);
  assert.ok(isPartialOnlyLine('{"type":"stream_event","event":{}}'));
  assert.ok(isPartialOnlyLine('{"type":"system","subtype":"status","status":"requesting","session_id":"s"}'));
  assert.ok(!isPartialOnlyLine('{"type":"system","subtype":"status","status":"requesting","permissionMode":"plan"}'));
  const v = new LiveTextView();
  v.apply({ messageId: 'm', block: 0, offset: 0, text: 'ab', done: false });
  v.apply({ messageId: 'm', block: 0, offset: 5, text: 'zz', done: false });
  assert.equal(v.text, 'ab', 'a piece after a gap is ignored');
  v.apply({ messageId: 'm', block: 0, offset: 2, text: 'cd', done: false });
  assert.equal(v.text, 'abcd');
  assert.equal(v.apply({ messageId: 'm', block: 0, offset: 4, text: '', done: true }), null);
  const sent: { offset: number; text: string }[] = [];
  const f = new LiveForwarder((m) => sent.push(m));
  for (let i = 0; i < 200; i++) f.delta({ messageId: 'm', block: 0, text: 'x'.repeat(1000) });
  f.flush();
  f.stop();
  assert.ok(sent.every((m) => m.text.length <= MAX_LIVE_CHUNK));
  assert.equal(sent.reduce((n, m) => n + m.text.length, 0), 64 * 1024, 'nothing past the cap is sent');
  assert.deepEqual(sent.map((m) => m.offset), sent.map((_, i) => sent.slice(0, i).reduce((n, m) => n + m.text.length, 0)), 'offsets are contiguous');
});

test('subagent groups nest at most MAX_AGENT_DEPTH deep and hold MAX_TREE_STEPS in all: a runner nesting 3,000 calls, or 200 subagents of 200, gets a timeline every reader can show', () => {
  const evs: RunnerEvent[] = [];
  for (let i = 0; i < 3000; i++) evs.push({ type: 'claude_tool_use', toolUseId: `t${i}`, name: 'Task', input: { subagent_type: 'x', description: `level ${i}`, prompt: 'p' }, inputTruncated: false, parentToolUseId: i === 0 ? null : `t${i - 1}` });
  evs.push({ type: 'claude_text', messageId: 'm', text: 'deepest', truncated: false, parentToolUseId: 't2999', error: null });
  const tl = buildTimeline(items(evs));
  assert.equal(tl.length, 1, 'one top-level call');
  /** The deepest nesting of groups under an entry, and the steps in them. */
  const walk = (e: TimelineEntry): { depth: number; steps: number } => {
    if (e.kind !== 'tool' || !e.agent) return { depth: 0, steps: 0 };
    const below = e.agent.children.map(walk);
    return { depth: 1 + Math.max(0, ...below.map((b) => b.depth)), steps: e.agent.children.length + below.reduce((a, b) => a + b.steps, 0) };
  };
  const { depth, steps } = walk(tl[0]!);
  assert.ok(depth <= MAX_AGENT_DEPTH, `${depth} groups deep`);
  // A chain within the tree's share: exactly as deep as the cap.
  assert.equal(walk(buildTimeline(items(evs.slice(0, 300)))[0]!).depth, MAX_AGENT_DEPTH, 'as deep as the cap, no deeper');
  // Bounded in all (what one change re-renders), the newest steps kept.
  assert.ok(steps <= MAX_TREE_STEPS + MAX_GROUP_CHILDREN, `${steps} steps in the groups`);
  const html = renderTimelineHtml(tl).toString(); // recursed once per level: a stack overflow at 3,000
  assert.match(html, /deepest/);
  assert.ok(renderTimelineText(items(evs)).some((l) => l.text.includes('deepest')));
  // Wide: 200 subagents of 200 steps each under one call (11 MB of HTML a re-render before).
  const wide: RunnerEvent[] = [{ type: 'claude_tool_use', toolUseId: 'w', name: 'Task', input: { subagent_type: 'x', description: 'd', prompt: 'p' }, inputTruncated: false, parentToolUseId: null }];
  for (let i = 0; i < 200; i++) {
    wide.push({ type: 'claude_tool_use', toolUseId: `w${i}`, name: 'Task', input: { subagent_type: 'x', description: 'd', prompt: 'p' }, inputTruncated: false, parentToolUseId: 'w' });
    for (let j = 0; j < 200; j++) wide.push({ type: 'claude_text', messageId: `m${i}.${j}`, text: `step ${i}.${j}`, truncated: false, parentToolUseId: `w${i}`, error: null });
  }
  // A runner re-announcing a call's id under a fresh call (its bookkeeping said depth 1 again):
  // 30 rounds nested 188 deep before; an id keeps its first call.
  const reuse: RunnerEvent[] = [];
  const call = (id: string, parent: string | null) => reuse.push({ type: 'claude_tool_use', toolUseId: id, name: 'Task', input: { subagent_type: 'x', description: id, prompt: 'p' }, inputTruncated: false, parentToolUseId: parent });
  call('r0', null);
  let prev = 'r0';
  for (let i = 1; i <= 9; i++) call(`c0_${i}`, prev), (prev = `c0_${i}`);
  let holderId = 'c0_7';
  for (let k = 1; k <= 30; k++) {
    call(`R${k}`, null);
    call(holderId, `R${k}`);
    for (let i = 1; i <= 9; i++) call(`c${k}_${i}`, prev), (prev = `c${k}_${i}`);
    holderId = `c${k}_6`;
  }
  const reused = buildTimeline(items(reuse));
  assert.ok(Math.max(...reused.map((e) => walk(e).depth)) <= MAX_AGENT_DEPTH, 'ids re-announced nest no deeper');
  const w = walk(buildTimeline(items(wide))[0]!);
  assert.ok(w.steps <= MAX_TREE_STEPS + MAX_GROUP_CHILDREN, `${w.steps} steps under the wide call`);
  assert.match(renderTimelineHtml(buildTimeline(items(wide))).toString(), /step 199\.199/, 'the newest step is shown');
});

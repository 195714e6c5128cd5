import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { STREAM_EVENT, encodeOutput } from '../../protocol/frames.js';
import { encodeEvent, type RunnerEvent } from '../../protocol/runner-events.js';
import { approvalInfo, fakeRunner } from '../helpers/fake-runner.js';
import { startGateway } from '../helpers/gateway.js';
import { PageClient, setupAdmin } from '../helpers/page-client.js';
import { waitFor } from '../helpers/processes.js';
import { openSse } from '../helpers/sse-reader.js';

const PW = 'correct horse battery';

/** A gateway with its admin, a run driven by a fake runner, and the admin's page watching its timeline live. */
async function watchedRun(t: TestContext) {
  const g = await startGateway();
  t.after(() => g.close());
  const admin = new PageClient(g.url, g.fingerprint);
  assert.equal((await setupAdmin(admin, g.gw.setupCode!, 'admin', PW)).status, 303);
  const { run, token } = await g.gw.runs.create('watched', 'test');
  const r = await fakeRunner(g, run.id, token);
  t.after(() => r.close());
  const live = openSse(g, `/runs/${run.id}/live?after=0&view=timeline`, admin.cookieHeader());
  t.after(() => live.close());
  assert.equal(await live.status, 200);
  return { g, admin, run, r, live };
}

test("the page's live timeline re-renders a busy subagent's entry at most every 100 ms, and sends the last state before the stream ends", async (t) => {
  const { r, live } = await watchedRun(t);

  // 60 chunks at once, each a step of one subagent: every one changes the same top-level entry
  // (it was re-rendered, whole, for each: a runner nesting or widening that tree stalled the gateway).
  const task: RunnerEvent = { type: 'claude_tool_use', toolUseId: 'task1', name: 'Task', input: { subagent_type: 'x', description: 'busy', prompt: 'p' }, inputTruncated: false, parentToolUseId: null };
  const chunks = [encodeEvent(task)];
  for (let i = 1; i < 60; i++) chunks.push(encodeEvent({ type: 'claude_text', messageId: `m${i}`, text: `step ${i} of the subagent`, truncated: false, parentToolUseId: 'task1', error: null }));
  chunks.forEach((data, i) => r.ws.send(encodeOutput({ stream: STREAM_EVENT, seq: i + 1, data })));
  r.send({ type: 'exit', code: 0, signal: null, lastSeq: chunks.length });
  await waitFor(() => live.events.find((e) => e.event === 'end'), 15_000, 'the end of the stream');

  const renders = live.events.filter((e) => e.event === 'timeline-entries');
  assert.ok(renders.length > 0 && renders.length < 30, `${renders.length} renders of the timeline for 60 changes`);
  // The last state went out before `end`.
  const endAt = live.events.findIndex((e) => e.event === 'end');
  const lastRender = live.events.map((e) => e.event).lastIndexOf('timeline-entries');
  assert.ok(lastRender < endAt, 'rendered before the end');
  assert.match(live.events[lastRender]!.data, /step 59 of the subagent/);
});

test('a timeline change held back when the stream drops reaches the page after it reconnects (the resume point stays below it)', async (t) => {
  const { g, admin, run, r, live } = await watchedRun(t);
  const withId = () => live.events.filter((e) => e.id !== undefined);
  const task: RunnerEvent = { type: 'claude_tool_use', toolUseId: 'task1', name: 'Task', input: { subagent_type: 'x', description: 'busy', prompt: 'p' }, inputTruncated: false, parentToolUseId: null };
  r.ws.send(encodeOutput({ stream: STREAM_EVENT, seq: 1, data: encodeEvent(task) }));
  await waitFor(() => (withId().length >= 1 ? true : undefined), 5000, 'the first chunk');
  // The second change comes within 100 ms of the first render: held back a moment.
  r.ws.send(encodeOutput({ stream: STREAM_EVENT, seq: 2, data: encodeEvent({ type: 'claude_text', messageId: 'm2', text: 'STEP-TWO', truncated: false, parentToolUseId: 'task1', error: null }) }));
  await waitFor(() => (withId().length >= 2 ? true : undefined), 5000, 'the second chunk');
  const seenBefore = live.events.some((e) => e.event === 'timeline-entries' && e.data.includes('STEP-TWO'));
  const resumeAt = withId().at(-1)!.id!;
  live.close(); // the network drops; the page comes back from its Last-Event-ID
  const again = openSse(g, `/runs/${run.id}/live?after=${resumeAt}&view=timeline`, admin.cookieHeader());
  t.after(() => again.close());
  assert.equal(await again.status, 200);
  r.send({ type: 'exit', code: 0, signal: null, lastSeq: 2 });
  await waitFor(() => again.events.find((e) => e.event === 'end'), 15_000, 'the end');
  const seenAfter = again.events.some((e) => e.event === 'timeline-entries' && e.data.includes('STEP-TWO'));
  assert.ok(seenBefore || seenAfter, `STEP-TWO never reached the page (resumed after ${resumeAt})`);
});

test('approvals a reconnected runner brings in one approvals_sync each reach the live timeline, as entries of their own', async (t) => {
  const { r, live } = await watchedRun(t);
  // The toolName tells the approvals apart on the page.
  const tools = ['FirstTool', 'SecondTool', 'ThirdTool'];
  await r.events({ type: 'approvals_sync', pending: tools.map((toolName, i) => approvalInfo(`appr_${String(i).repeat(16)}`, { toolName, displayName: toolName, toolUseId: `toolu_${i}` })) });
  r.send({ type: 'exit', code: 0, signal: null, lastSeq: 1 });
  await waitFor(() => live.events.find((e) => e.event === 'end'), 15_000, 'the end of the stream');
  const rendered = live.events.filter((e) => e.event === 'timeline-entries').map((e) => e.data).join('\n');
  for (const tool of tools) assert.match(rendered, new RegExp(tool), `${tool} on the page`);
  const ids = [...rendered.matchAll(/<article id="(tl-[^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(ids).size, ids.length, `entry ids repeat: ${ids.join(' ')}`);
});

test('the page’s timeline credits an operator with an approval only when the gateway holds their answer, live and on load', async (t) => {
  const { admin, run, r, live } = await watchedRun(t);
  await r.events({ type: 'approval_requested', ...approvalInfo('appr_cccccccccccccccc', { toolName: 'Bash', input: { command: 'curl x | sh' } }) });
  // Nobody answered; the runner says olivia always allowed it.
  await r.events({ type: 'approval_resolved', approvalId: 'appr_cccccccccccccccc', decision: 'allow', always: true, message: null, by: 'olivia', reason: 'operator' });
  r.send({ type: 'exit', code: 0, signal: null, lastSeq: 2 });
  await waitFor(() => live.events.find((e) => e.event === 'end'), 15_000, 'the end of the stream');
  const rendered = live.events.filter((e) => e.event === 'timeline-entries').map((e) => e.data).join('\n');
  assert.match(rendered, /Always allowed by the runner \(no operator answered so\)/);
  assert.doesNotMatch(rendered, /by olivia/);
  const page = await admin.get(`/runs/${run.id}?view=timeline`);
  assert.equal(page.status, 200);
  assert.match(page.body, /Always allowed by the runner \(no operator answered so\)/);
  assert.doesNotMatch(page.body, /by olivia/);
});

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { STREAM_EVENT, encodeOutput } from '../../protocol/frames.js';
import { encodeEvent, type RunnerEvent } from '../../protocol/runner-events.js';
import { approvalInfo, fakeRunner } from '../helpers/fake-runner.js';
import { startGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { PageClient, setupAdmin } from '../helpers/page-client.js';
import { waitFor } from '../helpers/processes.js';
import { openSse } from '../helpers/sse-reader.js';

const PW = 'correct horse battery';

/** A gateway with its admin, a run driven by a fake runner, and the admin's page watching its timeline live. */
async function watchedRun(t: TestContext, info: Parameters<typeof fakeRunner>[3] = {}) {
  const g = await startGateway();
  t.after(() => g.close());
  const admin = new PageClient(g.url, g.fingerprint);
  assert.equal((await setupAdmin(admin, g.gw.setupCode!, 'admin', PW)).status, 303);
  const { run, token } = await g.gw.runs.create('watched', 'test');
  const r = await fakeRunner(g, run.id, token, info);
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

test('the page names who sent a follow-up, switched the mode or interrupted only as the gateway vouches: a runner naming olivia reads as the runner', async (t) => {
  const { g, admin, run, r, live } = await watchedRun(t, { mode: 'claude', remote: { input: true, approval: true } });
  // A real follow-up, mode switch and interrupt through the API: the runner reports each with the id the gateway gave it.
  assert.equal((await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/input`, { text: 'run the tests' })).status, 202);
  const input = (await r.next('input')) as { inputId: string; by: string };
  assert.equal((await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/mode`, { mode: 'plan' })).status, 202);
  const mode = (await r.next('session_control')) as { controlId: string; by: string };
  assert.equal((await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/interrupt`)).status, 202);
  const interrupt = (await r.next('session_control', (m) => (m as { action?: string }).action === 'interrupt')) as { controlId: string; by: string };
  const me = input.by;
  await r.events(
    { type: 'input_sent', inputId: input.inputId, by: me, text: 'run the tests', bytes: 13 },
    { type: 'claude_settings', permissionMode: 'plan', model: null, by: me, controlId: mode.controlId },
    { type: 'interrupt_sent', by: me, controlId: interrupt.controlId },
    // A hostile runner: the gateway's ids with another text, person or control; ids of its own; none.
    { type: 'input_sent', inputId: input.inputId, by: me, text: 'push straight to main', bytes: 21 },
    { type: 'input_sent', inputId: input.inputId, by: 'olivia', text: 'run the tests', bytes: 13 },
    { type: 'input_sent', inputId: 'made-up-id-000001', by: 'olivia', text: 'delete the release branch', bytes: 25 },
    { type: 'claude_settings', permissionMode: 'bypassPermissions', model: null, by: 'olivia', controlId: mode.controlId },
    { type: 'claude_settings', permissionMode: null, model: 'opus', by: me, controlId: mode.controlId },
    { type: 'claude_settings', permissionMode: 'acceptEdits', model: null, by: 'oscar' },
    { type: 'interrupt_sent', by: 'oscar', controlId: null },
    { type: 'interrupt_sent', by: me, controlId: interrupt.controlId }, // a replay: one id vouches for one event
  );
  // Escapes spell the same key and value; a last line without its newline is read all the same.
  await r.output(STREAM_EVENT, '{"type":"input_sent","inputId":"made-up-id-000002","b\\u0079":"olivia","text":"escaped key","bytes":11}\n{"type":"interrupt_sent","by":"olivia","controlId":null}');
  await r.output(STREAM_EVENT, '\n');
  // A cancel's interrupt comes with the cancel's id.
  assert.equal((await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/cancel`)).status, 202);
  const cancel = (await r.next('cancel')) as { by: string; controlId: string };
  await r.events({ type: 'interrupt_sent', by: cancel.by, controlId: cancel.controlId }, { type: 'interrupt_sent', by: cancel.by, controlId: null });
  const lastSeq = await r.events({ type: 'claude_text', messageId: 'sentinel', text: 'sentinel', truncated: false, parentToolUseId: null, error: null });
  r.send({ type: 'exit', code: 0, signal: null, lastSeq });
  await waitFor(() => live.events.find((e) => e.event === 'end'), 15_000, 'the end of the stream');

  const says = (name: string) => `the runner (says ${name})`;
  const expectations = (html: string) => {
    // Each entry on its own (the live stream sends an entry again when it changes).
    const entries = [...html.matchAll(/<article[^]*?<\/article>/g)].map((m) => m[0]);
    const entry = (text: string) => {
      const found = entries.filter((e) => e.includes(text));
      assert.ok(found.length > 0, `an entry with ${text}`);
      return found.join('\n');
    };
    assert.match(entry('run the tests'), new RegExp(`Follow-up from ${me.replace(/[()]/g, '\\$&')}</p>`));
    assert.ok(entry('run the tests').includes(`Follow-up from ${says('olivia')}`), 'olivia never sent it');
    assert.ok(entry('push straight to main').includes(`Follow-up from ${says(me)}`), 'another text under a real id');
    assert.ok(entry('delete the release branch').includes(`Follow-up from ${says('olivia')}`));
    assert.ok(entry('(plan)').includes(`set by ${me}`), 'the real switch');
    assert.ok(entry('(bypassPermissions)').includes(`set by ${says('olivia')}`));
    assert.ok(entry('model: opus').includes(`set by ${says(me)}`), 'a mode switch\'s id does not vouch for a model');
    assert.ok(entry('(acceptEdits)').includes(`set by ${says('oscar')}`));
    assert.ok(entry(`interrupted by ${says('oscar')}`));
    assert.ok(entry('escaped key').includes(`Follow-up from ${says('olivia')}`), 'an escaped key is read as readers read it');
    assert.ok(entry(`interrupted by ${says('olivia')}`), 'a last line without its newline');
    assert.ok(entry(`interrupted by ${says(me)}`), 'a cancel\'s interrupt without its id');
    assert.equal(new Set(entries.filter((e) => e.includes(`interrupted by ${me}`)).map((e) => /id="([^"]+)"/.exec(e)?.[1])).size, 2, 'the real interrupt and the cancel\'s');
    assert.doesNotMatch(html, /from olivia|by olivia|by oscar/);
  };
  expectations(live.events.filter((e) => e.event === 'timeline-entries').map((e) => e.data).join('\n'));
  const page = await admin.get(`/runs/${run.id}?view=timeline`);
  assert.equal(page.status, 200);
  expectations(page.body);
  // The TUI, `ccg runs events` and the API read the same names: they are credited as the events arrive.
  const events = await apiRequest(g, 'GET', `/api/v1/runs/${run.id}/events`);
  const named = String(events.json).trim().split('\n').map((l) => JSON.parse(l) as { type: string; by?: string | null }).filter((e) => e.by !== undefined && e.by !== null);
  assert.deepEqual(named.map((e) => `${e.type} ${e.by}`), [
    `input_sent ${me}`,
    `claude_settings ${me}`,
    `interrupt_sent ${me}`,
    `input_sent ${says(me)}`,
    `input_sent ${says('olivia')}`,
    `input_sent ${says('olivia')}`,
    `claude_settings ${says('olivia')}`,
    `claude_settings ${says(me)}`,
    `claude_settings ${says('oscar')}`,
    `interrupt_sent ${says('oscar')}`,
    `interrupt_sent ${says(me)}`,
    `input_sent ${says('olivia')}`,
    `interrupt_sent ${says('olivia')}`,
    `interrupt_sent ${me}`,
    `interrupt_sent ${says(me)}`,
  ]);
});

test('an approval names who answered it only as the gateway vouches, in the stored events the TUI and `ccg runs events` read', async (t) => {
  const { g, run, r } = await watchedRun(t, { mode: 'claude', remote: { input: true, approval: true }, hello: { approvalCredits: true } as never });
  const [allowed, denied, forged, widened, late] = ['appr_allowed0000001', 'appr_denied00000002', 'appr_forged00000003', 'appr_widened0000004', 'appr_late0000000005'];
  await r.events(...[allowed, denied, forged, widened, late].map((id) => ({ type: 'approval_requested' as const, ...approvalInfo(id, { toolName: 'Bash', input: { command: 'npm test' } }) })));
  const answer = async (id: string, body: Record<string, unknown>) => {
    assert.equal((await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/approvals/${id}`, body)).status, 200, id);
    const msg = (await r.next('approval_decision', (m) => (m as { approvalId?: string }).approvalId === id)) as { by: string; creditId?: string };
    assert.match(msg.creditId ?? '', /^[A-Za-z0-9_-]{36}$/, 'a runner that echoes it gets an id');
    return msg;
  };
  const a = await answer(allowed, { decision: 'allow' });
  const d = await answer(denied, { decision: 'deny', message: 'not now' });
  const w = await answer(widened, { decision: 'allow' });
  const me = a.by;
  const resolved = (approvalId: string, o: { decision?: 'allow' | 'deny'; always?: boolean; message?: string | null; by: string; reason?: 'operator' | 'timeout'; creditId?: string }): RunnerEvent => ({
    type: 'approval_resolved', approvalId, decision: o.decision ?? 'allow', always: o.always ?? false, message: o.message ?? null, by: o.by, reason: o.reason ?? 'operator', ...(o.creditId ? { creditId: o.creditId } : {}),
  });
  await r.events(
    resolved(denied, { decision: 'deny', message: 'go ahead, push it', by: me, creditId: d.creditId! }), // another message under the real id
    resolved(allowed, { by: me, creditId: a.creditId! }),
    resolved(denied, { decision: 'deny', message: 'not now', by: me, creditId: d.creditId! }),
    resolved(forged, { by: 'olivia' }), // nobody answered it
    resolved(forged, { by: me, creditId: a.creditId! }), // another approval's id
    resolved(widened, { always: true, by: me, creditId: w.creditId! }), // answered once, reported as always
    resolved(allowed, { by: me, creditId: a.creditId! }), // a replay
    resolved(late, { decision: 'deny', by: 'timeout', reason: 'timeout' }),
    resolved(late, { decision: 'deny', by: 'olivia', reason: 'timeout' }),
  );
  const lastSeq = await r.events({ type: 'claude_text', messageId: 'sentinel', text: 'sentinel', truncated: false, parentToolUseId: null, error: null });
  r.send({ type: 'exit', code: 0, signal: null, lastSeq });
  const says = (name: string) => `the runner (says ${name})`;
  const events = await apiRequest(g, 'GET', `/api/v1/runs/${run.id}/events`);
  const named = String(events.json).trim().split('\n').map((l) => JSON.parse(l) as { type: string; approvalId?: string; by?: string }).filter((e) => e.type === 'approval_resolved');
  assert.deepEqual(named.map((e) => `${e.approvalId} ${e.by}`), [
    `${denied} ${says(me)}`,
    `${allowed} ${me}`,
    `${denied} ${me}`,
    `${forged} ${says('olivia')}`,
    `${forged} ${says(me)}`,
    `${widened} ${says(me)}`,
    `${allowed} ${says(me)}`,
    `${late} timeout`,
    `${late} ${says('olivia')}`,
  ]);
});

test('a runner that bounds its modes and models (--modes, --models, a machine workspace) is offered and sent only those: the API refuses the rest early, and the plan card has no "allow edits"', async (t) => {
  const { g, admin, run, r } = await watchedRun(t, { mode: 'claude', remote: { input: true, approval: true, modes: ['default', 'plan'], models: [] } as never });
  const session = await apiRequest(g, 'GET', `/api/v1/runs/${run.id}/session`);
  assert.deepEqual(session.json.modes, ['default', 'plan']);
  for (const [path, body, why] of [
    ['mode', { mode: 'acceptEdits' }, /only to default, plan/],
    ['model', { model: 'opus' }, /only to no model/],
    ['input', { text: ' /model haiku' }, /no slash commands/],
  ] as const) {
    const res = await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/${path}`, body);
    assert.equal(res.status, 409, `${path}: ${JSON.stringify(res.json)}`);
    assert.equal(res.json.error.code, 'ERR_NOT_ENABLED');
    assert.match(res.json.error.message, why);
  }
  assert.equal((await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/mode`, { mode: 'plan' })).status, 202, 'an allowed switch goes');
  await r.events({ type: 'approval_requested', ...approvalInfo('appr_plan000000000001', { toolName: 'ExitPlanMode', input: {}, plan: '# The plan' }) });
  await waitFor(() => (g.gw.approvals.list(run.id).length === 1 ? true : undefined), 5000, 'the plan pending');
  const edits = await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/approvals/appr_plan000000000001/plan`, { decision: 'approve', mode: 'acceptEdits' });
  assert.equal(edits.status, 409, JSON.stringify(edits.json));
  const page = await admin.get(`/runs/${run.id}`);
  assert.match(page.body, /Approve, keep asking before edits/);
  assert.doesNotMatch(page.body, /Approve and allow edits/);
  assert.equal((await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/approvals/appr_plan000000000001/plan`, { decision: 'approve' })).status, 200, 'approving in default mode goes');
});

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { OperatorClient } from '../../cli/client/operator-client.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { Approval } from '../../protocol/claude-control.js';
import { STREAM_EVENT } from '../../protocol/frames.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { runCli } from '../helpers/cli.js';
import { approvalInfo, fakeRunner, messagesBeforeSentinel } from '../helpers/fake-runner.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';

const req = apiRequest;

async function newRun(g: TestGateway): Promise<CreateRunResponse> {
  return JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
}

/** A gateway, a run and its fake runner with two approvals pending (what the credit tests answer and resolve). */
async function twoPending(t: TestContext, first: string, second: string) {
  const g = await startGateway();
  t.after(() => g.close());
  const run = await newRun(g);
  const runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());
  await runner.events({ type: 'approval_requested', ...approvalInfo(first) }, { type: 'approval_requested', ...approvalInfo(second, { toolUseId: 'toolu_2' }) });
  await waitFor(() => (g.gw.approvals.list(run.id).length === 2 ? true : undefined), 5000, 'two pending');
  return { g, run, runner };
}

function bothResolved(g: TestGateway, runId: string) {
  return waitFor(() => {
    const all = g.gw.approvals.list(runId, { all: true });
    return all.every((a) => a.state === 'resolved') ? all : undefined;
  }, 5000, 'both resolved');
}

function operator(g: TestGateway, token = g.operatorToken) {
  const client = new OperatorClient({ gateway: g.url, token, fingerprint: g.fingerprint }, { reconnect: false });
  const seen: Approval[] = [];
  const lists: Approval[][] = [];
  const notices: { code: string; message: string }[] = [];
  client.on('approval', (a) => seen.push(a.approval));
  client.on('approvals', (a) => lists.push(a.approvals));
  client.on('notice', (n) => notices.push(n));
  return { client, seen, lists, notices };
}

test('an approval: pending on the gateway (run waiting), first answer wins across API and socket, every viewer sees it resolved, audited', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = await newRun(g);
  const runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());

  const alice = operator(g);
  const bobToken = (await createApiToken(g.gw.store, { name: 'bob', role: 'operator', userId: null, now: Date.now() })).token;
  const bob = operator(g, bobToken);
  for (const o of [alice, bob]) {
    o.client.subscribe(run.id);
    o.client.start();
    t.after(() => o.client.close());
  }
  await waitFor(() => (alice.lists.length && bob.lists.length ? true : undefined), 5000, 'subscriptions');
  assert.deepEqual(alice.lists[0], [], 'no approvals yet');

  await runner.events({ type: 'approval_requested', ...approvalInfo('appr_aaaaaaaaaaaaaaaa') });
  const pending = await waitFor(() => bob.seen.find((a) => a.state === 'pending'), 5000, 'bob sees the request');
  assert.equal(pending.toolName, 'Bash');
  assert.deepEqual(pending.input, { command: 'npm test', description: 'Run tests' });
  assert.deepEqual(pending.rule, { toolName: 'Bash', ruleContent: 'npm test' });
  await waitFor(() => (g.gw.runs.get(run.id)?.status === 'waiting' ? true : undefined), 5000, 'status waiting');

  const listed = await req(g, 'GET', `/api/v1/runs/${run.id}/approvals`);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.json.approvals.map((a: Approval) => [a.approvalId, a.state]), [['appr_aaaaaaaaaaaaaaaa', 'pending']]);

  // Alice (HTTP) and Bob (socket) answer at the same moment: exactly one wins.
  assert.ok(bob.client.answerApproval(run.id, 'appr_aaaaaaaaaaaaaaaa', 'deny', { message: 'not now' }));
  const viaApi = await req(g, 'POST', `/api/v1/runs/${run.id}/approvals/appr_aaaaaaaaaaaaaaaa`, { decision: 'allow', always: true });
  const decision = await runner.next('approval_decision');
  const bobWon = decision.decision === 'deny';
  if (bobWon) {
    assert.equal(viaApi.status, 409);
    assert.equal(viaApi.json.error.code, 'ERR_APPROVAL_RESOLVED');
    assert.deepEqual({ ...decision }, { type: 'approval_decision', approvalId: 'appr_aaaaaaaaaaaaaaaa', decision: 'deny', always: false, message: 'not now', by: 'bob' });
  } else {
    assert.equal(viaApi.status, 200);
    assert.equal(viaApi.json.approval.state, 'answered');
    await waitFor(() => bob.notices.find((n) => n.code === 'ERR_APPROVAL_RESOLVED'), 5000, 'bob told he was second');
    assert.deepEqual({ ...decision }, { type: 'approval_decision', approvalId: 'appr_aaaaaaaaaaaaaaaa', decision: 'allow', always: true, message: null, by: 'operator.token (bootstrap)' });
  }
  // Both answers are handled now (one won, the other was told it lost): a sentinel sent to the
  // runner after them proves no second decision is on its way.
  const beforeSentinel = await messagesBeforeSentinel(g, runner, run.id);
  assert.equal(beforeSentinel.filter((m) => m.type === 'approval_decision').length, 1, 'the runner gets one decision only');
  assert.equal(runner.messages.filter((m) => m.type === 'approval_decision').length, 1, 'the runner gets one decision only');
  // A third answer after the fact is refused too.
  const late = await req(g, 'POST', `/api/v1/runs/${run.id}/approvals/appr_aaaaaaaaaaaaaaaa`, { decision: 'allow' });
  assert.equal(late.status, 409);

  // The runner answered Claude and says so: resolved for everyone, run back to running.
  await runner.events({ type: 'approval_resolved', approvalId: 'appr_aaaaaaaaaaaaaaaa', decision: decision.decision, always: decision.always, message: decision.message, by: decision.by, reason: 'operator' });
  for (const o of [alice, bob]) await waitFor(() => o.seen.find((a) => a.state === 'resolved'), 5000, 'resolved seen');
  await waitFor(() => (g.gw.runs.get(run.id)?.status === 'running' ? true : undefined), 5000, 'status running');
  assert.deepEqual((await req(g, 'GET', `/api/v1/runs/${run.id}/approvals`)).json.approvals, []);
  const all = (await req(g, 'GET', `/api/v1/runs/${run.id}/approvals?all=1`)).json.approvals as Approval[];
  assert.equal(all[0]!.resolution?.by, decision.by);

  const audit = (await req(g, 'GET', '/api/v1/audit')).json.entries as { actor: string; action: string; target: string; from: string | null; detail: Record<string, unknown> }[];
  const answered = audit.filter((e) => e.action === 'approval.answer');
  assert.equal(answered.length, 1, 'only the winning answer is a decision');
  assert.equal(answered[0]!.actor, decision.by);
  assert.equal(answered[0]!.target, run.id);
  assert.equal(answered[0]!.detail['tool'], 'Bash');
  assert.ok(answered[0]!.from, 'where it came from');
});

test('hostile operators: viewers cannot answer, unknown or malformed approvals and bodies are refused, the socket stays open', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = await newRun(g);
  const runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());
  await runner.events({ type: 'approval_requested', ...approvalInfo('appr_bbbbbbbbbbbbbbbb', { rule: null }) });
  await waitFor(() => g.gw.approvals.list(run.id)[0], 5000, 'pending');
  const viewerToken = (await createApiToken(g.gw.store, { name: 'vic', role: 'viewer', userId: null, now: Date.now() })).token;

  const path = `/api/v1/runs/${run.id}/approvals/appr_bbbbbbbbbbbbbbbb`;
  assert.equal((await req(g, 'POST', path, { decision: 'allow' }, viewerToken)).json.error.code, 'ERR_FORBIDDEN');
  assert.equal((await req(g, 'POST', `/api/v1/runs/${run.id}/approvals/appr_cccccccccccccccc`, { decision: 'allow' })).json.error.code, 'ERR_APPROVAL_NOT_FOUND');
  assert.equal((await req(g, 'POST', `/api/v1/runs/${run.id}/approvals/..%2f..%2fx`, { decision: 'allow' })).status, 404);
  for (const body of [{ decision: 'maybe' }, { decision: 'allow', extra: 1 }, { decision: 'deny', message: 'x'.repeat(1001) }, '{not json', { decision: 'allow', always: 'yes' }]) {
    const r = await req(g, 'POST', path, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.error.code, 'ERR_BAD_REQUEST');
  }
  // "Always" needs a rule Claude suggested; without one the answer is refused, not widened.
  assert.equal((await req(g, 'POST', path, { decision: 'allow', always: true })).json.error.code, 'ERR_BAD_REQUEST');

  const vic = operator(g, viewerToken);
  vic.client.subscribe(run.id);
  vic.client.start();
  t.after(() => vic.client.close());
  await waitFor(() => (vic.client.state === 'open' && vic.lists.length ? true : undefined), 5000, 'viewer socket');
  vic.client.answerApproval(run.id, 'appr_bbbbbbbbbbbbbbbb', 'allow');
  vic.client.sendInput(run.id, { text: 'hi' });
  await waitFor(() => (vic.notices.filter((n) => n.code === 'ERR_FORBIDDEN').length === 2 ? true : undefined), 5000, 'viewer refused twice');
  assert.equal(vic.client.state, 'open', 'refusals do not close the socket');
  assert.equal(runner.messages.filter((m) => m.type === 'approval_decision' || m.type === 'input').length, 0, 'nothing reached the runner');
  assert.equal(g.gw.approvals.list(run.id)[0]!.state, 'pending');
});

test('an answer given while the runner is away is delivered when it reconnects; approvals it no longer has are closed', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = await newRun(g);
  let runner = await fakeRunner(g, run.id, run.token);
  await runner.events({ type: 'approval_requested', ...approvalInfo('appr_dddddddddddddddd') }, { type: 'approval_requested', ...approvalInfo('appr_eeeeeeeeeeeeeeee', { toolUseId: 'toolu_2' }) });
  await waitFor(() => (g.gw.approvals.list(run.id).length === 2 ? true : undefined), 5000, 'two pending');
  await runner.close();
  await waitFor(() => (g.gw.runs.summary(g.gw.runs.get(run.id)!).runnerConnected ? undefined : true), 5000, 'runner away');

  const r = await req(g, 'POST', `/api/v1/runs/${run.id}/approvals/appr_dddddddddddddddd`, { decision: 'allow' });
  assert.equal(r.status, 200);
  assert.equal(r.json.approval.state, 'answered');

  // The runner comes back still waiting on the first only: the answer is re-sent, the second is closed.
  runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());
  await runner.events({ type: 'approvals_sync', pending: [approvalInfo('appr_dddddddddddddddd')] });
  const d = await runner.next('approval_decision');
  assert.equal(d.approvalId, 'appr_dddddddddddddddd');
  assert.equal(d.decision, 'allow');
  const closed = await waitFor(() => g.gw.approvals.get(run.id, 'appr_eeeeeeeeeeeeeeee')?.resolution ?? undefined, 5000, 'second closed');
  assert.equal(closed.reason, 'ended');
});

test('pending approvals survive a gateway restart; a run that ends closes what is still open', async (t) => {
  const dataDir = tempDir();
  let g = await startGateway({ dataDir });
  const run = await newRun(g);
  const runner = await fakeRunner(g, run.id, run.token);
  await runner.events({ type: 'approval_requested', ...approvalInfo('appr_ffffffffffffffff') });
  await waitFor(() => g.gw.approvals.list(run.id)[0], 5000, 'pending');
  await runner.close();
  await g.close();

  g = await startGateway({ dataDir });
  t.after(() => g.close());
  const listed = await req(g, 'GET', `/api/v1/runs/${run.id}/approvals`);
  assert.deepEqual(listed.json.approvals.map((a: Approval) => [a.approvalId, a.state, a.toolName]), [['appr_ffffffffffffffff', 'pending', 'Bash']]);

  const again = await fakeRunner(g, run.id, run.token);
  t.after(() => again.close());
  await again.exit(0);
  const a = await waitFor(() => g.gw.approvals.get(run.id, 'appr_ffffffffffffffff')?.resolution ?? undefined, 5000, 'closed at exit');
  assert.equal(a.reason, 'ended');
  assert.deepEqual((await req(g, 'GET', `/api/v1/runs/${run.id}/approvals`)).json.approvals, []);
});

test('input: forwarded to a Claude run with who sent it; refused for plain commands, absent runners, oversize; the timeline is served as JSON lines', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = await newRun(g);
  const runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());

  const sent = await req(g, 'POST', `/api/v1/runs/${run.id}/input`, { text: 'now add a test' });
  assert.equal(sent.status, 202);
  const m = await runner.next('input');
  assert.deepEqual({ ...m }, { type: 'input', inputId: sent.json.inputId, text: 'now add a test', by: 'operator.token (bootstrap)' });
  assert.equal((await req(g, 'POST', `/api/v1/runs/${run.id}/input`, { data: 'aGk=' })).json.error.code, 'ERR_INPUT_UNSUPPORTED');
  assert.equal((await req(g, 'POST', `/api/v1/runs/${run.id}/input`, { text: 'x'.repeat(70_000) })).status, 400);
  assert.equal((await req(g, 'POST', `/api/v1/runs/${run.id}/input`, { text: '' })).status, 400);
  assert.equal((await req(g, 'POST', `/api/v1/runs/${run.id}/resize`, { cols: 80, rows: 24 })).json.error.code, 'ERR_INPUT_UNSUPPORTED');

  await runner.events({ type: 'input_sent', inputId: sent.json.inputId, by: 'operator.token (bootstrap)', text: 'now add a test', bytes: 14 }, { type: 'claude_text', messageId: null, text: 'ok', truncated: false, parentToolUseId: null, error: null });
  const events = await req(g, 'GET', `/api/v1/runs/${run.id}/events`);
  const lines = String(events.json).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.type), ['input_sent', 'claude_text']);
  assert.equal(lines[0].seq, lines[1].seq, 'both came in one chunk');
  const audit = (await req(g, 'GET', '/api/v1/audit')).json.entries as { action: string; detail: Record<string, unknown> }[];
  assert.equal(audit.find((e) => e.action === 'run.input')?.detail['text'], 'now add a test');

  const plain = await newRun(g);
  const cmd = await fakeRunner(g, plain.id, plain.token, { mode: 'command' });
  t.after(() => cmd.close());
  assert.equal((await req(g, 'POST', `/api/v1/runs/${plain.id}/input`, { text: 'hi' })).json.error.code, 'ERR_INPUT_UNSUPPORTED');

  await runner.close();
  await waitFor(() => (g.gw.runs.summary(g.gw.runs.get(run.id)!).runnerConnected ? undefined : true), 5000, 'runner away');
  assert.equal((await req(g, 'POST', `/api/v1/runs/${run.id}/input`, { text: 'hello?' })).json.error.code, 'ERR_RUNNER_AWAY');
});

test('an approval can be answered the moment its event is committed, even while earlier changes are still being written', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = await newRun(g);
  const runner = await fakeRunner(g, run.id, run.token);
  t.after(() => runner.close());
  for (let i = 0; i < 5; i++) {
    const id = `appr_race_${String(i).padStart(10, '0')}`;
    await runner.events({ type: 'approval_requested', ...approvalInfo(id, { toolUseId: `toolu_${i}` }) });
    // No waiting for the gateway's `approval` message: answer as soon as the chunk is acknowledged.
    const r = await req(g, 'POST', `/api/v1/runs/${run.id}/approvals/${id}`, { decision: 'allow' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    await runner.events({ type: 'approval_resolved', approvalId: id, decision: 'allow', always: false, message: null, by: 'operator.token (bootstrap)', reason: 'operator' });
  }
  assert.equal(runner.messages.filter((m) => m.type === 'approval_decision').length, 5);
  await waitFor(() => (g.gw.runs.get(run.id)?.status === 'running' ? true : undefined), 5000, 'running again');
  const all = (await req(g, 'GET', `/api/v1/runs/${run.id}/approvals?all=1`)).json.approvals as Approval[];
  assert.deepEqual(all.map((a) => a.state), ['resolved', 'resolved', 'resolved', 'resolved', 'resolved']);
});

test('a hostile runner cannot switch off approvals or notifications for other runs: times past what a Date holds are refused, and a service that throws keeps listening', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const a = await newRun(g);
  const runnerA = await fakeRunner(g, a.id, a.token);
  t.after(() => runnerA.close());
  // Each of these once threw inside a bus listener (new Date(9e15).toISOString()), which dropped it for good.
  const hostile = [
    { type: 'awaiting_input', until: 9e15 },
    { type: 'assist_started', requestId: null, expiresAt: 9e15 },
    { type: 'approval_requested', ...approvalInfo('appr_hhhhhhhhhhhhhhhh'), expiresAt: 9e15 },
  ];
  await runnerA.output(STREAM_EVENT, hostile.map((e) => JSON.stringify(e)).join('\n') + '\n');
  await runnerA.events({ type: 'approval_requested', ...approvalInfo('appr_aaaaaaaaaaaaaaaa') });
  await waitFor(() => g.gw.approvals.list(a.id)[0], 5000, 'the sentinel approval on run A');
  assert.deepEqual(g.gw.approvals.list(a.id).map((x) => x.approvalId), ['appr_aaaaaaaaaaaaaaaa'], 'the hostile request was not taken');
  const timeline = await req(g, 'GET', `/api/v1/runs/${a.id}/events`);
  assert.equal(timeline.status, 200);

  // Another run still gets its approvals.
  const b = await newRun(g);
  const runnerB = await fakeRunner(g, b.id, b.token);
  t.after(() => runnerB.close());
  await runnerB.events({ type: 'approval_requested', ...approvalInfo('appr_bbbbbbbbbbbbbbbb') });
  await waitFor(() => g.gw.approvals.list(b.id)[0], 5000, 'approval on run B');
});

test('a runner cannot credit an operator with an answer they did not give: "allowed by olivia" with no answer, or another answer, is the runner’s, and audited', async (t) => {
  const { g, run, runner } = await twoPending(t, 'appr_nnnnnnnnnnnnnnnn', 'appr_oooooooooooooooo');
  // Nobody answered the first; the second was denied, and the runner says it was allowed.
  assert.equal((await req(g, 'POST', `/api/v1/runs/${run.id}/approvals/appr_oooooooooooooooo`, { decision: 'deny' })).status, 200);
  await runner.events(
    { type: 'approval_resolved', approvalId: 'appr_nnnnnnnnnnnnnnnn', decision: 'allow', always: true, message: null, by: 'olivia', reason: 'operator' },
    { type: 'approval_resolved', approvalId: 'appr_oooooooooooooooo', decision: 'allow', always: false, message: null, by: 'admin', reason: 'operator' },
  );
  const resolved = await bothResolved(g, run.id);
  for (const a of resolved) assert.equal(a.resolution!.by, 'the runner (no operator answered so)', a.approvalId);
  const audited = await waitFor(() => {
    const rows = g.gw.store.listAudit({ limit: 100 }).filter((e) => e.action === 'approval.runner');
    return rows.length === 2 ? rows : undefined;
  }, 5000, 'two audit entries');
  // The names it claimed, as its events are stored (a name no id vouches for reads as the runner's).
  assert.deepEqual(audited.map((e) => e.detail?.['claimedBy']).sort(), ['the runner (says admin)', 'the runner (says olivia)']);
});

test('a runner may narrow an operator\'s "always" to once (its --modes), and the operator is still credited; widening "once" to "always" is the runner\'s', async (t) => {
  const { g, run, runner } = await twoPending(t, 'appr_pppppppppppppppp', 'appr_qqqqqqqqqqqqqqqq');
  assert.equal((await req(g, 'POST', `/api/v1/runs/${run.id}/approvals/appr_pppppppppppppppp`, { decision: 'allow', always: true })).status, 200);
  assert.equal((await req(g, 'POST', `/api/v1/runs/${run.id}/approvals/appr_qqqqqqqqqqqqqqqq`, { decision: 'allow', always: false })).status, 200);
  const by = (await runner.next('approval_decision')).by;
  await runner.events(
    { type: 'approval_resolved', approvalId: 'appr_pppppppppppppppp', decision: 'allow', always: false, message: null, by, reason: 'operator' },
    { type: 'approval_resolved', approvalId: 'appr_qqqqqqqqqqqqqqqq', decision: 'allow', always: true, message: null, by, reason: 'operator' },
  );
  const resolved = await bothResolved(g, run.id);
  assert.deepEqual(resolved.map((a) => [a.approvalId, a.resolution!.by]).sort(), [['appr_pppppppppppppppp', by], ['appr_qqqqqqqqqqqqqqqq', 'the runner (no operator answered so)']]);
});

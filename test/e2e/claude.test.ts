import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Approval } from '../../protocol/claude-control.js';
import type { RunSummary } from '../../protocol/run.js';
import { claudeRun } from '../helpers/claude-run.js';
import { lastUserText } from '../helpers/model-api.js';
import { waitFor } from '../helpers/processes.js';

/**
 * The real `claude` (the pinned @anthropic-ai/claude-code) driven by a real runner process,
 * against the scripted model stand-in, through a real gateway, watched by a real operator client.
 */

const show = async (c: { cli: (a: string[]) => Promise<{ stdout: string }> }, id: string) => (JSON.parse((await c.cli(['runs', 'show', id, '--json'])).stdout) as { run: RunSummary }).run;

test('a text reply: the raw stream-json is the output, the timeline is stored and seen live, the result has cost and turns', async (t) => {
  const c = await claudeRun(t, [{ text: 'Hello from the stand-in. **Done.**' }], { prompt: 'say hello', args: ['--input-wait', '0'] });
  const follow = c.cli(['runs', 'events', c.run.id, '--follow', '--json']);
  const { code } = await c.runner.exited;
  assert.equal(code, 0, c.runner.stderr());

  const stored = await c.stored();
  assert.deepEqual(stored.map((e) => e.type), ['input_sent', 'claude_init', 'claude_text', 'claude_result', 'input_closed']);
  const prompt = stored[0]!;
  assert.ok(prompt.type === 'input_sent' && prompt.text === 'say hello' && prompt.by === 'runner');
  const text = stored[2]!;
  assert.ok(text.type === 'claude_text' && text.text === 'Hello from the stand-in. **Done.**');
  const result = stored[3]!;
  assert.ok(result.type === 'claude_result' && result.subtype === 'success' && result.numTurns === 1 && (result.costUsd ?? 0) > 0);
  assert.equal(lastUserText(c.api.requests[0]!), 'say hello', 'the prompt reached the model through stdin');

  await waitFor(() => (c.seen.events.length === stored.length ? true : undefined), 10_000, 'the operator saw every event');
  assert.deepEqual(c.seen.events, stored, 'what the operator saw live is what the gateway stored');
  const followed = await follow;
  assert.equal(followed.code, 0, followed.stderr);
  assert.deepEqual(followed.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type), stored.map((e) => e.type), '`runs events --follow --json` ends with the run');
  const logs = await c.cli(['runs', 'logs', c.run.id]);
  const raw = logs.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
  assert.deepEqual(raw.map((l) => l.type), ['system', 'assistant', 'result'], 'the raw stream stays available, byte for byte');
  const run = await show(c, c.run.id);
  assert.equal(run.status, 'exited');
  assert.equal(run.exitCode, 0);
  assert.equal(run.runner?.mode, 'claude');
});

test('a tool call approved from an operator client: Claude continues, the file exists, everyone saw it resolved, audited (round trip measured)', async (t) => {
  const c = await claudeRun(t, [
    { text: 'I will create it.', tools: [{ name: 'Bash', input: { command: 'touch created.txt', description: 'Create created.txt' } }] },
    { text: 'Created it.' },
  ], { args: ['--input-wait', '0'] });
  const req = await c.event('approval_requested');
  assert.equal(req.toolName, 'Bash');
  assert.deepEqual(req.rule, { toolName: 'Bash', ruleContent: 'touch created.txt' });
  await waitFor(() => c.seen.approvals.find((a) => a.state === 'pending'), 10_000, 'pending approval message');
  await waitFor(async () => ((await show(c, c.run.id)).status === 'waiting' ? true : undefined), 10_000, 'run waiting');
  assert.equal(c.api.requests.length, 1, 'Claude waits for the answer');

  const started = performance.now();
  assert.ok(c.operator.answerApproval(c.run.id, req.approvalId, 'allow'));
  const roundTripMs = (await c.api.waitForRequests(2))[1]!.receivedAt - started;
  t.diagnostic(`approval round trip (operator answer on the socket → Claude's next model request): ${roundTripMs.toFixed(1)} ms`);

  const { code } = await c.runner.exited;
  assert.equal(code, 0, c.runner.stderr());
  assert.ok(existsSync(join(c.cwd, 'created.txt')), 'the approved command ran');
  const resolved = await c.event('approval_resolved');
  // The runner reports it with the answer's id: every viewer reads the name the gateway vouches for.
  const { creditId, ...rest } = resolved as typeof resolved & { creditId?: string };
  assert.match(creditId ?? '', /^[A-Za-z0-9_-]{36}$/);
  assert.deepEqual(rest, { type: 'approval_resolved', approvalId: req.approvalId, decision: 'allow', always: false, message: null, by: 'operator.token (bootstrap)', reason: 'operator' });
  assert.deepEqual(c.seen.approvals.map((a) => a.state), ['pending', 'answered', 'resolved'], 'the operator saw every step');
  const tr = await c.event('claude_tool_result');
  assert.equal(tr.isError, false);
  const stored = (await c.cli(['runs', 'approvals', c.run.id, '--all', '--json'])).stdout;
  const approval = (JSON.parse(stored) as { approvals: Approval[] }).approvals[0]!;
  assert.equal(approval.resolution?.decision, 'allow');
  assert.equal(approval.answer?.by, 'operator.token (bootstrap)');
  const entries = c.g.gw.store.listAudit({ limit: 50 }).filter((e) => e.action === 'approval.answer');
  assert.equal(entries.length, 1);
  assert.equal(entries[0]!.actor, 'operator.token (bootstrap)');
  assert.equal(entries[0]!.detail?.['decision'], 'allow');
});

test('hooks from --claude-settings run, and show in the timeline', async (t) => {
  const settings = JSON.stringify({ hooks: { Stop: [{ hooks: [{ type: 'command', command: 'echo stop-hook-ran' }] }] } });
  const c = await claudeRun(t, [{ text: 'Done.' }], { args: ['--input-wait', '0', '--claude-settings', settings] });
  assert.equal((await c.runner.exited).code, 0, c.runner.stderr());
  const hook = await c.event('claude_system', (e) => e.subtype === 'hook_response');
  assert.match(hook.summary, /^hook Stop success \(exit 0\): stop-hook-ran$/);
  const show = JSON.parse((await c.cli(['runs', 'show', c.run.id, '--json'])).stdout) as { run: RunSummary };
  assert.ok(show.run.runner?.command.includes('--settings'));
});

test('approval round trip, measured over several approvals (operator answer → Claude continues)', async (t) => {
  const N = 6;
  const steps = Array.from({ length: N }, (_, i) => ({ text: `Step ${i}.`, tools: [{ name: 'Bash', input: { command: `touch step-${i}.txt`, description: 'Touch' } }] }));
  const c = await claudeRun(t, [...steps, { text: 'All done.' }], { args: ['--input-wait', '0'] });
  const toResolved: number[] = [];
  const toModel: number[] = [];
  for (let i = 0; i < N; i++) {
    const req = await c.event('approval_requested', (e) => (e.input as { command: string }).command === `touch step-${i}.txt`);
    const started = performance.now();
    assert.ok(c.operator.answerApproval(c.run.id, req.approvalId, 'allow'));
    const resolved = await c.event('approval_resolved', (e) => e.approvalId === req.approvalId);
    toResolved.push(c.seen.eventTimes[c.seen.events.indexOf(resolved)]! - started);
    const next = (await c.api.waitForRequests(i + 2))[i + 1]!;
    toModel.push(next.receivedAt - started);
  }
  assert.equal((await c.runner.exited).code, 0, c.runner.stderr());
  const stats = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return `median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms, min ${sorted[0]!.toFixed(1)}, max ${sorted.at(-1)!.toFixed(1)} (n=${xs.length})`;
  };
  t.diagnostic(`approval round trip, operator answer → Claude's next model request: ${stats(toModel)}`);
  t.diagnostic(`operator answer → the runner answered Claude and the operator saw approval_resolved: ${stats(toResolved)}`);
});

test('a tool call denied from the CLI with a message: Claude is told why, the result counts the denial, nothing ran', async (t) => {
  const c = await claudeRun(t, [
    { text: 'Removing the build.', tools: [{ name: 'Bash', input: { command: 'touch should-not-exist.txt', description: 'Do it' } }] },
    { text: 'Understood.' },
  ], { args: ['--input-wait', '0'] });
  const req = await c.event('approval_requested');
  const pending = await c.cli(['runs', 'approvals', c.run.id, '--json']);
  assert.equal((JSON.parse(pending.stdout) as { approvals: Approval[] }).approvals[0]!.approvalId, req.approvalId);
  const denied = await c.cli(['runs', 'deny', c.run.id, req.approvalId, '--message', 'not on a Friday']);
  assert.equal(denied.code, 0, denied.stderr);
  const second = (await c.api.waitForRequests(2))[1]!;
  assert.equal(lastUserText(second), 'not on a Friday', 'Claude got the message as the tool error');
  const again = await c.cli(['runs', 'deny', c.run.id, req.approvalId]);
  assert.equal(again.code, 1, 'a second answer is refused');
  assert.match(again.stderr, /already/);
  assert.equal((await c.runner.exited).code, 0, c.runner.stderr());
  assert.ok(!existsSync(join(c.cwd, 'should-not-exist.txt')));
  const result = await c.event('claude_result');
  assert.equal(result.denials.length, 1);
  assert.equal(result.denials[0]!.toolName, 'Bash');
  const resolved = await c.event('approval_resolved');
  assert.equal(resolved.decision, 'deny');
  assert.equal(resolved.message, 'not on a Friday');
});

test('nobody answers within --approval-timeout: denied, Claude told so, audited as a timeout', async (t) => {
  const c = await claudeRun(t, [
    { text: 'Trying.', tools: [{ name: 'Bash', input: { command: 'touch late.txt', description: 'Touch' } }] },
    { text: 'It was denied.' },
  ], { args: ['--input-wait', '0', '--approval-timeout', '2s'] });
  const req = await c.event('approval_requested');
  const resolved = await c.event('approval_resolved', undefined, 30_000);
  assert.equal(resolved.approvalId, req.approvalId);
  assert.equal(resolved.reason, 'timeout');
  assert.equal(resolved.decision, 'deny');
  const second = (await c.api.waitForRequests(2))[1]!;
  assert.match(lastUserText(second), /No operator answered within 2 s/);
  assert.equal((await c.runner.exited).code, 0);
  assert.ok(!existsSync(join(c.cwd, 'late.txt')));
  const a = await waitFor(() => c.seen.approvals.find((x) => x.state === 'resolved'), 10_000, 'resolved seen');
  assert.equal(a.resolution?.reason, 'timeout');
  await waitFor(() => c.g.gw.store.listAudit({ limit: 50 }).find((e) => e.action === 'approval.timeout'), 10_000, 'timeout audited');
  // Too late now.
  const late = await c.cli(['runs', 'approve', c.run.id, req.approvalId]);
  assert.notEqual(late.code, 0);
});

test('a follow-up turn: Claude waits for input after its result, the operator sends one, then the run ends when the wait runs out', async (t) => {
  const c = await claudeRun(t, [{ text: 'First answer.' }, { text: 'Second answer.' }], { prompt: 'first question', args: ['--input-wait', '8s'] });
  await c.event('awaiting_input');
  await waitFor(async () => ((await show(c, c.run.id)).status === 'waiting' ? true : undefined), 10_000, 'run waiting for input');
  const sent = await c.cli(['runs', 'input', c.run.id, 'and a second one', '--json']);
  assert.equal(sent.code, 0, sent.stderr);
  const second = (await c.api.waitForRequests(2))[1]!;
  assert.equal(lastUserText(second), 'and a second one');
  const { code } = await c.runner.exited;
  assert.equal(code, 0, c.runner.stderr());
  const stored = await c.stored();
  const inputs = stored.filter((e) => e.type === 'input_sent');
  assert.deepEqual(inputs.map((e) => e.type === 'input_sent' && [e.by, e.text]), [['runner', 'first question'], ['operator.token (bootstrap)', 'and a second one']]);
  assert.equal(stored.filter((e) => e.type === 'claude_result').length, 2);
  assert.equal(stored.at(-1)?.type, 'input_closed');
  assert.equal((await show(c, c.run.id)).status, 'exited');
});

test('cancel: Claude is interrupted cleanly (no signal needed), a waiting approval is denied, the run ends cancelled', async (t) => {
  const c = await claudeRun(t, [
    { text: 'About to act.', tools: [{ name: 'Bash', input: { command: 'touch never.txt', description: 'Touch' } }] },
    { text: 'never reached' },
  ], { args: ['--grace', '20s'] });
  const req = await c.event('approval_requested');
  const cancel = await c.cli(['runs', 'cancel', c.run.id]);
  assert.equal(cancel.code, 0, cancel.stderr);
  const { code, signal } = await c.runner.exited;
  assert.equal(signal, null);
  assert.equal(code, 130, `a cancelled run's runner exits 130, like runs wait; ${c.runner.stderr()}`);
  const resolved = await c.event('approval_resolved');
  assert.deepEqual([resolved.approvalId, resolved.decision, resolved.reason], [req.approvalId, 'deny', 'interrupted']);
  await c.event('interrupt_sent');
  const run = await show(c, c.run.id);
  assert.equal(run.status, 'cancelled');
  // Claude ended on its own after the interrupt: not SIGTERM'd (143) or SIGKILL'd (137), well within the 20 s grace.
  assert.ok(run.exitCode !== 143 && run.exitCode !== 137, `child exit ${run.exitCode}`);
  assert.ok(!existsSync(join(c.cwd, 'never.txt')));
  assert.equal((await c.cli(['runs', 'wait', c.run.id, '--timeout', '5s'])).code, 130);
});

test('cancel while the model is still answering: the request is aborted and Claude exits by itself', async (t) => {
  const c = await claudeRun(t, [{ text: 'Thinking very slowly about this', stall: true }], { args: ['--grace', '20s'] });
  await c.api.waitForRequests(1);
  await c.event('claude_init');
  assert.equal((await c.cli(['runs', 'cancel', c.run.id])).code, 0);
  const { signal, code } = await c.runner.exited;
  assert.equal(signal, null);
  assert.equal(code, 130, c.runner.stderr());
  await waitFor(() => (c.api.requests[0]!.aborted ? true : undefined), 10_000, 'the model request aborted');
  const result = await c.event('claude_result');
  assert.equal(result.isError, true);
  const run = await show(c, c.run.id);
  assert.equal(run.status, 'cancelled');
  assert.ok(run.exitCode !== 143 && run.exitCode !== 137, `Claude exited by itself, not by a signal: child exit ${run.exitCode}`);
});

test('hostile gateway messages are refused by the runner: unknown approval, a second answer, oversized or malformed input, resize', async (t) => {
  const c = await claudeRun(t, [
    { text: 'Go.', tools: [{ name: 'Bash', input: { command: 'touch ok.txt', description: 'Touch' } }] },
    { text: 'Done.' },
  ], { args: ['--input-wait', '0'] });
  const req = await c.event('approval_requested');
  const send = (msg: unknown) => assert.ok(c.g.gw.runs.sendToRunner(c.run.id, msg as never));
  send({ type: 'approval_decision', approvalId: 'unknownunknownunknown', decision: 'allow', always: false, message: null, by: 'mallory' });
  await c.event('control_refused', (e) => e.id === 'unknownunknownunknown' && e.reason === 'unknown approval id');
  send({ type: 'approval_decision', approvalId: req.approvalId, decision: 'allow', always: false, message: null, by: 'mallory', extra: 'field' });
  await c.event('control_refused', (e) => e.id === req.approvalId && /malformed/.test(e.reason));
  send({ type: 'input', inputId: 'bigbigbig1', text: 'x'.repeat(70_000), by: 'mallory' });
  await c.event('control_refused', (e) => e.id === 'bigbigbig1' && /malformed/.test(e.reason));
  send({ type: 'resize', cols: 80, rows: 24 });
  await c.event('control_refused', (e) => e.kind === 'resize');
  assert.equal(c.api.requests.length, 1, 'none of it reached Claude');

  send({ type: 'approval_decision', approvalId: req.approvalId, decision: 'allow', always: false, message: null, by: 'alice' });
  send({ type: 'approval_decision', approvalId: req.approvalId, decision: 'deny', always: false, message: 'changed my mind', by: 'mallory' });
  await c.event('control_refused', (e) => e.id === req.approvalId && e.reason === 'this approval was already answered');
  assert.equal((await c.runner.exited).code, 0);
  const resolved = (await c.stored()).filter((e) => e.type === 'approval_resolved');
  assert.equal(resolved.length, 1, 'answered once');
  // Sent past the gateway's approvals (no answer of alice's, no id for it): stored as the runner's.
  assert.ok(resolved[0]!.type === 'approval_resolved' && resolved[0]!.by === 'the runner (says alice)' && resolved[0]!.decision === 'allow');
  assert.ok(existsSync(join(c.cwd, 'ok.txt')));
});

test('a pending approval survives a gateway restart (kill -9); an answer given before the runner is back reaches Claude', async (t) => {
  const { tempDir } = await import('../helpers/gateway.js');
  const { freePort, startServe } = await import('../helpers/serve.js');
  const dataDir = tempDir();
  const port = await freePort();
  let gw = await startServe(dataDir, port);
  t.after(() => gw.proc.child.kill('SIGKILL'));
  const c = await claudeRun(t, [
    { text: 'Making it.', tools: [{ name: 'Bash', input: { command: 'touch survived.txt', description: 'Touch' } }] },
    { text: 'Made it.' },
  ], { gateway: gw, args: ['--input-wait', '0'] });
  const req = await c.event('approval_requested');
  await waitFor(async () => {
    const r = await c.cli(['runs', 'approvals', c.run.id, '--json']);
    return r.code === 0 && (JSON.parse(r.stdout) as { approvals: Approval[] }).approvals.length ? true : undefined;
  }, 10_000, 'stored');
  gw.proc.child.kill('SIGKILL');
  await gw.proc.exited;

  gw = await startServe(dataDir, port);
  // Usually in the store already; a kill -9 within the few ms between the event's commit and the
  // approval record's write loses the record, and the runner's approvals_sync brings it back once
  // it has reconnected (the event itself is stored either way). Failed once in a fresh-clone CI.
  const pending = await waitFor(async () => {
    const listed = await c.cli(['runs', 'approvals', c.run.id, '--json']);
    const open = listed.code === 0 ? (JSON.parse(listed.stdout) as { approvals: Approval[] }).approvals : [];
    return open.length > 0 ? open : undefined;
  }, 20_000, 'the approval listed after the restart');
  assert.deepEqual(pending.map((a) => [a.approvalId, a.state]), [[req.approvalId, 'pending']], 'the approval survived the restart');
  const approved = await c.cli(['runs', 'approve', c.run.id, req.approvalId]);
  assert.equal(approved.code, 0, approved.stderr);

  const { code } = await c.runner.exited;
  assert.equal(code, 0, c.runner.stderr());
  assert.ok(existsSync(join(c.cwd, 'survived.txt')));
  const after = (JSON.parse((await c.cli(['runs', 'approvals', c.run.id, '--all', '--json'])).stdout) as { approvals: Approval[] }).approvals;
  assert.equal(after[0]!.resolution?.decision, 'allow');
  assert.equal(after[0]!.resolution?.reason, 'operator');
  assert.equal((await show(c, c.run.id)).status, 'exited');
  assert.match(c.runner.stderr(), /reconnect/);
});

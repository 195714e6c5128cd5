import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApprovalInfo } from '../../../protocol/claude-events.js';
import { CcgError } from '../../../protocol/errors.js';
import { STREAM_EVENT } from '../../../protocol/frames.js';
import { encodeEvent } from '../../../protocol/runner-events.js';
import type { Principal } from '../../../server/auth/operator-auth.js';
import { ApprovalService } from '../../../server/core/approvals.js';
import type { ApprovalChange } from '../../../server/live/bus.js';
import { silentLogger } from '../../../server/log.js';
import { RUNNER_INFO, coreHarness, ingest, recordingLink } from './harness.js';

const alice: Principal = { name: 'alice', role: 'operator', via: 'token', tokenId: 't1' };
const bob: Principal = { name: 'bob', role: 'operator', via: 'token', tokenId: 't2' };
const victor: Principal = { name: 'victor', role: 'viewer', via: 'token', tokenId: 't3' };

function info(id: string): ApprovalInfo {
  return {
    approvalId: id, toolName: 'Bash', displayName: null, toolUseId: null, input: { command: 'npm test' }, inputTruncated: false,
    description: null, blockedPath: null, rule: { toolName: 'Bash', ruleContent: 'npm test' }, expiresAt: 1e13,
  };
}

/** Approvals on the real run service, store and bus, fed through the bus like the gateway wires it. */
async function setup(t: { after(fn: () => Promise<void>): void }) {
  const h = coreHarness();
  const approvals = new ApprovalService({ store: h.store, audit: h.store, runs: h.runs, credits: h.credits, bus: h.bus, log: silentLogger, now: h.now });
  h.bus.on('events', ({ runId, events }) => void approvals.onEvents(runId, events));
  h.bus.on('run', (run) => approvals.onRun(run));
  const changes: ApprovalChange[] = [];
  h.bus.on('approval', (c) => changes.push(c));
  const { run } = await h.runs.create('claude', 'alice');
  const link = recordingLink();
  await h.runs.attachRunner(run.id, link, RUNNER_INFO);
  await h.runs.started(run.id);
  t.after(h.close);
  let seq = 0;
  const event = (ev: Parameters<typeof encodeEvent>[0]) => ingest(h.runs, run.id, ++seq, STREAM_EVENT, encodeEvent(ev));
  return { h, approvals, changes, run, link, event };
}

test('approvals: a request from the event stream is pending and the run waits; the first answer wins and reaches the runner', async (t) => {
  const { h, approvals, changes, run, link, event } = await setup(t);
  await event({ type: 'approval_requested', ...info('a1111111111111111') });
  await approvals.onEvents(run.id, []); // its write and announcement are done
  assert.deepEqual(approvals.list(run.id).map((a) => [a.approvalId, a.state]), [['a1111111111111111', 'pending']]);
  assert.equal(h.runs.get(run.id)!.status, 'waiting');
  assert.deepEqual(changes.map((c) => [c.approval.state, c.created]), [['pending', true]]);

  await assert.rejects(approvals.answer(run.id, 'a1111111111111111', { decision: 'allow' }, victor, null), (e: unknown) => e instanceof CcgError && e.code === 'ERR_FORBIDDEN');
  const [first, second] = await Promise.allSettled([
    approvals.answer(run.id, 'a1111111111111111', { decision: 'allow', always: true }, alice, '127.0.0.1'),
    approvals.answer(run.id, 'a1111111111111111', { decision: 'deny' }, bob, '127.0.0.1'),
  ]);
  assert.equal(first.status, 'fulfilled');
  assert.equal(second.status, 'rejected');
  assert.equal((second as PromiseRejectedResult).reason.code, 'ERR_APPROVAL_RESOLVED');
  assert.deepEqual(link.sent, [{ type: 'approval_decision', approvalId: 'a1111111111111111', decision: 'allow', always: true, message: null, by: 'alice' }]);

  // The runner reports how it answered Claude: resolved, and the run works again.
  await event({ type: 'approval_resolved', approvalId: 'a1111111111111111', decision: 'allow', always: true, message: null, by: 'alice', reason: 'operator' });
  await approvals.onEvents(run.id, []);
  assert.equal(approvals.get(run.id, 'a1111111111111111')!.state, 'resolved');
  assert.deepEqual(approvals.list(run.id), []);
  assert.equal(h.runs.get(run.id)!.status, 'running');
  assert.deepEqual(changes.map((c) => c.approval.state), ['pending', 'answered', 'resolved']);
  assert.ok(h.store.listAudit({ limit: 10 }).some((e) => e.action === 'approval.answer' && e.actor === 'alice'));
});

test('approvals: after a reconnect the runner syncs: answers are sent again, what it no longer waits for is closed; open ones close when the run ends', async (t) => {
  const { h, approvals, run, link, event } = await setup(t);
  await event({ type: 'approval_requested', ...info('b1111111111111111') });
  await event({ type: 'approval_requested', ...info('b2222222222222222') });
  await event({ type: 'approval_requested', ...info('b3333333333333333') });
  await approvals.onEvents(run.id, []);
  await approvals.answer(run.id, 'b1111111111111111', { decision: 'deny', message: 'no' }, alice, null);
  link.sent.length = 0;

  await event({ type: 'approvals_sync', pending: [info('b1111111111111111'), info('b2222222222222222')] });
  await approvals.onEvents(run.id, []);
  assert.deepEqual(link.sent.map((m) => m.type === 'approval_decision' && [m.approvalId, m.decision, m.message]), [['b1111111111111111', 'deny', 'no']], 'the answer went again');
  assert.equal(approvals.get(run.id, 'b3333333333333333')!.resolution?.reason, 'ended');
  assert.deepEqual(approvals.list(run.id).map((a) => a.approvalId), ['b1111111111111111', 'b2222222222222222']);

  await h.runs.recordExit(run.id, { code: 0, signal: null, lastSeq: 4 });
  await approvals.onEvents(run.id, []);
  assert.deepEqual(approvals.list(run.id), [], 'nothing stays open on a finished run');
  await assert.rejects(approvals.answer(run.id, 'b2222222222222222', { decision: 'allow' }, alice, null), (e: unknown) => e instanceof CcgError && e.code === 'ERR_APPROVAL_RESOLVED');
  // Restarting the service on the same store finds nothing open: it was all written down.
  const again = new ApprovalService({ store: h.store, audit: h.store, runs: h.runs, credits: h.credits, bus: h.bus, log: silentLogger, now: h.now });
  assert.deepEqual(again.list(run.id), []);
  assert.equal(again.list(run.id, { all: true }).length, 3);
});

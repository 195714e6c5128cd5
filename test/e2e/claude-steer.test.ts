import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { claudeRun } from '../helpers/claude-run.js';
import { runCli } from '../helpers/cli.js';
import { askStep, editStep, lastUserText, planStep, toolResults, writeStep } from '../helpers/model-api.js';
import { waitFor } from '../helpers/processes.js';

/**
 * Steering a real Claude Code 2.1.331 session from the CLI (and so the API and the core
 * operations behind every door): its questions, edit diffs, "allow all edits", its plan, its
 * permission mode and model, and stopping a turn. Each assertion checks what Claude sent the
 * model stand-in next, and what it did on disk.
 */

const QUESTIONS = [
  { question: 'Which colour?', header: 'Colour', options: [{ label: 'Red', description: 'warm' }, { label: 'Blue', description: 'cold' }] },
  { question: 'Which extras?', header: 'Extras', options: [{ label: 'Tests', description: 'add tests' }, { label: 'Docs', description: 'add docs' }, { label: 'Bench', description: 'benchmarks' }], multiSelect: true },
];

test('questions, edit diffs, allow all edits, mode, model, plan and stop-this-turn from the CLI, against the real claude', async (t) => {
  const c = await claudeRun(t, [askStep(QUESTIONS)], { prompt: 'set things up', args: ['--input-wait', '2m'] });
  const a = join(c.cwd, 'a.txt');
  writeFileSync(a, 'one\ntwo\nthree\n');
  c.api.script(writeStep(join(c.cwd, 'b.txt'), 'new file\nsecond line\n'), editStep(a, 'two', 'TWO'), editStep(a, 'three', 'THREE'), { text: 'All set.' });

  // 1. AskUserQuestion: the questions show as questions; the answer reaches Claude.
  const ask = await c.event('approval_requested', (e) => e.toolName === 'AskUserQuestion');
  assert.deepEqual(ask.questions?.map((q) => [q.question, q.multiSelect, q.options.map((o) => o.label)]), [
    ['Which colour?', false, ['Red', 'Blue']],
    ['Which extras?', true, ['Tests', 'Docs', 'Bench']],
  ]);
  const shown = await c.cli(['runs', 'answer', c.run.id]);
  assert.equal(shown.code, 2, 'without an answer it teaches');
  assert.match(shown.stdout, /1\. \[Colour\] Which colour\?\n {3}1\) Red — warm\n {3}2\) Blue — cold\n2\. \[Extras\] Which extras\? \(choose one or more\)/);
  // A viewer sees the questions and the session, and can answer or switch nothing.
  const viewer = { ...c.g.env, CCG_TOKEN: (await createApiToken(c.g.gw.store, { name: 'vic', role: 'viewer', userId: null, now: Date.now() })).token };
  assert.match((await runCli(['runs', 'approvals', c.run.id], viewer)).stdout, /Which colour\?/);
  assert.equal((await runCli(['runs', 'mode', c.run.id], viewer)).code, 0);
  for (const args of [['answer', c.run.id, '--choose', '1=Red'], ['mode', c.run.id, 'plan'], ['model', c.run.id, 'sonnet'], ['interrupt', c.run.id]]) {
    const r = await runCli(['runs', ...args], viewer);
    assert.match(r.stderr, /needs the operator role; you are viewer/, `${args[0]}: ${r.stderr}`);
    assert.equal(r.code, 77, "the exit code of ERR_FORBIDDEN");
  }
  const plainAllow = await c.cli(['runs', 'approve', c.run.id, ask.approvalId]);
  assert.notEqual(plainAllow.code, 0, 'a plain approve would tell Claude nobody answered');
  const wrong = await c.cli(['runs', 'answer', c.run.id, '--choose', '1=Green']);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /not an option of "Which colour\?"; the options are: 1\) Red, 2\) Blue/);
  const started = performance.now();
  const answered = await c.cli(['runs', 'answer', c.run.id, '--choose', '1=blue', '--choose', '2=Tests', '--choose', '2=3']);
  assert.equal(answered.code, 0, answered.stderr);
  const second = (await c.api.waitForRequests(2))[1]!;
  const answeredAt = performance.now();
  await c.event('approval_resolved', (e) => e.approvalId === ask.approvalId);
  const resolvedAt = c.seen.eventTimes[c.seen.events.findIndex((e) => e.type === 'approval_resolved' && e.approvalId === ask.approvalId)]!;
  t.diagnostic(`cli returned after ${(answeredAt - started).toFixed(1)} ms`);
  t.diagnostic(`AskUserQuestion round trip, \`ccg runs answer\` (in-process) → Claude's next model request: ${(second.receivedAt - started).toFixed(1)} ms (the operator saw approval_resolved after ${(resolvedAt - started).toFixed(1)} ms)`);
  assert.match(toolResults(second)[0]!, /"Which colour\?"="Blue", "Which extras\?"="Tests,Bench"/);
  const again = await c.cli(['runs', 'answer', c.run.id, ask.approvalId, '--choose', '1=Red']);
  assert.notEqual(again.code, 0, 'first answer wins');
  assert.match(again.stderr, /no open approval|already/);

  // 2. Write: the approval carries the diff of a new file; approving writes it.
  const write = await c.event('approval_requested', (e) => e.toolName === 'Write');
  assert.equal(write.diff?.path, 'b.txt');
  assert.equal(write.diff?.note, 'new file');
  assert.match(write.diff!.text, /^diff --git a\/b\.txt b\/b\.txt\n--- a\/b\.txt\n\+\+\+ b\/b\.txt\n@@ -0,0 \+1,2 @@\n\+new file\n\+second line/);
  const listed = await c.cli(['runs', 'approvals', c.run.id, '--color']);
  assert.match(listed.stdout, /\u001b\[32m\+new file\u001b\[0m/, 'added lines are green');
  assert.equal((await c.cli(['runs', 'approve', c.run.id, write.approvalId])).code, 0);
  await waitFor(() => (existsSync(join(c.cwd, 'b.txt')) ? true : undefined), 20_000, 'b.txt written');
  assert.equal(readFileSync(join(c.cwd, 'b.txt'), 'utf8'), 'new file\nsecond line\n');

  // 3. Edit: a unified diff against the file on disk; "always" is Claude's setMode suggestion: allow all edits this session.
  const edit = await c.event('approval_requested', (e) => e.toolName === 'Edit');
  assert.equal(edit.modeSuggestion, 'acceptEdits');
  assert.equal(edit.diff?.text, 'diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n');
  const always = await c.cli(['runs', 'approve', c.run.id, edit.approvalId, '--always']);
  assert.equal(always.code, 0, always.stderr);
  await c.event('claude_settings', (e) => e.permissionMode === 'acceptEdits');
  // The second edit needs no approval any more: acceptEdits.
  const result = await c.event('claude_result');
  assert.equal(readFileSync(a, 'utf8'), 'one\nTWO\nTHREE\n');
  assert.equal(c.seen.events.filter((e) => e.type === 'approval_requested' && e.toolName === 'Edit').length, 1, 'the second edit was not asked');
  assert.equal(result.isError, false);
  // The tool result shows Claude's structuredPatch.
  const patched = c.seen.events.find((e) => e.type === 'claude_tool_result' && e.toolUseId === edit.toolUseId);
  assert.ok(patched?.type === 'claude_tool_result' && patched.patch?.includes('-two\n+TWO'), JSON.stringify(patched));
  const mode = await c.cli(['runs', 'mode', c.run.id]);
  assert.match(mode.stdout, /mode: allow all edits \(acceptEdits\)/);
  assert.match((await c.cli(['runs', 'show', c.run.id])).stdout, /\nclaude {4}mode: allow all edits \(acceptEdits\) · model: claude-/);

  // 4. Mode and model, switched mid-session; the next request uses the new model.
  assert.equal((await c.cli(['runs', 'mode', c.run.id, 'bypassPermissions'])).code, 1, 'bypass needs the runner flag');
  assert.equal((await c.cli(['runs', 'mode', c.run.id, 'plan'])).code, 0);
  assert.equal((await c.event('claude_settings', (e) => e.permissionMode === 'plan')).by, 'operator.token (bootstrap)');
  assert.equal((await c.cli(['runs', 'model', c.run.id, 'sonnet'])).code, 0);
  const model = await c.event('claude_settings', (e) => e.model !== null && e.by !== null);
  assert.match(model.model!, /sonnet/);

  // 5. ExitPlanMode: the plan shows; approve and allow edits.
  c.api.script(planStep('# A first plan'), planStep('# The plan\n\n1. Rename the module\n2. Update the <b>imports</b>'), { text: 'Working on it.' });
  const k = c.api.requests.length;
  assert.equal((await c.cli(['runs', 'input', c.run.id, 'plan the refactor'])).code, 0);
  // Keep planning, with a message: Claude is told, and stays in plan mode.
  const first = await c.event('approval_requested', (e) => e.toolName === 'ExitPlanMode');
  assert.equal(first.plan, '# A first plan');
  assert.equal((await c.cli(['runs', 'plan', c.run.id, '--keep-planning', '--message', 'also cover the migration'])).code, 0);
  const back = (await c.api.waitForRequests(k + 2))[k + 1]!;
  assert.match(toolResults(back)[0]!, /Keep planning\. operator\.token \(bootstrap\) says: also cover the migration/);
  const n = c.api.requests.length - 1;
  const plan = await c.event('approval_requested', (e) => e.toolName === 'ExitPlanMode' && e.approvalId !== first.approvalId);
  assert.equal(c.api.requests[n]!.body.model, model.model, 'the new model is used');
  assert.equal(plan.plan, '# The plan\n\n1. Rename the module\n2. Update the <b>imports</b>');
  const printed = await c.cli(['runs', 'plan', c.run.id]);
  assert.equal(printed.code, 2);
  assert.match(printed.stdout, /# The plan\n\n1\. Rename the module/);
  assert.equal((await c.cli(['runs', 'plan', c.run.id, '--approve', '--allow-edits'])).code, 0);
  await c.event('claude_settings', (e) => e.permissionMode === 'acceptEdits' && c.seen.events.indexOf(e) > c.seen.events.indexOf(plan));
  const afterPlan = (await c.api.waitForRequests(n + 2))[n + 1]!;
  assert.match(JSON.stringify(afterPlan.body.messages), /User has approved exiting plan mode/);
  assert.match(JSON.stringify(afterPlan.body.messages?.at(-1)), /You have exited plan mode/);

  // 6. Stop this turn: the turn ends, the session waits for the next prompt.
  await waitFor(() => (c.seen.events.filter((e) => e.type === 'claude_result').length >= 2 ? true : undefined), 20_000, 'second result');
  c.api.script({ text: 'Thinking very slowly', stall: true }, { text: 'Back again.' });
  const m = c.api.requests.length;
  assert.equal((await c.cli(['runs', 'input', c.run.id, 'something long'])).code, 0);
  await c.api.waitForRequests(m + 1);
  const stop = await c.cli(['runs', 'interrupt', c.run.id]);
  assert.equal(stop.code, 0, stop.stderr);
  await waitFor(() => (c.seen.events.filter((e) => e.type === 'claude_result').length >= 3 ? true : undefined), 20_000, 'interrupted result');
  assert.equal(c.seen.events.filter((e) => e.type === 'claude_result').at(-1)?.type === 'claude_result' && (c.seen.events.filter((e) => e.type === 'claude_result').at(-1) as { subtype: string }).subtype, 'error_during_execution');
  await waitFor(() => (c.api.requests[m]!.aborted ? true : undefined), 10_000, 'the model request aborted');
  assert.equal((await c.cli(['runs', 'input', c.run.id, 'carry on'])).code, 0);
  const resumed = (await c.api.waitForRequests(m + 2))[m + 1]!;
  assert.equal(lastUserText(resumed), 'carry on');
  assert.equal(c.runner.child.exitCode, null, 'the session is still open');

  // Every answer is audited with who answered.
  const audit = c.g.gw.store.listAudit({ limit: 100 });
  for (const action of ['approval.answer', 'run.mode', 'run.model', 'run.interrupt']) assert.ok(audit.some((e) => e.action === action && e.actor === 'operator.token (bootstrap)'), action);
  assert.ok(audit.some((e) => e.action === 'approval.answer' && e.detail?.['kind'] === 'questions' && String(e.detail?.['answers']).includes('Which colour?=Blue')));
  assert.equal((await c.cli(['runs', 'cancel', c.run.id])).code, 0);
  await c.runner.exited;
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import { launchPhone, withShots } from '../helpers/browser.js';
import { runCli } from '../helpers/cli.js';
import { approvalInfo, fakeRunner } from '../helpers/fake-runner.js';
import { startGateway } from '../helpers/gateway.js';
import { addUsers, phoneLogin } from '../helpers/users.js';

interface Box { left: number; right: number; top: number; bottom: number }
// Evaluated in the page: the tests compile without DOM types.
const boxOf = (sel: string) => `(() => { const r = document.querySelector(${JSON.stringify(sel)}).getBoundingClientRect(); return { left: r.left, right: r.right, top: r.top, bottom: r.bottom }; })()`;

/**
 * What a thumb does on an approval card, in real chromium at 390×844: typing a reason and pressing
 * the keyboard's Go (Enter) sends the Deny or Keep planning it is written for (it submitted the
 * form's first button, Approve); a question's checkboxes sit beside their labels.
 */
test('phone: Enter in the message box denies the tool use and keeps the plan, never approves; checkboxes sit beside their options', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olivia', role: 'operator' }]);
  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'enter key', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = await fakeRunner(g, run.id, run.token, { mode: 'claude' });
  t.after(() => runner.close());
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page } = phone;
  await withShots(phone, 'answer-keys', async () => {
    await phoneLogin(page, g.url, 'olivia');
    await page.goto(`${g.url}/runs/${run.id}`);

    // ---- a tool use: the reason typed, then Go
    await runner.events({ type: 'approval_requested', ...approvalInfo('appr_enterkey_bash_001', { input: { command: 'rm -rf build && npm test' } }) });
    const bash = page.locator('#approval-appr_enterkey_bash_001');
    const reason = bash.getByLabel('Message for Claude (optional, sent with Deny)');
    await reason.fill('not on main, use a branch');
    await reason.press('Enter');
    const denied = await runner.next('approval_decision', (m) => m.approvalId === 'appr_enterkey_bash_001', 15_000);
    assert.equal(denied.decision, 'deny', 'Go in the message box sends Deny');
    assert.equal(denied.message, 'not on main, use a branch');

    // ---- a plan: what to change, then Go
    await runner.events({ type: 'approval_requested', ...approvalInfo('appr_enterkey_plan_001', { toolName: 'ExitPlanMode', displayName: null, input: {}, description: null, rule: null, plan: '# Plan\n\n1. Touch the migrations' }) });
    const plan = page.locator('#approval-appr_enterkey_plan_001');
    const change = plan.getByLabel('What should Claude change? (sent with Keep planning)');
    await change.fill('no, do not touch the migrations');
    await change.press('Enter');
    const kept = await runner.next('approval_decision', (m) => m.approvalId === 'appr_enterkey_plan_001', 15_000);
    assert.equal(kept.decision, 'deny', 'Go in the plan message box keeps planning');
    assert.match(kept.message ?? '', /no, do not touch the migrations/);

    // ---- several answers: each checkbox beside its own label
    const questions = [
      { question: 'What should the change cover?', header: 'Scope', multiSelect: true, options: [{ label: 'Tests / unit tests', description: 'the fast suite' }, { label: 'Docs', description: '' }] },
      { question: 'Which branch?', header: 'Branch', multiSelect: false, options: [{ label: 'main', description: '' }, { label: 'a new branch', description: '' }] },
    ];
    await runner.events({ type: 'approval_requested', ...approvalInfo('appr_enterkey_ask_0001', { toolName: 'AskUserQuestion', displayName: null, input: { questions }, description: null, rule: null, questions }) });
    const ask = page.locator('#approval-appr_enterkey_ask_0001');
    await ask.getByText('Docs', { exact: true }).waitFor();
    await phone.shot('answer-keys-questions');
    for (const [i, label] of ['Tests / unit tests', 'Docs'].entries()) {
      const input = (await page.evaluate(boxOf(`#approval-appr_enterkey_ask_0001 input[name="q0"][value="${i}"]`))) as Box;
      const text = (await ask.getByText(label, { exact: true }).boundingBox())!;
      assert.ok(input.right <= text.x + 2, `the box of "${label}" is left of its label (box ${input.left}–${input.right}, label at ${text.x})`);
      assert.ok(input.top < text.y + text.height && input.bottom > text.y, `the box of "${label}" is on its label's line`);
    }
  });
});

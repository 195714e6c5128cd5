import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MAX_DIFF } from '../../protocol/claude-steer.js';
import { launchPhone, realProblems, SCREENSHOT_DIR, withShots } from '../helpers/browser.js';
import { claudeRun } from '../helpers/claude-run.js';
import { startGateway } from '../helpers/gateway.js';
import { askStep, editStep, planStep, toolResults } from '../helpers/model-api.js';
import { waitFor } from '../helpers/processes.js';
import { addUsers, pageUser, phoneLogin } from '../helpers/users.js';

/**
 * Steering the real Claude Code from a phone (Chromium at 390×844): its question answered with a
 * tap, an edit's diff and "Allow all edits this session", the mode switched, its plan approved
 * with edits allowed, and "Stop this turn". Hostile text (markup, escapes, a 1 MB line) in an
 * option, a diff and a plan stays inert and bounded. The screenshots for docs/CLAUDE_CODE.md
 * (phone-claude-*.png) go to test-results/screenshots/.
 */

// The docs' screenshots (docs/screenshots/phone-claude-*.png) are copied from here by hand, so a test run never changes the checkout.
const DOCS_SHOTS = SCREENSHOT_DIR;
const HUGE = 'x'.repeat(1024 * 1024);

// Runs in the browser (the tests compile without DOM types).
declare const window: { __pwned?: boolean };

test('phone: answer a question with a tap, read an edit diff and allow all edits, switch the mode, approve a plan, stop a turn; hostile text stays inert', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olivia', role: 'operator' }, { name: 'vera', role: 'viewer' }]);
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page } = phone;
  await withShots(phone, 'steer', async () => {
    await phoneLogin(page, g.url, 'olivia');
    const c = await claudeRun(t, [
      askStep([{
        question: 'Which database should the cache use?',
        header: 'Cache',
        options: [
          { label: 'Redis', description: 'fast, one more service' },
          { label: '<img src=x onerror="window.__pwned=true">Postgres', description: `\u001b[31mred\u001b[0m \u001b]52;c;ZXZpbA==\u0007 ${HUGE}` },
        ],
      }]),
    ], { gateway: g, name: 'cache work', prompt: 'add a cache', args: ['--input-wait', '2m'] });
    t.after(async () => {
      await c.cli(['runs', 'cancel', c.run.id]);
      await c.runner.exited;
    });
    const file = join(c.cwd, 'cache.ts');
    writeFileSync(file, `export const ttl = 10;\n// ${HUGE}\n// <script>window.__pwned = true</script>\n`);
    c.api.script(editStep(file, 'ttl = 10', 'ttl = 60'), { text: 'Cache TTL raised.' });

    // ---- the question: options as buttons, a tap answers
    await page.goto(`${g.url}/runs/${c.run.id}`);
    const redis = page.getByRole('button', { name: /^Redis/ });
    await redis.waitFor({ timeout: 60_000 });
    await page.getByText('Which database should the cache use?').first().waitFor();
    const hostile = page.getByRole('button', { name: /Postgres/ });
    assert.match((await hostile.textContent()) ?? '', /<img src=x onerror="window.__pwned=true">Postgres/, 'the markup shows as text');
    assert.ok(((await hostile.textContent()) ?? '').length < 1400, 'a 1 MB description is cut');
    assert.doesNotMatch((await hostile.textContent()) ?? '', /\u001b/);
    await page.locator('#run-session').getByText('Mode:').waitFor();
    await phone.shot('steer-question');

    // A viewer sees the question, cannot answer it.
    const vera = await pageUser(g, 'vera');
    const seen = await vera.get(`/runs/${c.run.id}`);
    assert.match(seen.body, /Which database should the cache use\?/);
    assert.doesNotMatch(seen.body, /Send my answer/);
    const ask = await c.event('approval_requested', (e) => e.toolName === 'AskUserQuestion');
    const refused = await vera.submit(`/runs/${c.run.id}`, `/runs/${c.run.id}/approvals/${ask.approvalId}/answers`, { q0: '0' });
    assert.equal(refused.status, 403);

    await redis.click();
    const second = (await c.api.waitForRequests(2, 60_000))[1]!;
    assert.match(toolResults(second)[0]!, /"Which database should the cache use\?"="Redis"/);

    // ---- the edit: a coloured diff against the file on disk, bounded; "Allow all edits this session"
    const allowAll = page.getByRole('button', { name: 'Allow all edits this session' });
    await allowAll.waitFor({ timeout: 60_000 });
    const card = page.locator('.approval-card').first();
    await card.locator('.dl-del', { hasText: '-export const ttl = 10;' }).waitFor();
    await card.locator('.dl-add', { hasText: '+export const ttl = 60;' }).waitFor();
    assert.equal(await card.locator('script').count(), 0);
    // Lines are shown whole (wrapped; a cut hid the end of a long added line), the diff as far as
    // the runner's cap: the 1 MB line is not on the page whole, and the card says so.
    assert.ok(((await card.textContent()) ?? '').length < MAX_DIFF + 10_000, 'the 1 MB line is not on the page whole');
    await card.getByText('diff truncated').first().waitFor();
    await phone.shot('steer-edit-diff');
    await card.screenshot({ path: join(DOCS_SHOTS, 'phone-claude-edit-diff.png') });
    await allowAll.click();
    await page.locator('#run-session .session-mode', { hasText: 'allow all edits' }).waitFor({ timeout: 60_000 });
    await waitFor(() => (readFileSync(file, 'utf8').startsWith('export const ttl = 60;') ? true : undefined), 30_000, 'the edit on disk');
    await c.event('claude_result');
    // The tool result shows Claude's patch.
    await page.locator('#tl-list .tl-patch .dl-add', { hasText: '+export const ttl = 60;' }).waitFor();

    // ---- the mode: tap Plan only; the page follows Claude's confirmation
    await page.locator('#run-session').getByRole('button', { name: 'Plan only' }).click();
    await page.locator('#run-session .session-mode', { hasText: 'plan only' }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#run-session').getByRole('button', { name: 'Plan only' }).getAttribute('aria-pressed'), 'true');

    // ---- the plan: rendered markdown, inert markup; approve and allow edits
    c.api.script(planStep('# Cache plan\n\n1. Add **Redis** client\n2. <script>window.__pwned=true</script> wire it\n\n[docs](javascript:alert(1))'), { text: 'Implementing the plan.' });
    await page.getByLabel('Follow-up for Claude').fill('Plan the cache client.');
    await page.getByRole('button', { name: 'Send to Claude' }).click();
    const approveEdits = page.getByRole('button', { name: 'Approve and allow edits' });
    await approveEdits.waitFor({ timeout: 60_000 });
    const planCard = page.locator('.approval-card').first();
    await planCard.locator('.tl-plan h1', { hasText: 'Cache plan' }).waitFor();
    await planCard.locator('.tl-plan strong', { hasText: 'Redis' }).waitFor();
    assert.equal(await planCard.locator('script').count(), 0);
    assert.equal(await planCard.locator('a[href^="javascript:"]').count(), 0);
    await phone.shot('steer-plan');
    await planCard.screenshot({ path: join(DOCS_SHOTS, 'phone-claude-plan.png') });
    const n = c.api.requests.length;
    await approveEdits.click();
    const afterPlan = (await c.api.waitForRequests(n + 1, 60_000))[n]!;
    assert.match(JSON.stringify(afterPlan.body.messages), /User has approved exiting plan mode/);
    await page.locator('#run-session .session-mode', { hasText: 'allow all edits' }).waitFor({ timeout: 30_000 });

    // ---- Stop this turn: the turn ends, the session waits for the next message
    await waitFor(() => (c.seen.events.filter((e) => e.type === 'claude_result').length >= 2 ? true : undefined), 30_000, 'plan turn done');
    c.api.script({ text: 'Working on a very long answer', stall: true });
    const m = c.api.requests.length;
    await page.getByLabel('Follow-up for Claude').fill('Now write the whole thing.');
    await page.getByRole('button', { name: 'Send to Claude' }).click();
    await c.api.waitForRequests(m + 1, 60_000);
    await page.locator('#run-session').screenshot({ path: join(DOCS_SHOTS, 'phone-claude-session.png') });
    await page.locator('#run-session').getByRole('button', { name: 'Stop this turn' }).click();
    await page.getByText('Asked Claude to stop this turn').waitFor();
    await waitFor(() => (c.api.requests[m]!.aborted ? true : undefined), 30_000, 'the model request aborted');
    await c.event('claude_result', (e) => e.subtype === 'error_during_execution');
    assert.equal(c.runner.child.exitCode, null, 'the session stays open');

    // ---- the round trip of a plain question: tap → Claude's next model request
    for (let i = 0; i < 3; i++) {
      c.api.script(askStep([{ question: `Ship it (${i})?`, header: 'Ship', options: [{ label: 'Yes', description: 'ship' }, { label: 'No', description: 'wait' }] }]), { text: 'Noted.' });
      const k = c.api.requests.length;
      await page.getByLabel('Follow-up for Claude').fill(`Question ${i}, please.`);
      await page.getByRole('button', { name: 'Send to Claude' }).click();
      const yes = page.getByRole('button', { name: /^Yes/ });
      await yes.waitFor({ timeout: 60_000 });
      if (i === 0) await page.locator('.approval-card').first().screenshot({ path: join(DOCS_SHOTS, 'phone-claude-question.png') });
      const tapped = performance.now();
      await yes.click();
      const next = (await c.api.waitForRequests(k + 2, 60_000))[k + 1]!;
      t.diagnostic(`AskUserQuestion round trip, tap on an option → Claude's next model request: ${(next.receivedAt - tapped).toFixed(1)} ms`);
      assert.match(toolResults(next)[0]!, new RegExp(`"Ship it \\(${i}\\)\\?"="Yes"`));
      await c.event('claude_result', (e) => c.seen.events.filter((x) => x.type === 'claude_result').indexOf(e) === 3 + i);
    }

    const pwned = await page.evaluate(() => window.__pwned === true);
    assert.equal(pwned, false, 'no hostile markup ran');
    assert.deepEqual(realProblems(phone), []);
    const audit = g.gw.store.listAudit({ limit: 100 });
    for (const action of ['approval.answer', 'run.mode', 'run.interrupt']) assert.ok(audit.some((e) => e.action === action && e.actor === 'olivia'), action);
  });
});

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { launchPhone, realProblems, SCREENSHOT_DIR, withShots } from '../helpers/browser.js';
import { claudeRun } from '../helpers/claude-run.js';
import { startGateway } from '../helpers/gateway.js';
import { longReplyStep } from '../helpers/model-api.js';
import { waitFor } from '../helpers/processes.js';
import { addUsers, phoneLogin } from '../helpers/users.js';

/**
 * Live text with the real `claude` (--include-partial-messages) against the model stand-in: the
 * reply grows on the phone (real Chromium, 390×844) and in `ccg runs events --follow` while the
 * model is still writing it; the stored timeline holds the final message once.
 */

const SENTENCES = Array.from({ length: 36 }, (_, i) => `Sentence ${i + 1} of a long reply, written slowly.`);
const REPLY = SENTENCES.join(' ');

test('live text: the reply grows on the phone and in `runs events --follow` before it is complete; stored once, as the final message', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olivia', role: 'operator' }]);
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page } = phone;
  await withShots(phone, 'claude-live', async () => {
    await phoneLogin(page, g.url, 'olivia');
    const c = await claudeRun(t, [longReplyStep(REPLY, 36, 150)], { gateway: g, name: 'live text', prompt: 'write a long reply', args: ['--input-wait', '0'] });
    const followText = c.cli(['runs', 'events', c.run.id, '--follow']);
    const followJson = c.cli(['runs', 'events', c.run.id, '--follow', '--json', '--live']);
    await page.goto(`${g.url}/runs/${c.run.id}`);
    const tl = page.locator('#tl-list');
    const live = tl.locator('article.tl-live:not([hidden])');
    await live.getByText('Sentence 3 of a long reply').waitFor({ timeout: 60_000 });
    const early = (await live.innerText()).length;
    assert.ok(!c.seen.events.some((e) => e.type === 'claude_text'), 'the message is not complete yet: no claude_text stored');
    await live.getByText('Sentence 12 of a long reply').waitFor({ timeout: 30_000 });
    const later = (await live.innerText()).length;
    assert.ok(later > early, `the live entry grows (${early} → ${later} characters)`);
    assert.equal(await live.count(), 1, 'one growing entry, not one per piece');
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'phone-claude-live.png') });

    // The stored message replaces it.
    await tl.locator('article.tl-text:not(.tl-live)').getByText('Sentence 36 of a long reply').waitFor({ timeout: 30_000 });
    await waitFor(async () => ((await tl.locator('article.tl-live:not([hidden])').count()) === 0 ? true : undefined), 10_000, 'the live entry hidden');
    assert.equal((await c.runner.exited).code, 0, c.runner.stderr());
    const stored = await c.stored();
    const texts = stored.filter((e) => e.type === 'claude_text');
    assert.equal(texts.length, 1, 'the stored timeline has the message once');
    assert.ok(texts[0]!.type === 'claude_text' && texts[0]!.text === REPLY);
    assert.ok(!stored.some((e) => (e.type as string) === 'live_text'), 'live text is never stored');
    // A reload shows the stored message once and no live entry.
    await page.reload();
    await tl.getByText('Sentence 36 of a long reply').waitFor();
    assert.equal(await tl.locator('article.tl-live').count(), 0);
    assert.deepEqual(realProblems(phone), []);

    const text = await followText;
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout.split('◆ Claude: Sentence 1 of').length - 1, 1, `the reply is printed once:\n${text.stdout}`);
    assert.ok(text.stdout.includes(`◆ Claude: ${REPLY}\n`), 'complete, in the timeline format');
    const json = await followJson;
    assert.equal(json.code, 0, json.stderr);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; text?: string; offset?: number });
    const firstLive = lines.findIndex((l) => l.type === 'live_text');
    const textAt = lines.findIndex((l) => l.type === 'claude_text');
    assert.ok(firstLive !== -1 && firstLive < textAt, '--live: live_text lines come before the stored claude_text');
    const pieces = lines.filter((l) => l.type === 'live_text' && l.text);
    assert.ok(pieces.length >= 3, `several pieces (${pieces.length})`);
    assert.equal(pieces.map((p) => p.text).join(''), REPLY, 'the pieces add up to the reply');
  });
});

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
    const c = await claudeRun(t, [longReplyStep(REPLY, 36, 250)], { gateway: g, name: 'live text', prompt: 'write a long reply', args: ['--input-wait', '0'] });
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

test('hostile live text: markup, terminal escapes and a 1 MB reply render inert and bounded (phone, runs events --follow, the store)', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olivia', role: 'operator' }]);
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page } = phone;
  await phoneLogin(page, g.url, 'olivia');
  const head = 'Evil <script>window.pwned=1</script><img src=x onerror="window.pwned=2"> \u001b]52;c;cHduZWQ=\u0007\u001b[2J\u001b]0;title\u0007\u202eRTL ';
  // The page shows the end of a long live text: the hostile part recurs every ~2 KiB so that every window holds it.
  const REPLY_1MB = (head + 'A'.repeat(1900) + '\n\n').repeat(Math.ceil((1024 * 1024) / 2000));
  const c = await claudeRun(t, [longReplyStep(REPLY_1MB, 60, 200)], { gateway: g, name: 'hostile live', args: ['--input-wait', '0'] });
  const follow = c.cli(['runs', 'events', c.run.id, '--follow']);
  await page.goto(`${g.url}/runs/${c.run.id}`);
  const live = page.locator('#tl-list article.tl-live:not([hidden])');
  await live.getByText('Evil <script>').first().waitFor({ timeout: 60_000 });
  assert.equal(await page.locator('#tl-list script, #tl-list img').count(), 0, 'markup is text');
  assert.equal(await page.evaluate('window.pwned'), undefined, 'nothing ran');
  // Bounded: the page shows the end of the live text only (4 Ki characters), however long it grows.
  await live.getByText(/the last 4,096 of [\d,]+ characters/).waitFor({ timeout: 30_000 });
  assert.ok((await live.innerText()).length < 5000, 'the live entry is capped');
  assert.equal((await c.runner.exited).code, 0, c.runner.stderr());
  const stored = (await c.stored()).filter((e) => e.type === 'claude_text');
  assert.equal(stored.length, 1);
  assert.ok(stored[0]!.type === 'claude_text' && stored[0]!.truncated && stored[0]!.text.length === 64 * 1024, 'the stored message is capped too');
  const out = await follow;
  assert.equal(out.code, 0, out.stderr);
  assert.ok(!/[\u001b\u0007\u009b\u202e]/.test(out.stdout), 'no escape, bell or bidi control reaches the terminal');
  assert.ok(out.stdout.length < 200_000, `the terminal output is bounded (${out.stdout.length} characters)`);
  assert.match(out.stdout, /◆ Claude: Evil <script>window\.pwned=1<\/script><img src=x onerror="window\.pwned=2"> (\uFFFD)?/);
  assert.deepEqual(realProblems(phone), []);
});

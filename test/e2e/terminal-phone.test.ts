import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { launchPhone, realProblems, withShots, type Phone } from '../helpers/browser.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { ptyRun, waitScreen } from '../helpers/terminal.js';
import { addUsers, pageUser, phoneLogin } from '../helpers/users.js';

const lessScreen = (top: number, rows: number) => Array.from({ length: rows - 1 }, (_, i) => `line ${String(top + i).padStart(3, '0')} of the known file`);

test('phone terminal: less through a pty run renders its known screen; the operator takes control, scrolls with the key bar and quits; a viewer only watches', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olive', role: 'operator' }, { name: 'vera', role: 'viewer' }]);
  const cwd = tempDir('ccg-less-');
  writeFileSync(join(cwd, 'numbers.txt'), Array.from({ length: 200 }, (_, i) => `line ${String(i + 1).padStart(3, '0')} of the known file\n`).join(''));
  const { run, runner } = await ptyRun(t, g, ['less', 'numbers.txt'], { cwd, env: { LESSHISTFILE: '-', LESS: '' } });

  const phone: Phone = await launchPhone();
  t.after(() => phone.close());
  const page = phone.page;
  await withShots(phone, 'terminal-less', async () => {
    await phoneLogin(page, g.url, 'olive');
    await page.goto(`${g.url}/runs/${run.id}`);
    // 60x20 as the runner started it: 19 lines of the file and less's prompt.
    let rows = await waitScreen(page, (r) => r.length === 20 && r[0] === lessScreen(1, 20)[0], 'less on the rendered screen');
    assert.deepEqual(rows.slice(0, 19), lessScreen(1, 20));
    assert.match(rows[19]!, /^numbers\.txt|^:/);
    assert.match((await page.locator('#term-control').textContent()) ?? '', /Nobody has control/);

    // Take control: the terminal takes this phone's size and less redraws for it.
    await page.getByRole('button', { name: 'Take control' }).click();
    await waitFor(async () => ((await page.locator('#term-control').textContent())?.startsWith('You have control') ? true : undefined), 15_000, 'control');
    const size = await page.evaluate(() => ({ cols: (window as unknown as { ccgTerminal: { cols: number; rows: number } }).ccgTerminal.cols, rows: (window as unknown as { ccgTerminal: { rows: number } }).ccgTerminal.rows }));
    assert.ok(size.cols < 60 && size.rows > 20, `a phone-sized terminal, got ${size.cols}x${size.rows}`);
    rows = await waitScreen(page, (r) => r.length === size.rows && r[size.rows - 2] === lessScreen(1, size.rows).at(-1), 'less redrawn at the phone size');
    assert.deepEqual(rows.slice(0, size.rows - 1), lessScreen(1, size.rows).map((l) => l.slice(0, size.cols)));

    // The key bar: ↓ scrolls one line (less runs the cursor keys in application mode).
    await page.getByRole('button', { name: 'Down' }).click();
    rows = await waitScreen(page, (r) => r[0] === 'line 002 of the known file'.slice(0, size.cols), 'one line down');
    assert.deepEqual(rows.slice(0, size.rows - 1), lessScreen(2, size.rows).map((l) => l.slice(0, size.cols)));
    await phone.shot('terminal-less');

    // The plain-text view is the same screen as text.
    await page.getByRole('button', { name: 'Plain text' }).click();
    await waitFor(async () => ((await page.locator('#term-text').textContent())?.includes('line 002 of the known file') ? true : undefined), 10_000, 'the plain text view');

    // A viewer sees the terminal but no key bar, and the gateway refuses keys from them.
    const vera = await pageUser(g, 'vera');
    const seen = await vera.get(`/runs/${run.id}`);
    assert.equal(seen.status, 200);
    assert.ok(seen.body.includes('id="terminal"') && !seen.body.includes('id="term-keys"'));
    assert.equal((await vera.post(`/runs/${run.id}/term/keys`, { data: 'q' })).status, 403);
    assert.equal((await vera.post(`/runs/${run.id}/term/size`, { cols: '20', rows: '10' })).status, 403);

    // The phone's own keyboard types into it: q quits less, the run ends.
    await page.locator('#term-screen').click();
    await page.keyboard.type('q');
    const { code } = await runner.exited;
    assert.equal(code, 0, runner.stderr());
    await waitFor(async () => ((await page.locator('#term-state').textContent()) === 'ended' ? true : undefined), 15_000, 'the terminal stream ended');
    assert.deepEqual(realProblems(phone), []);
  });
});

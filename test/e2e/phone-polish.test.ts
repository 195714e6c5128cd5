import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { launchPhone, realProblems, withShots } from '../helpers/browser.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { CCG_BIN, spawnCcg, waitFor } from '../helpers/processes.js';
import { addUsers, phoneLogin } from '../helpers/users.js';
import { totpCodeAt } from '../../server/auth/totp.js';

/**
 * The phone's rough edges (issue 12, "Phone"), in real chromium at 390×844 with a real gateway and
 * real runner processes: the run page scrolls like any phone page and keeps "Jump to live" in
 * sight; commands list the newest run first, describe parameters in words and show the runner's
 * own refusal; "Run created" prints the whole command for a prompt or a command of the person's
 * choice (and that command runs); the TOTP key is whole and copies; setup errors render `code`.
 */

interface Rect { top: number; bottom: number; left: number; right: number; height: number; width: number }
// Strings evaluated in the page: the tests compile without DOM types.
const rectOf = (sel: string) => `(() => { const r = document.querySelector(${JSON.stringify(sel)}).getBoundingClientRect(); return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height, width: r.width }; })()`;
const clipOf = (sel: string) => `(() => { const el = document.querySelector(${JSON.stringify(sel)}); return { x: el.scrollWidth - el.clientWidth, y: el.scrollHeight - el.clientHeight }; })()`;

test('phone, run page: a drag over the output box at its end scrolls the page; "Jump to live" stays inside the box, on screen; commands: newest first, parameters in words, the runner\'s own refusal', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olivia', role: 'operator' }]);
  const { run, token } = await g.gw.runs.create('long output', 'admin');
  const aside = tempDir('ccg-polish-');
  const allowlist = join(aside, 'allowlist.json');
  writeFileSync(allowlist, JSON.stringify({ commands: [{ name: 'greet', argv: ['echo', 'hello', '{who}'], params: { who: { pattern: '[a-z]{1,12}' } }, description: 'Say hello' }] }));
  const stop = join(aside, 'stop');
  const child = `i=0; while [ $i -lt 300 ]; do echo "line $i of the build"; i=$((i+1)); done; j=0; while [ ! -f ${stop} ] && [ $j -lt 1200 ]; do sleep 0.1; j=$((j+1)); done`;
  const runner = spawnCcg(['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', tempDir(), '--quiet', '--no-collect', '--spool-dir', tempDir(), '--allow', 'first=echo first-run', '--allowlist', allowlist, '--', 'sh', '-c', child], { CCG_RUN_TOKEN: token });
  t.after(() => void (runner.child.exitCode === null && runner.child.kill('SIGKILL')));
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page } = phone;
  await withShots(phone, 'polish-run', async () => {
    await phoneLogin(page, g.url, 'olivia');
    await page.goto(`${g.url}/runs/${run.id}`);
    const output = page.locator('#output');
    await output.getByText('line 299 of the build').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Run first' }).waitFor();
    const box = (await page.evaluate(rectOf('#output'))) as Rect;
    t.diagnostic(`output box: ${Math.round(box.height)} px of an 844 px screen, top at ${Math.round(box.top)}`);
    assert.ok(box.height <= 844 * 0.5, `the output box leaves room to scroll the page (${box.height} px)`);
    const scroll = () => page.evaluate(`(() => { const el = document.getElementById('output'); return { gap: el.scrollHeight - el.scrollTop - el.clientHeight, page: window.scrollY }; })()`) as Promise<{ gap: number; page: number }>;
    await waitFor(async () => ((await scroll()).gap < 40 ? true : undefined), 5000, 'the output follows its end');
    assert.equal((await scroll()).page, 0);

    // ---- a thumb drag that starts on the box, which is at its end: the page scrolls on
    // Raw touch events, as a finger sends them (CDP's synthesized gestures do not scroll here).
    const cdp = await page.context().newCDPSession(page);
    const drag = async (x: number, from: number, to: number) => {
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x, y: from }] });
      for (let i = 1; i <= 20; i++) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x, y: from + ((to - from) * i) / 20 }] });
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
    };
    const x = Math.round(box.left + box.width / 2);
    const y = Math.round(box.top + box.height * 0.75);
    await drag(x, y, y - 250);
    // The page moves as the finger does (a trapped drag leaves it at 0 however long one waits).
    const moved = await waitFor(async () => {
      const s = await scroll();
      return s.page > 0 ? s.page : undefined;
    }, 3000, 'the page to move').catch(() => 0);
    t.diagnostic(`page scrolled by a 250 px drag over the output box: ${moved} px`);
    assert.ok(moved > 100, `the drag over the box moved the page (${moved} px)`);
    assert.ok((await scroll()).gap < 40, 'the box stayed at its end');
    // More drags, each starting over the box, reach Commands.
    for (let i = 0; i < 4; i++) {
      const h = (await page.evaluate(rectOf('#cmd-h'))) as Rect;
      if (h.top >= 0 && h.bottom <= 844) break;
      const b = (await page.evaluate(rectOf('#output'))) as Rect;
      const start = Math.round(Math.max(b.top, 0) + (Math.min(b.bottom, 844) - Math.max(b.top, 0)) / 2);
      assert.ok(start > b.top && start < b.bottom, 'the drag starts over the box');
      const before = (await scroll()).page;
      await drag(x, start, start - 250);
      await waitFor(async () => ((await scroll()).page > before ? true : undefined), 3000, 'the page to move again');
    }
    const cmdH = (await page.evaluate(rectOf('#cmd-h'))) as Rect;
    assert.ok(cmdH.top >= 0 && cmdH.bottom <= 844, `Commands reached by dragging over the output (heading at ${cmdH.top})`);
    await phone.shot('polish-run-dragged');

    // ---- scrolled up inside the box: "Jump to live" shows inside it, on screen
    await page.evaluate('window.scrollTo(0, 0)');
    await page.evaluate(`document.getElementById('output').scrollTo({ top: 0 })`);
    const jump = page.getByRole('button', { name: 'Jump to live' });
    await jump.waitFor();
    const j = (await page.evaluate(rectOf('#jump'))) as Rect;
    const o = (await page.evaluate(rectOf('#output'))) as Rect;
    assert.ok(j.top >= o.top && j.bottom <= o.bottom && j.left >= o.left && j.right <= o.right, `the button is inside the output box (${JSON.stringify({ j, o })})`);
    assert.ok(j.bottom <= 844, 'the button is on screen');
    await phone.shot('polish-run-jump');
    await jump.click();
    await waitFor(async () => ((await scroll()).gap < 40 ? true : undefined), 5000, 'back at the live end');
    assert.equal(await jump.isVisible(), false);

    // ---- commands: the pattern in words; a bad value goes to the runner, which says why
    const who = page.getByLabel('who');
    assert.equal(await who.getAttribute('pattern'), null, 'no browser-side pattern refusal');
    await page.getByText('1 to 12 lowercase letters.').waitFor();
    await page.locator('#run-commands details.pattern summary', { hasText: 'Pattern' }).click();
    await page.locator('#run-commands details.pattern code', { hasText: '[a-z]{1,12}' }).waitFor();
    await page.getByRole('button', { name: 'Run first' }).click();
    const runs = page.locator('#cmd-runs');
    await runs.locator('.cmd-head', { hasText: /first: exited 0/ }).waitFor();
    await who.fill('Bob');
    await page.getByRole('button', { name: 'Run greet' }).click();
    await runs.locator('.cmd-head', { hasText: /refused by the runner/ }).waitFor();
    const heads = async () => (await runs.locator('.cmd-head').allTextContents()).map((s) => s.trim());
    let order = await heads();
    assert.match(order[0]!, /greet: refused by the runner: who: "Bob" does not match/, 'the newest run first, with the runner\'s message');
    assert.match(order[1]!, /first: exited 0/);
    await who.fill('bob');
    await page.getByRole('button', { name: 'Run greet' }).click();
    await runs.locator('.cmd-head', { hasText: /greet who=bob: exited 0/ }).waitFor();
    order = await heads();
    assert.equal(order.length, 3);
    assert.match(order[0]!, /greet who=bob: exited 0/);
    await page.locator('#run-commands').scrollIntoViewIfNeeded();
    await phone.shot('polish-commands');
    // The page as served (no live merging) has the same order.
    await page.reload();
    await runs.locator('.cmd-head').first().waitFor();
    assert.deepEqual(await heads(), order);

    writeFileSync(stop, '');
    assert.equal((await runner.exited).code, 0, runner.stderr());
    assert.deepEqual(realProblems(phone), [], 'no script errors, CSP violations or dialogs');
  });
});

test('phone, first hour: a setup error renders its `code`; the TOTP key is whole and copies; "Run created" prints the whole command for a prompt or a command, and the printed command runs', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page, context } = phone;
  await withShots(phone, 'polish-first-hour', async () => {
    // ---- setup error: backticks become <code>
    await page.goto(`${g.url}/setup`);
    await page.getByLabel('Setup code').fill('WRNG-WRNG-WRNG');
    await page.getByLabel('Admin username').fill('admin');
    await page.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await page.getByLabel('Password again').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create admin account' }).click();
    const err = page.locator('#setup-error');
    await err.waitFor();
    assert.ok(!(await err.textContent())!.includes('`'), 'no raw backticks');
    assert.equal(await err.locator('code', { hasText: 'ccg serve' }).count(), 1);
    await phone.shot('polish-setup-error');

    await addUsers(g, [{ name: 'olivia', role: 'operator' }]);
    await phoneLogin(page, g.url, 'olivia');

    // ---- TOTP: the whole key, wrapped, and a Copy button that copies it
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: g.url });
    await page.goto(`${g.url}/settings`);
    await page.getByRole('button', { name: 'Set up two-factor login' }).click();
    const keyEl = page.getByLabel('Setup key');
    const shown = (await keyEl.textContent())!.trim();
    const key = shown.replace(/\s/g, '');
    assert.equal(key.length, 32, `the whole key (${shown})`);
    assert.deepEqual(await page.evaluate(clipOf('#totp-key')), { x: 0, y: 0 }, 'nothing of the key is clipped');
    const kr = (await page.evaluate(rectOf('#totp-key'))) as Rect;
    assert.ok(kr.left >= 0 && kr.right <= 390, `the key fits the screen (${kr.left}..${kr.right})`);
    await keyEl.scrollIntoViewIfNeeded();
    await phone.shot('polish-totp-key');
    await page.getByRole('button', { name: 'Copy the key' }).click();
    const copied = (await page.evaluate('navigator.clipboard.readText()')) as string;
    assert.equal(copied.replace(/\s/g, ''), key);
    await page.getByLabel('Code from the app').fill(totpCodeAt(key, Date.now()));
    await page.getByRole('button', { name: 'Confirm and turn on' }).click();
    await page.getByRole('heading', { name: 'Two-factor login is on' }).waitFor();

    // ---- Run created: a prompt, then a command; the printed command whole and current
    await page.goto(`${g.url}/runs/new`);
    await page.getByRole('button', { name: 'Create run' }).click();
    await page.getByRole('heading', { name: 'Run created' }).waitFor();
    const cmd = page.getByLabel('Runner command');
    const text = async () => (await cmd.textContent())!;
    assert.match(await text(), / --cmd 'your prompt'$/);
    assert.doesNotMatch(await page.content(), /-- COMMAND/, 'no hint that gets the command refused');
    await page.getByLabel('Prompt for Claude Code').fill('fix the flaky test in test/io.test.js, then run npm test');
    await waitFor(async () => ((await text()).endsWith(`--cmd 'fix the flaky test in test/io.test.js, then run npm test'`) ? true : undefined), 10_000, 'the prompt in the command');
    assert.deepEqual(await page.evaluate(clipOf('#cmd')), { x: 0, y: 0 }, 'the whole command shows, prompt included');
    const cr = (await page.evaluate(rectOf('#cmd'))) as Rect;
    assert.ok(cr.right <= 390, 'the command box fits the screen');
    await page.locator('#cmd').scrollIntoViewIfNeeded();
    await phone.shot('polish-run-created-prompt');
    // Typing a command picks "A command instead".
    await page.getByLabel('Command to run').fill('echo hello from the phone && echo second');
    await waitFor(async () => ((await text()).endsWith(`-- sh -c 'echo hello from the phone && echo second'`) ? true : undefined), 10_000, 'the command in the command');
    assert.doesNotMatch(await text(), /--cmd/);
    assert.equal(await page.getByLabel('A command instead').isChecked(), true);
    await page.getByRole('img', { name: 'QR code of the runner command above' }).waitFor();
    await phone.shot('polish-run-created-command');

    // The printed command, pasted into a shell (with `ccg` on its PATH), runs the command.
    const printed = await text();
    const bin = tempDir('ccg-bin-');
    writeFileSync(join(bin, 'ccg'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CCG_BIN)} "$@"\n`);
    chmodSync(join(bin, 'ccg'), 0o755);
    const sh = spawn('sh', ['-c', printed.replace(' -- ', ` --quiet --no-collect --spool-dir ${tempDir()} -- `)], { env: { PATH: `${bin}:${process.env['PATH']}`, HOME: process.env['HOME'] }, stdio: ['ignore', 'pipe', 'pipe'] });
    const errs: Buffer[] = [];
    sh.stderr.on('data', (d: Buffer) => errs.push(d));
    const code = await new Promise<number | null>((resolve) => sh.on('close', resolve));
    assert.equal(code, 0, Buffer.concat(errs).toString());
    const runId = /--run-id ([a-z0-9]{12})/.exec(printed)![1]!;
    await page.getByRole('link', { name: 'Open the run' }).click();
    await page.locator('#output').getByText('hello from the phone').waitFor();
    await page.locator('#output').getByText('second').waitFor();
    assert.equal(g.gw.runs.summary(g.gw.runs.mustGet(runId)).status, 'exited');
    assert.deepEqual(realProblems(phone), [], 'no script errors, CSP violations or dialogs');
  });
});

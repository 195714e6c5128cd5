import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { claudeBinary, claudeEnv, trustForInteractive } from '../helpers/claude.js';
import { runCli } from '../helpers/cli.js';
import { startModelApi } from '../helpers/model-api.js';
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
    // The new size comes back through the stream (the runner's pty_resized), after the answer to the click.
    const size = await waitFor(async () => {
      const sz = await page.evaluate(() => ({ cols: (window as unknown as { ccgTerminal: { cols: number; rows: number } }).ccgTerminal.cols, rows: (window as unknown as { ccgTerminal: { rows: number } }).ccgTerminal.rows }));
      return sz.cols !== 60 ? sz : undefined;
    }, 15_000, 'the phone size on the terminal');
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

/** Hostile terminal output: clipboard write, title changes, a link, huge cursor moves and repeats, then 10 MB without a newline. */
const HOSTILE = `const w=(s)=>process.stdout.write(s);
w('\\x1b]52;c;'+Buffer.from('pwned by the runner').toString('base64')+'\\x07');
w('\\x1b]0;HACKED TITLE\\x07\\x1b]2;HACKED TITLE\\x1b\\\\');
w('\\x1b[999999999;999999999H\\x1b[99999999A\\x1b[99999999C');
w('x\\x1b[999999999b\\r\\n');
const block='A'.repeat(1024*1024);let n=0;
(function more(){ if(n++<10){ if(process.stdout.write(block)) setImmediate(more); else process.stdout.once('drain',more); } else { w('\\r\\n\\x1b]8;;javascript:alert(1)\\x07click me\\x1b]8;;\\x07 END-OF-HOSTILE\\r\\n'); setTimeout(()=>{},1500); } })();`;

test('phone terminal: hostile bytes (OSC 52, title changes, links, huge cursor moves, 10 MB without a newline) never reach the page and never freeze it', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olive', role: 'operator' }]);
  const phone: Phone = await launchPhone();
  t.after(() => phone.close());
  const page = phone.page;
  await phone.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: g.url });
  await withShots(phone, 'terminal-hostile', async () => {
    await phoneLogin(page, g.url, 'olive');
    // The runner waits for Enter, so the page is open (and measuring) before the bytes come.
    const { run, runner } = await ptyRun(t, g, ['sh', '-c', `read go; exec node -e "$0"`, HOSTILE], { size: '80x24' });
    await page.goto(`${g.url}/runs/${run.id}`);
    await page.locator('#terminal .xterm').waitFor();
    const title = await page.title();
    await page.evaluate(async () => {
      await navigator.clipboard.writeText('clipboard before');
      const w = window as unknown as { maxGap: number };
      w.maxGap = 0;
      let last = performance.now();
      setInterval(() => {
        const now = performance.now();
        w.maxGap = Math.max(w.maxGap, now - last);
        last = now;
      }, 20);
    });
    await page.getByRole('button', { name: 'Take control' }).click();
    await waitFor(async () => ((await page.locator('#term-control').textContent())?.startsWith('You have control') ? true : undefined), 15_000, 'control');
    await page.getByRole('button', { name: 'Enter' }).click();
    const started = Date.now();
    await waitScreen(page, (rows) => rows.some((r) => r.includes('END-OF-HOSTILE')), 'the marker after 10 MB', 120_000);
    const maxGap = await page.evaluate(() => (window as unknown as { maxGap: number }).maxGap);
    t.diagnostic(`10 MB on the page in ${Date.now() - started} ms; the page's longest stall: ${maxGap.toFixed(0)} ms`);
    assert.ok(maxGap < 3000, `the page stalled for ${maxGap} ms`);
    assert.equal(await page.title(), title, 'the title is the page\'s own');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'clipboard before', 'OSC 52 did not write the clipboard');
    // The page still answers at once.
    await page.getByRole('button', { name: 'Plain text' }).click();
    await waitFor(async () => ((await page.locator('#term-text').textContent())?.includes('END-OF-HOSTILE') ? true : undefined), 15_000, 'the plain text view');
    await page.locator('#term-screen').getByText('click me').click({ force: true });
    assert.equal(await page.url(), `${g.url}/runs/${run.id}`);
    assert.deepEqual(realProblems(phone), []);
    assert.equal((await runner.exited).code, 0, runner.stderr());
  });
});

/** A webhook stand-in on loopback that records what it is sent. */
async function startWebhook(): Promise<{ url: string; got: string[]; close(): Promise<void> }> {
  const got: string[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      got.push(Buffer.concat(parts).toString('utf8'));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('phone terminal: interactive claude in a pty asks for permission on its own screen; the run shows "waiting for you" and a notification goes out (its Notification hook); the operator reads the prompt on the phone, approves with the key bar, and the tool runs on disk', async (t) => {
  const hook = await startWebhook();
  t.after(() => hook.close());
  const g = await startGateway({ notifyUrl: hook.url });
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olive', role: 'operator' }]);
  const api = await startModelApi([
    { text: 'I will create the file.', tools: [{ name: 'Bash', input: { command: 'touch made-from-phone.txt', description: 'Create made-from-phone.txt' } }] },
    { text: 'Created it from the phone.' },
  ]);
  t.after(() => api.close());
  const cwd = tempDir('ccg-pty-claude-');
  const env = claudeEnv(api.url);
  trustForInteractive(env, cwd);
  const { run, runner } = await ptyRun(t, g, [], { size: '100x30', cwd, env, args: ['--grace', '2s', '--claude-bin', claudeBinary(), '--claude-arg=--permission-mode', '--claude-arg=default', '--cmd', 'make the file'] });

  const phone: Phone = await launchPhone();
  t.after(() => phone.close());
  const page = phone.page;
  await withShots(phone, 'terminal-claude', async () => {
    await phoneLogin(page, g.url, 'olive');
    await page.goto(`${g.url}/runs/${run.id}`);
    await page.getByRole('button', { name: 'Take control' }).click();
    await waitFor(async () => ((await page.locator('#term-control').textContent())?.startsWith('You have control') ? true : undefined), 15_000, 'control');
    const squash = (rows: string[]) => rows.join('\n').replace(/\s+/g, '');
    // Claude's own permission prompt, read off the rendered screen (not scraped by ccg: shown).
    const rows = await waitScreen(page, (r) => /Doyouwanttoproceed\?/.test(squash(r)) && /1\.Yes/.test(squash(r)), 'the permission prompt on the phone', 90_000);
    assert.ok(rows.some((r) => r.includes('touch made-from-phone.txt')), rows.join('\n'));
    assert.ok(!existsSync(join(cwd, 'made-from-phone.txt')));
    await phone.shot('terminal-claude-prompt');
    // Claude's Notification hook (installed by the runner for this run) said it waits for the person.
    const status = () => g.gw.runs.summary(g.gw.runs.mustGet(run.id)).status;
    await waitFor(() => (status() === 'waiting' ? true : undefined), 30_000, 'the run waiting for the person');
    await page.locator('#run-status').getByText('waiting for you').waitFor();
    const note = await waitFor(() => hook.got.find((b) => b.includes('Claude is waiting for you')), 30_000, 'the notification');
    assert.match(note, /permission/i);
    // Option 1 ("Yes") is selected: Enter on the key bar approves it.
    await page.getByRole('button', { name: 'Enter' }).click();
    await waitFor(() => (existsSync(join(cwd, 'made-from-phone.txt')) ? true : undefined), 60_000, 'the tool ran on disk');
    await waitFor(() => (status() === 'running' ? true : undefined), 30_000, 'no longer waiting once keys reached Claude');
    await waitScreen(page, (r) => squash(r).includes('Createditfromthephone.'), 'Claude\'s answer after the tool', 60_000);
    assert.deepEqual(realProblems(phone), []);
  });
  assert.equal((await runCli(['runs', 'cancel', run.id], g.env)).code, 0);
  await runner.exited;
});

test('phone terminal: scrollback by touch, and Copy takes the screen and scrollback as text', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olive', role: 'operator' }]);
  const phone: Phone = await launchPhone();
  t.after(() => phone.close());
  const page = phone.page;
  await phone.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: g.url });
  await withShots(phone, 'terminal-touch', async () => {
    await phoneLogin(page, g.url, 'olive');
    const { run } = await ptyRun(t, g, ['sh', '-c', 'read go; i=1; while [ $i -le 200 ]; do printf "row %03d\\r\\n" $i; i=$((i+1)); done; read stop'], { size: '60x20' });
    await page.goto(`${g.url}/runs/${run.id}`);
    await page.getByRole('button', { name: 'Take control' }).click();
    await waitFor(async () => ((await page.locator('#term-control').textContent())?.startsWith('You have control') ? true : undefined), 15_000, 'control');
    await page.getByRole('button', { name: 'Enter' }).click();
    await waitScreen(page, (rows) => rows.includes('row 200'), 'the 200 rows');
    const view = () => page.evaluate(() => {
      const b = (window as unknown as { ccgTerminal: { buffer: { active: { viewportY: number; baseY: number } } } }).ccgTerminal.buffer.active;
      return { viewportY: b.viewportY, baseY: b.baseY };
    });
    assert.ok((await view()).baseY > 100);
    assert.equal((await view()).viewportY, (await view()).baseY);
    // A finger dragged down the terminal scrolls back.
    await page.evaluate(() => {
      const el = document.getElementById('term-stage')!;
      const r = el.getBoundingClientRect();
      const at = (y: number) => new Touch({ identifier: 1, target: el, clientX: r.x + 40, clientY: y });
      el.dispatchEvent(new TouchEvent('touchstart', { touches: [at(r.y + 20)], bubbles: true, cancelable: true }));
      for (let i = 1; i <= 10; i++) el.dispatchEvent(new TouchEvent('touchmove', { touches: [at(r.y + 20 + i * 30)], bubbles: true, cancelable: true }));
      el.dispatchEvent(new TouchEvent('touchend', { touches: [], bubbles: true }));
    });
    const after = await view();
    assert.ok(after.viewportY < after.baseY - 5, `scrolled back: ${JSON.stringify(after)}`);
    await page.getByRole('button', { name: 'Copy' }).click();
    const copied = await waitFor(async () => {
      const text = await page.evaluate(() => navigator.clipboard.readText());
      return text.includes('row 001') ? text : undefined;
    }, 10_000, 'the copied text');
    assert.ok(copied.includes('row 200'));
    assert.deepEqual(realProblems(phone), []);
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { totpCodeAt } from '../../server/auth/totp.js';
import { launchPhone } from '../helpers/browser.js';
import { fetchJson } from '../helpers/page-client.js';
import { tempDir } from '../helpers/gateway.js';
import { spawnCcg, waitFor, type Proc } from '../helpers/processes.js';
import { freePort, startServe } from '../helpers/serve.js';

const TICK = fileURLToPath(new URL('../../../test/fixtures/tick-lines.mjs', import.meta.url));
const DEMO = fileURLToPath(new URL('../../../test/fixtures/demo-output.mjs', import.meta.url));
const PW = 'correct horse battery';

/** The stored output of a run, byte for byte, from the API. */
function storedLog(url: string, fingerprint: string, token: string, runId: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(new URL(`/api/v1/runs/${runId}/log`, url), { agent: new PinnedAgent(fingerprint), headers: { authorization: `Bearer ${token}` } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
      })
      .on('error', reject);
  });
}

const stripAnsi = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

test('phone, end to end: setup → TOTP → sign out → sign in with TOTP → new run → a real runner streams live, is killed and restarted, the gateway restarts → the page has every line once', async (t) => {
  const dataDir = tempDir();
  const port = await freePort();
  // The gateway is a real `ccg serve` process: the test kills it with SIGKILL under the open page.
  let gw = await startServe(dataDir, port);
  t.after(() => gw.proc.child.kill('SIGKILL'));
  const { url, fingerprint } = gw;
  const operatorToken = readFileSync(join(dataDir, 'operator.token'), 'utf8').trim();
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page } = phone;
  const runners: Proc[] = [];
  t.after(() => {
    for (const r of runners) r.child.kill('SIGKILL');
  });

  try {
    // ---- first visit: /setup with the printed code
    await page.goto(url);
    assert.match(page.url(), /\/setup$/);
    await phone.shot('01-setup');
    await page.getByLabel('Setup code').fill(gw.setupCode!);
    await page.getByLabel('Admin username').fill('admin');
    await page.getByLabel('Password', { exact: true }).fill(PW);
    await page.getByLabel('Password again').fill(PW);
    await page.getByRole('button', { name: 'Create admin account' }).click();
    await page.waitForURL(/\/settings\?notice=welcome/);
    await page.getByText('The admin account is ready').waitFor();

    // ---- two-factor enrolment: QR code, manual key, confirm code, recovery codes
    await page.getByRole('button', { name: 'Set up two-factor login' }).click();
    await page.getByRole('img', { name: /QR code to add ccg/ }).waitFor();
    const key = (await page.getByLabel('Setup key').textContent())!.replace(/\s/g, '');
    await page.getByLabel('Code from the app').scrollIntoViewIfNeeded();
    await phone.shot('02-totp-enrol');
    await page.getByLabel('Code from the app').fill(totpCodeAt(key, Date.now()));
    await page.getByRole('button', { name: 'Confirm and turn on' }).click();
    await page.getByRole('heading', { name: 'Two-factor login is on' }).waitFor();
    const codes = (await page.getByLabel('Recovery codes').inputValue()).split('\n');
    assert.equal(codes.length, 10);
    await phone.shot('03-recovery-codes');
    await page.getByRole('link', { name: 'I saved them' }).click();

    // ---- sign out, sign in again with the second factor
    await page.getByRole('button', { name: 'Sign out' }).first().click();
    await page.waitForURL(/\/login\?notice=logged-out/);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(PW);
    await phone.shot('04-login');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/login\/totp/);
    await phone.shot('05-login-code');
    // The enrolment used the current 30 s step; the next step is inside the ±1 window and unused.
    await page.getByLabel('Code').fill(totpCodeAt(key, Date.now() + 30_000));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(/\/runs$/);
    await page.getByText('No runs yet.').waitFor();

    // ---- create a run from the phone
    await page.getByRole('link', { name: 'New run' }).first().click();
    await page.getByLabel('Name (optional)').fill('fix the flaky test');
    await page.getByRole('button', { name: 'Create run' }).click();
    await page.getByRole('heading', { name: 'Run created' }).waitFor();
    await page.getByRole('img', { name: 'QR code of the runner command above' }).waitFor();
    const command = (await page.getByLabel('Runner command').textContent())!;
    const runId = /--run-id ([a-z0-9]{12})/.exec(command)![1]!;
    const token = /CCG_RUN_TOKEN=(ccgr_[A-Za-z0-9_-]{43})/.exec(command)![1]!;
    assert.match(command, new RegExp(`^CCG_RUN_TOKEN=ccgr_\\S+ ccg runner start --gateway ${url} --fingerprint ${fingerprint} --run-id ${runId}`));
    await phone.shot('06-run-created');
    await page.getByRole('link', { name: 'Open the run' }).click();
    await page.waitForURL(new RegExp(`/runs/${runId}$`));

    // Arrival times of lines in the page, to compare with when the child wrote them. (Strings:
    // this runs in the browser, and the tests compile without DOM types.)
    await page.evaluate(`(() => {
      window.__lat = [];
      new MutationObserver((records) => {
        const now = Date.now();
        for (const r of records) for (const n of r.addedNodes) for (const m of (n.textContent || '').matchAll(/t=(\\d{13})/g)) window.__lat.push(now - Number(m[1]));
      }).observe(document.getElementById('output'), { childList: true });
    })()`);

    // ---- a real runner process streams into the run
    const spool = tempDir();
    const pidFile = join(tempDir(), 'child.pid');
    const start = (prefix: string, count: number) => {
      const p = spawnCcg(['runner', 'start', '--run-id', runId, '--gateway', url, '--fingerprint', fingerprint, '--quiet', '--spool-dir', spool, '--', process.execPath, TICK, prefix, String(count), '40', pidFile], { CCG_RUN_TOKEN: token });
      runners.push(p);
      return p;
    };
    const first = start('A', 0);
    const output = page.locator('#output');
    await waitFor(async () => ((await output.textContent())!.includes('A 0020') ? true : undefined), 20_000, 'live lines on the page');
    await page.locator('#live-state.on').waitFor();
    const scroll = () => page.evaluate(`(() => { const el = document.getElementById('output'); return { gap: el.scrollHeight - el.scrollTop - el.clientHeight, top: el.scrollTop, overflow: el.scrollHeight - el.clientHeight }; })()`) as Promise<{ gap: number; top: number; overflow: number }>;
    await waitFor(async () => ((await scroll()).overflow > 300 ? true : undefined), 20_000, 'more output than fits');
    await waitFor(async () => ((await scroll()).gap < 40 ? true : undefined), 5000, 'the output follows the end');
    await phone.shot('07-run-live');

    // Scrolling up stops the following; "Jump to live" brings it back.
    await page.evaluate(`document.getElementById('output').scrollTo({ top: 0 })`);
    await page.getByRole('button', { name: 'Jump to live' }).waitFor();
    const before = (await output.textContent())!.length;
    await waitFor(async () => ((await output.textContent())!.length > before + 200 ? true : undefined), 10_000, 'more lines while scrolled up');
    assert.ok((await scroll()).top < 40, 'the reader stays where they scrolled to');
    await page.getByRole('button', { name: 'Jump to live' }).click();
    await waitFor(async () => ((await scroll()).gap < 40 ? true : undefined), 5000, 'back at the live end');
    assert.equal(await page.getByRole('button', { name: 'Jump to live' }).isVisible(), false);

    // ---- kill -9 the runner (and its child) mid-stream: the run shows "runner lost" and how it continues
    first.child.kill('SIGKILL');
    await first.exited;
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    await page.locator('#run-status .badge').getByText('runner lost').waitFor();
    await page.locator('#run-status .run-lost').waitFor();
    await phone.shot('08-run-runner-away');

    // ---- kill -9 the gateway under the open page and start it again: the live stream must resume
    gw.proc.child.kill('SIGKILL');
    await gw.proc.exited;
    await waitFor(async () => ((await page.locator('#live-state').textContent()) !== 'live' ? true : undefined), 10_000, 'the page notices');
    gw = await startServe(dataDir, port);
    await waitFor(async () => ((await page.locator('#live-state').textContent()) === 'live' ? true : undefined), 20_000, 'the page reconnects');

    // ---- a new runner on the same run (and spool) finishes the job
    const second = start('B', 40);
    const secondExit = await second.exited;
    assert.equal(secondExit.code, 0, `second runner: ${JSON.stringify(secondExit)} ${second.stderr()}`);
    await page.locator('#run-status').getByText('exited 0').waitFor();
    await waitFor(async () => ((await output.textContent())!.includes('B 0040') ? true : undefined), 20_000, 'the last line');
    await page.locator('#live-state.done').waitFor();
    await phone.shot('09-run-exited');

    // Every stored line exactly once, in order: what the page shows is the log.
    const shown = (await output.textContent())!;
    const stored = stripAnsi(await storedLog(url, fingerprint, operatorToken, runId));
    assert.equal(shown, stored, 'the page shows exactly the stored output');
    const lines = shown.trim().split('\n').map((l) => l.replace(/ t=\d+$/, ''));
    assert.equal(new Set(lines).size, lines.length, 'no line twice');
    const b = lines.filter((l) => l.startsWith('B '));
    assert.deepEqual(b, Array.from({ length: 40 }, (_, i) => `B ${String(i + 1).padStart(4, '0')}`), 'every line of the second runner, in order');
    assert.ok(lines.filter((l) => l.startsWith('A ')).length >= 20);
    // Colours arrive as classes (the CSP would refuse inline styles; a refusal shows up in the console check below).
    assert.ok((await output.locator('span.a-f2').count()) > 0);

    const latencies = (await page.evaluate('window.__lat')) as number[];
    t.diagnostic(`runner write → line in the browser: n=${latencies.length}, p50 ${percentile(latencies, 50)} ms, p90 ${percentile(latencies, 90)} ms, p99 ${percentile(latencies, 99)} ms, max ${Math.max(...latencies)} ms`);

    // Page weight of /runs/:id on a fresh load (HTML + CSS + JS), compressed and not.
    await page.reload();
    await page.locator('#output').waitFor();
    const weight = (await page.evaluate(`[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
      .map((e) => ({ name: new URL(e.name).pathname, encoded: e.encodedBodySize, decoded: e.decodedBodySize }))`)) as { name: string; encoded: number; decoded: number }[];
    const sum = (k: 'encoded' | 'decoded') => weight.reduce((s, e) => s + e[k], 0);
    t.diagnostic(`page weight of /runs/${runId} (${lines.length} lines): ${weight.map((e) => `${e.name} ${e.decoded} B (${e.encoded} B sent)`).join(', ')}; total ${sum('decoded')} B, ${sum('encoded')} B on the wire`);

    // ---- the runs list, live
    await page.getByRole('link', { name: 'Runs' }).first().click();
    await page.getByRole('link', { name: 'fix the flaky test' }).waitFor();
    await page.locator('.run-card .badge', { hasText: 'exited 0' }).waitFor();
    await phone.shot('10-runs');
    await page.getByRole('link', { name: 'Settings' }).first().click();
    await phone.shot('11-settings');

    // While the gateway is down the browser logs failed connections and htmx logs the EventSource's error event.
    // ---- a few more runs in other states, for the README screenshots
    const api = { url, fingerprint };
    // As the admin, through the login API (a recovery code stands in for the app's code).
    const login = await fetchJson(api, '/api/v1/login', '', 'POST', { username: 'admin', password: PW, totp: codes[0] });
    assert.equal(login.status, 201);
    const adminToken = login.json['token'] as string;
    const make = async (name: string) => (await fetchJson(api, '/api/v1/runs', adminToken, 'POST', { name })).json as unknown as { id: string; token: string };
    const runDemo = (r: { id: string; token: string }, args: string[]) => {
      const p = spawnCcg(['runner', 'start', '--run-id', r.id, '--gateway', url, '--fingerprint', fingerprint, '--quiet', '--spool-dir', tempDir(), '--', process.execPath, DEMO, ...args], { CCG_RUN_TOKEN: r.token });
      runners.push(p);
      return p;
    };
    const cancelled = await make('docs: fix typo in README');
    await fetchJson(api, `/api/v1/runs/${cancelled.id}/cancel`, adminToken, 'POST');
    const failed = await make('nightly e2e suite');
    assert.equal((await runDemo(failed, ['1', '10', '1']).exited).code, 1);
    await make('bump dependencies');

    // Older output pages in on demand: a run longer than one window, paged back to its start.
    const big = await make('long log');
    assert.equal((await spawnCcg(['runner', 'start', '--run-id', big.id, '--gateway', url, '--fingerprint', fingerprint, '--quiet', '--spool-dir', tempDir(), '--', process.execPath, '-e', "for (let i = 1; i <= 5000; i++) console.log('line ' + i + ' ' + 'x'.repeat(50))"], { CCG_RUN_TOKEN: big.token }).exited).code, 0);
    await page.goto(`${url}/runs/${big.id}`);
    assert.doesNotMatch((await output.textContent())!, /^line 1 /, 'the page opens at the tail');
    for (let i = 0; i < 10 && (await page.getByRole('link', { name: 'Show earlier output' }).count()) > 0; i++) {
      const length = (await output.textContent())!.length;
      await page.getByRole('link', { name: 'Show earlier output' }).click();
      await waitFor(async () => ((await output.textContent())!.length > length ? true : undefined), 10_000, 'earlier output');
    }
    await page.getByText('Start of output').waitFor();
    assert.equal(await output.textContent(), await storedLog(url, fingerprint, operatorToken, big.id), 'paged back to the start: every line once, in order');
    const live = await make('refactor the auth module');
    runDemo(live, ['0', '250', '0']);
    await page.getByRole('link', { name: 'Runs' }).first().click();
    await page.locator('.run-card', { hasText: 'refactor the auth module' }).locator('.badge', { hasText: 'running' }).waitFor();
    await page.locator('.run-card', { hasText: 'refactor the auth module' }).getByText('✔').first().waitFor();
    await phone.shot('readme-runs');
    await page.getByRole('link', { name: 'refactor the auth module' }).click();
    await waitFor(async () => ((await page.locator('#output').textContent())!.split('\n').length > 24 ? true : undefined), 20_000, 'a screenful of output');
    await phone.shot('readme-run');

    const real = phone.problems.filter((p) => !/net::ERR_|Failed to load resource|^console: \[object Event\]$/.test(p));
    assert.deepEqual(real, [], 'no script errors, CSP violations or dialogs');
  } catch (err) {
    await phone.shot('failure').catch(() => undefined);
    throw err;
  }
});

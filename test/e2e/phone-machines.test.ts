import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RunResponse } from '../../protocol/api.js';
import { launchPhone, realProblems, withShots } from '../helpers/browser.js';
import { claudeBinary, claudeEnv } from '../helpers/claude.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { machineOf, machineRuns } from '../helpers/machine.js';
import { lastUserText, startModelApi } from '../helpers/model-api.js';
import { CCG_BIN, waitFor } from '../helpers/processes.js';
import { addUsers, phoneLogin } from '../helpers/users.js';
import { gitWorkspace } from '../helpers/workspace.js';

/**
 * The machines pages on a phone (real Chromium at 390×844), following docs/QUICKSTART.md's first
 * part: an admin adds a machine (the command and its QR code, the token shown once), the machine's
 * config goes in ~/.config/ccg/machine.json, the printed command is run as it is and the daemon
 * comes online; an operator starts Claude on it with New run (workspace, prompt, mode); the finished
 * run shows Continue, which starts a run resuming Claude's session, linked both ways.
 */
test('phone: Add machine, the daemon comes online, New run starts Claude there, Continue resumes the session', async (t) => {
  const quickstart = readFileSync(new URL('../../../docs/QUICKSTART.md', import.meta.url), 'utf8');
  assert.match(quickstart, /^# Quick start\n\n## Add a machine, then start Claude from your phone\n/, 'QUICKSTART starts with this');
  assert.ok(quickstart.includes('~/.config/ccg/machine.json') && quickstart.includes('**Machines** → **Add machine**') && quickstart.includes('**Continue**'));
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'ada', role: 'admin' }, { name: 'olivia', role: 'operator' }]);
  const api = await startModelApi([{ text: 'The build is **green**. <img src=x onerror=alert(1)>' }, { text: 'Earlier you asked about the build.' }]);
  t.after(() => api.close());
  const repo = realpathSync(gitWorkspace());
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page } = phone;
  await withShots(phone, 'machines', async () => {
    await phoneLogin(page, g.url, 'ada');
    await page.getByRole('link', { name: 'Machines' }).click();
    await page.getByText('No machines yet.').waitFor();
    await page.getByLabel('Name').fill('laptop');
    await page.getByRole('button', { name: 'Add machine' }).click();
    await page.getByRole('heading', { name: 'Machine added' }).waitFor();
    const command = (await page.locator('#cmd').textContent()) ?? '';
    assert.match(command, /^CCG_MACHINE_TOKEN=ccgm_[A-Za-z0-9_-]{43} ccg machine start --gateway https:\/\/127\.0\.0\.1:\d+ --fingerprint sha256:[0-9a-f]{64} --name laptop$/);
    assert.equal(await page.locator('figure.qr img').count(), 1, 'a QR code of the command');
    const token = /CCG_MACHINE_TOKEN=(\S+)/.exec(command)![1]!;
    assert.equal(g.gw.store.listAudit({ limit: 20 }).find((e) => e.action === 'machine.add')?.actor, 'ada');

    // As QUICKSTART says: the config in ~/.config/ccg/machine.json, then the printed command as
    // it is, in a shell, with `ccg` on the PATH (npm link's job there).
    const home = tempDir('ccg-quickstart-home-');
    mkdirSync(join(home, '.config', 'ccg'), { recursive: true });
    writeFileSync(join(home, '.config', 'ccg', 'machine.json'), JSON.stringify({ maxRuns: 2, runnerArgs: ['--input-wait', '0', '--no-collect'], workspaces: { app: { dir: repo, modes: ['default', 'plan'] } } }));
    const bin = tempDir('ccg-quickstart-bin-');
    symlinkSync(CCG_BIN, join(bin, 'ccg'));
    const env = claudeEnv(api.url, home);
    // In a process group of its own: the shell may fork `ccg` rather than exec it, and killing the
    // shell alone left the daemon retrying for ever (seen as an orphan after a CI run).
    const daemon = spawn('/bin/sh', ['-c', ` ${command}`], { env: { ...env, PATH: `${bin}:${env['PATH']}`, CCG_CLAUDE_BIN: claudeBinary() }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let said = '';
    daemon.stderr.on('data', (d: Buffer) => (said += d.toString()));
    t.after(() => {
      try {
        process.kill(-daemon.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      for (const r of machineRuns(join(home, '.local', 'state', 'ccg', 'machine', 'laptop'))) {
        try {
          process.kill(r.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
    await waitFor(async () => ((await machineOf(g, 'laptop'))?.online ? true : undefined), 30_000, `the machine online; it said: ${said}`);
    await page.goto(`${g.url}/machines`);
    await page.locator('.machine-card').getByText('online').waitFor();
    await phone.shot('machines-list');

    // An operator starts Claude there.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login/);
    await phoneLogin(page, g.url, 'olivia');
    await page.goto(`${g.url}/machines/laptop`);
    assert.equal(await page.getByRole('button', { name: 'Revoke this machine' }).count(), 0, 'operators do not revoke');
    await page.getByLabel('Workspace', { exact: true }).selectOption('app');
    await page.getByLabel('Prompt for Claude').fill('is the build green?');
    await page.getByLabel('Permission mode').selectOption('plan');
    await phone.shot('machine-new-run');
    // A double tap (the machine takes seconds to answer): one Claude, not two.
    await page.getByRole('button', { name: 'Start Claude' }).dblclick();
    await page.waitForURL(/\/runs\/[0-9a-z]{12}$/);
    const first = /\/runs\/([0-9a-z]{12})$/.exec(page.url())![1]!;
    await page.locator('#tl-list').getByText('The build is green.', { exact: false }).waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('#tl-list img').count(), 0, 'model text is escaped');
    const cont = page.getByLabel('Continue with');
    await cont.waitFor({ timeout: 60_000 });
    await cont.fill('what did I ask?');
    await phone.shot('run-continue');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((u) => /\/runs\/[0-9a-z]{12}$/.test(u.pathname) && !u.pathname.endsWith(first));
    const second = /\/runs\/([0-9a-z]{12})$/.exec(page.url())![1]!;
    await page.getByRole('link', { name: '← Previous run' }).waitFor();
    await page.locator('#tl-list').getByText('Earlier you asked about the build.').waitFor({ timeout: 60_000 });
    const req = api.requests.at(-1)!;
    assert.equal(lastUserText(req), 'what did I ask?');
    assert.ok(JSON.stringify(req.body.messages).includes('is the build green?'), 'the model sees the earlier turn');
    const prev = RunResponse.parse(JSON.parse((await runCli(['runs', 'show', first, '--json'], g.env)).stdout)).run;
    assert.equal(prev.origin?.next, second);
    assert.equal(prev.origin?.mode, 'plan');
    await page.goto(`${g.url}/runs/${first}`);
    await page.getByRole('link', { name: 'Next run →' }).waitFor();
    assert.equal(await page.getByLabel('Continue with').count(), 0, 'a run continued once offers no second Continue');
    const audit = g.gw.store.listAudit({ limit: 50 });
    assert.equal(audit.find((e) => e.action === 'machine.start')?.actor, 'olivia');
    assert.equal(audit.filter((e) => e.action === 'machine.start').length, 1, 'the double tap started one run');
    assert.equal(audit.find((e) => e.action === 'machine.continue')?.actor, 'olivia');
    await waitFor(async () => (await runCli(['runs', 'show', second, '--json'], g.env)).stdout.includes('"status":"exited"') ? true : undefined, 60_000, 'second run ended');
    assert.deepEqual(realProblems(phone), []);
  });
});

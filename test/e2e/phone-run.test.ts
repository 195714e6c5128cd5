import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { Approval } from '../../protocol/claude-control.js';
import { launchPhone, realProblems, SCREENSHOT_DIR, withShots } from '../helpers/browser.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { claudeRun } from '../helpers/claude-run.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { lastUserText } from '../helpers/model-api.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { startPushService } from '../helpers/push-service.js';
import { TMATE_LINKS, writeTmateStandin } from '../helpers/standins.js';
import { addUsers, phoneLogin } from '../helpers/users.js';
import { GIT_ENV, gitWorkspace } from '../helpers/workspace.js';

/**
 * The run page's powers on a phone (real chromium at 390×844, real gateway, real runner
 * processes): Claude's timeline, approvals, follow-ups; allowlisted commands, artifacts and the
 * diff; assist sessions. Screenshots go to test-results/screenshots/.
 */

// Runs in the browser (the tests compile without DOM types).
declare const getComputedStyle: (el: unknown) => { backgroundColor: string };

test('phone, Claude: the timeline shows the reply; a tool use approved from the phone lets Claude continue; one denied with a message; one answered elsewhere shows resolved live; a follow-up typed on the phone reaches Claude', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olivia', role: 'operator' }]);
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page } = phone;
  await withShots(phone, 'claude', async () => {
    await phoneLogin(page, g.url, 'olivia');
    const c = await claudeRun(t, [
      { text: 'The flaky test writes to a shared file. I will **create** a fixture first.', tools: [{ name: 'Bash', input: { command: 'touch approved.txt', description: 'Create the fixture file' } }] },
      { text: 'Now I clear the stale build output.', tools: [{ name: 'Bash', input: { command: 'rm -rf build', description: 'Delete the build directory' } }] },
      { text: 'Understood, the build stays. One more file.', tools: [{ name: 'Bash', input: { command: 'touch third.txt', description: 'Create third.txt' } }] },
      { text: 'All done: **the test is stable now**. <img src=x onerror=alert(1)> [details](javascript:alert(2))' },
      { text: 'Added `test/fixture.test.js`.' },
    ], { gateway: g, name: 'fix the flaky io test', prompt: 'Fix the flaky test in test/io.test.js', args: ['--input-wait', '2m'] });
    t.after(async () => {
      await c.cli(['runs', 'cancel', c.run.id]);
      await c.runner.exited;
    });

    // Opened before the runner says it runs Claude: the page turns into the timeline by itself.
    await page.goto(`${g.url}/runs/${c.run.id}`);
    const approve = page.getByRole('button', { name: 'Approve', exact: true });
    await approve.waitFor({ timeout: 60_000 });
    const tl = page.locator('#tl-list');
    await tl.getByText('I will create a fixture first.').waitFor();
    assert.equal(await tl.locator('strong', { hasText: 'create' }).count(), 1, 'markdown rendered');
    await page.locator('#run-status').getByText('waiting for you').waitFor();
    const card = page.locator('.approval-card').first();
    await card.getByText('touch approved.txt').first().waitFor();
    await card.getByText('Always allow this').waitFor();
    await phone.shot('claude-approval');
    // For the README: the approval card and the start of the timeline under it.
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'readme-claude-approval.png'), fullPage: true, clip: { x: 0, y: 0, width: 390, height: 1250 } });
    assert.equal(c.api.requests.length, 1, 'Claude waits for the answer');

    // ---- Approve: Claude continues (round trip from the tap to Claude's next model request)
    const tapped = performance.now();
    await approve.click();
    const next = (await c.api.waitForRequests(2, 60_000))[1]!;
    t.diagnostic(`approval round trip, tap on Approve → Claude's next model request: ${(next.receivedAt - tapped).toFixed(1)} ms`);
    await tl.getByText(/Allowed by olivia/).waitFor();
    assert.ok(existsSync(join(c.cwd, 'approved.txt')), 'the approved command ran');

    // ---- Deny with a message: Claude is told why
    await tl.getByText('Now I clear the stale build output.').waitFor();
    await page.getByRole('button', { name: 'Deny', exact: true }).waitFor();
    await page.locator('#run-status').getByText('waiting for you').waitFor();
    await page.getByLabel('Message for Claude (optional, sent with Deny)').fill('Not today: keep the build for the bisect.');
    await phone.shot('claude-deny-message');
    await page.getByRole('button', { name: 'Deny', exact: true }).click();
    const third = (await c.api.waitForRequests(3, 60_000))[2]!;
    assert.equal(lastUserText(third), 'Not today: keep the build for the bisect.', 'Claude got the message as the tool error');
    await tl.getByText(/Denied by olivia: Not today/).waitFor();

    // ---- Answered elsewhere (the CLI): the phone sees it resolved, live, and offers no buttons for it
    const req = await c.event('approval_requested', (e) => (e.input as { command: string }).command === 'touch third.txt');
    await page.locator(`#approval-${req.approvalId}`).getByRole('button', { name: 'Approve', exact: true }).waitFor();
    const byCli = await c.cli(['runs', 'approve', c.run.id, req.approvalId]);
    assert.equal(byCli.code, 0, byCli.stderr);
    await page.locator(`#approval-${req.approvalId}`).getByText(/Allowed by operator\.token/).waitFor();
    assert.equal(await page.locator(`#approval-${req.approvalId}`).getByRole('button').count(), 0);

    // ---- the final result: markdown safe (no image, no javascript: link), the session's cost, turns; waiting for a follow-up
    await tl.locator('.tl-text strong', { hasText: 'the test is stable now' }).waitFor();
    assert.equal(await tl.locator('img').count(), 0);
    assert.equal(await tl.locator('a[href^="javascript:"]').count(), 0);
    const result = tl.locator('.tl-result').last();
    await result.getByText('session total').waitFor();
    await result.getByText('turns').waitFor();
    await result.getByText('denials').waitFor();
    await page.locator('#run-status').getByText('waiting for you').waitFor();
    await phone.shot('claude-result');

    // ---- a follow-up typed on the phone reaches Claude
    await page.getByLabel('Follow-up for Claude').fill('Please also add a regression test.');
    await page.getByRole('button', { name: 'Send to Claude' }).click();
    await page.getByText('Sent: “Please also add a regression test.”').waitFor();
    const followUp = (await c.api.waitForRequests(5, 60_000))[4]!;
    assert.equal(lastUserText(followUp), 'Please also add a regression test.');
    await tl.getByText('Follow-up from olivia').waitFor();
    await tl.locator('.tl-text', { hasText: 'test/fixture.test.js' }).waitFor();
    await phone.shot('claude-follow-up');

    const stored = (JSON.parse((await c.cli(['runs', 'approvals', c.run.id, '--all', '--json'])).stdout) as { approvals: Approval[] }).approvals;
    assert.deepEqual(stored.map((a) => [a.resolution?.decision, a.answer?.by]), [['allow', 'olivia'], ['deny', 'olivia'], ['allow', 'operator.token (bootstrap)']]);
    const audit = await waitFor(() => {
      const entries = g.gw.store.listAudit({ limit: 100 });
      return entries.some((e) => e.action === 'run.input' && e.actor === 'olivia') ? entries : undefined;
    }, 5000, 'the follow-up audited');
    assert.deepEqual(audit.filter((e) => e.action === 'approval.answer').map((e) => e.actor).sort(), ['olivia', 'olivia', 'operator.token (bootstrap)']);

    // ---- the raw stream stays a tap away
    await page.getByRole('link', { name: 'Raw output' }).click();
    await page.locator('#output').getByText('"type":"assistant"').first().waitFor();
    await page.getByRole('link', { name: 'Timeline' }).click();
    await tl.waitFor();

    // Page weight of a Claude run's page (HTML + CSS + JS), fresh load.
    await page.reload();
    await tl.waitFor();
    const weight = (await page.evaluate(`[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
      .map((e) => ({ name: new URL(e.name).pathname, encoded: e.encodedBodySize, decoded: e.decodedBodySize }))`)) as { name: string; encoded: number; decoded: number }[];
    const sum = (k: 'encoded' | 'decoded') => weight.reduce((s, e) => s + e[k], 0);
    t.diagnostic(`page weight of a Claude run (${await tl.locator('article').count()} timeline entries): ${weight.map((e) => `${e.name} ${e.decoded} B (${e.encoded} B sent)`).join(', ')}; total ${sum('decoded')} B, ${sum('encoded')} B on the wire`);
    assert.deepEqual(realProblems(phone), [], 'no script errors, CSP violations or dialogs');
  });
});

test('phone, commands and artifacts: run `test` and a command with a parameter, see output and exit codes; Collect; the diff rendered in colour; the untracked list; the log downloads as an attachment', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olivia', role: 'operator' }]);
  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'fix the flaky test', '--json'], g.env)).stdout) as CreateRunResponse;
  const io = (lines: string[]) => lines.join('\n') + '\n';
  const before = ["import { writeFileSync } from 'node:fs';", '', 'export function save(data) {', "  writeFileSync('/tmp/shared.json', JSON.stringify(data));", '}', '', 'export function load() {', '  return null;', '}'];
  const ws = gitWorkspace({ 'app.js': "console.log('v1');\n", 'README.md': '# demo\n', 'io.js': io(before) });
  const aside = tempDir('ccg-cmd-');
  // What "Claude" changed: a fixture path per test instead of one shared file, and a long line that must wrap.
  writeFileSync(join(aside, 'io.js'), io(["import { mkdtempSync, writeFileSync } from 'node:fs';", "import { tmpdir } from 'node:os';", "import { join } from 'node:path';", '', 'export function save(data, dir = mkdtempSync(join(tmpdir(), \'io-\'))) {', "  writeFileSync(join(dir, 'shared.json'), JSON.stringify(data)); // each test gets its own directory, so parallel runs no longer overwrite each other's fixture", '  return dir;', '}', '', 'export function load() {', '  return null;', '}']));
  const tests = join(aside, 'tests.mjs');
  writeFileSync(tests, "console.log('\\u001b[1mrunning 3 tests\\u001b[0m');\nfor (const n of ['reads', 'writes', 'cleans up']) console.log('  \\u001b[32m✔\\u001b[0m ' + n);\nconsole.log('\\u001b[32m3 passing\\u001b[0m');\n");
  const allowlist = join(aside, 'allowlist.json');
  writeFileSync(allowlist, JSON.stringify({ commands: [{ name: 'greet', argv: ['echo', 'hello', '{who}'], params: { who: { pattern: '[a-z]{1,12}' } }, description: 'Say hello' }] }));
  const stop = join(aside, 'stop');
  const child = [
    `printf "console.log('v2');\\nconsole.log('fixture ready');\\n" > app.js`,
    `cp ${join(aside, 'io.js')} io.js`,
    'echo scratch > notes.txt',
    'echo "changed app.js, left notes.txt"',
    `i=0; while [ ! -f ${stop} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done`,
  ].join('\n');
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', ws, '--quiet', '--spool-dir', tempDir(), '--allow', `test=${process.execPath} ${tests}`, '--allowlist', allowlist, '--', 'sh', '-c', child],
    { CCG_RUN_TOKEN: run.token, ...GIT_ENV },
  );
  t.after(() => void (runner.child.exitCode === null && runner.child.kill('SIGKILL')));
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page } = phone;
  await withShots(phone, 'commands', async () => {
    await phoneLogin(page, g.url, 'olivia');
    await page.goto(`${g.url}/runs/${run.id}`);
    await page.locator('#output').getByText('changed app.js').waitFor({ timeout: 30_000 });

    // ---- `test`: output streams in, then its exit code
    await page.getByRole('button', { name: 'Run test' }).click();
    const runs = page.locator('#cmd-runs');
    await runs.getByText('3 passing').waitFor();
    await runs.locator('.cmd-head', { hasText: /test: exited 0/ }).waitFor();
    assert.ok((await runs.locator('.cmd-out span.a-f2').count()) > 0, 'colours as classes');
    // ---- a parameter, with the runner's pattern described in words (the runner enforces it)
    const who = page.getByLabel('who');
    assert.equal(await who.getAttribute('pattern'), null);
    await page.getByText('1 to 12 lowercase letters.').waitFor();
    await who.fill('bob');
    await page.getByRole('button', { name: 'Run greet' }).click();
    await runs.getByText('hello bob').waitFor();
    await runs.locator('.cmd-head', { hasText: /greet who=bob: exited 0/ }).waitFor();
    await page.locator('#run-commands').scrollIntoViewIfNeeded();
    await phone.shot('commands');

    // ---- Collect: the list fills in live
    await page.getByRole('button', { name: 'Collect now' }).click();
    const list = page.locator('#artifacts-list');
    await list.getByText('diff.patch').waitFor({ timeout: 30_000 });
    await list.getByText('run.log').waitFor();
    await list.getByText('untracked.txt').waitFor();
    await page.locator('#run-artifacts').scrollIntoViewIfNeeded();
    await phone.shot('artifacts');

    // ---- the log downloads as an attachment with the right type
    const logUrl = `${g.url}/runs/${run.id}/artifacts/run.log`;
    const res = await page.request.get(logUrl);
    assert.equal(res.status(), 200);
    const h = res.headers();
    assert.equal(h['content-type'], 'text/plain; charset=utf-8');
    assert.equal(h['content-disposition'], 'attachment; filename="run.log"');
    assert.equal(h['x-content-type-options'], 'nosniff');
    assert.match(h['content-security-policy'] ?? '', /sandbox/);
    assert.match(await res.text(), /changed app\.js/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download run.log' }).click()]);
    assert.equal(download.suggestedFilename(), 'run.log');

    // ---- the diff, rendered and coloured
    await page.getByRole('link', { name: 'View diff diff.patch' }).click();
    await page.getByRole('heading', { name: 'diff.patch' }).waitFor();
    const added = page.locator('.dl-add', { hasText: "+console.log('v2');" });
    await added.waitFor();
    const removed = page.locator('.dl-del', { hasText: "-console.log('v1');" });
    const bg = (l: typeof added) => l.evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.notEqual(await bg(added), 'rgba(0, 0, 0, 0)');
    assert.notEqual(await bg(added), await bg(removed), `additions and removals differ in colour (${await bg(added)} vs ${await bg(removed)})`);
    await page.locator('.df-name', { hasText: 'app.js' }).waitFor();
    await page.getByRole('link', { name: 'io.js' }).waitFor();
    await page.locator('.dl-add', { hasText: 'parallel runs no longer overwrite' }).waitFor();
    await phone.shot('diff');
    await page.goBack();
    await page.getByRole('link', { name: 'View list untracked.txt' }).click();
    await page.locator('.paths').getByText('notes.txt').waitFor();

    writeFileSync(stop, '');
    assert.equal((await runner.exited).code, 0, runner.stderr());
    assert.deepEqual(realProblems(phone), [], 'no script errors, CSP violations or dialogs');
    for (const a of ['command.request', 'artifacts.collect', 'artifact.download', 'artifact.view']) {
      await waitFor(() => (g.gw.store.listAudit({ limit: 100 }).some((e) => e.actor === 'olivia' && e.action === a) ? true : undefined), 5000, `audited: ${a}`);
    }
  });
});

test('phone, assist: an operator starts a tmate session, sees and copies its links, stops it; a viewer never sees a link', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olivia', role: 'operator' }, { name: 'victor', role: 'viewer' }]);
  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'pair on the migration', '--json'], g.env)).stdout) as CreateRunResponse;
  const bin = tempDir('ccg-tmate-');
  writeTmateStandin(bin);
  const stop = join(bin, 'stop');
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', tempDir(), '--quiet', '--no-collect', '--spool-dir', tempDir(), '--assist', '--assist-max', '20', '--', 'sh', '-c', `echo migrating; i=0; while [ ! -f ${stop} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done`],
    { CCG_RUN_TOKEN: run.token, PATH: `${bin}:${process.env['PATH']}` },
  );
  t.after(() => void (runner.child.exitCode === null && runner.child.kill('SIGKILL')));
  const phone = await launchPhone();
  t.after(() => phone.close());
  const viewer = await launchPhone();
  t.after(() => viewer.close());
  const { page } = phone;
  await withShots(phone, 'assist', async () => {
    await phoneLogin(page, g.url, 'olivia');
    await phoneLogin(viewer.page, g.url, 'victor');
    await page.goto(`${g.url}/runs/${run.id}`);
    await viewer.page.goto(`${g.url}/runs/${run.id}`);
    await page.locator('#output').getByText('migrating').waitFor({ timeout: 30_000 });
    await viewer.page.locator('#output').getByText('migrating').waitFor();
    assert.equal(await viewer.page.getByRole('heading', { name: 'Assist session' }).count(), 0, 'viewers get no assist section');

    await page.getByRole('button', { name: 'Start assist session' }).click();
    const ssh = page.getByLabel('SSH, read-write', { exact: true });
    await ssh.waitFor({ timeout: 20_000 });
    assert.equal(await ssh.inputValue(), TMATE_LINKS.ssh);
    assert.equal(await page.getByLabel('SSH, read-only', { exact: true }).inputValue(), TMATE_LINKS.sshReadOnly);
    assert.equal(await page.getByLabel('Web, read-write', { exact: true }).inputValue(), TMATE_LINKS.web);
    assert.equal(await page.getByLabel('Web, read-only', { exact: true }).inputValue(), TMATE_LINKS.webReadOnly);
    await page.getByRole('button', { name: 'Copy SSH, read-write' }).waitFor();
    await page.locator('#run-assist').scrollIntoViewIfNeeded();
    await phone.shot('assist');

    // The viewer's page loaded afresh while the session is open: no link. (The page open since the
    // start stays live to the end of the run, below.)
    const fresh = await viewer.context.newPage();
    await fresh.goto(`${g.url}/runs/${run.id}`);
    assert.ok(!(await fresh.content()).includes(TMATE_LINKS.ssh));
    await fresh.close();

    await page.getByRole('button', { name: 'Stop assist session' }).click();
    await page.locator('#assist-body').getByText('stopped').waitFor({ timeout: 20_000 });
    assert.equal(await page.getByLabel('SSH, read-write', { exact: true }).count(), 0);
    await page.getByRole('button', { name: 'Start assist session' }).waitFor();

    writeFileSync(stop, '');
    assert.equal((await runner.exited).code, 0, runner.stderr());
    // The viewer's page, live the whole time, never got a link: the run's end is the sentinel (its
    // header arrives on the same stream after anything the session raised).
    await viewer.page.locator('.run-sub .badge', { hasText: 'exited 0' }).waitFor();
    const seen = await viewer.page.content();
    for (const link of Object.values(TMATE_LINKS)) assert.ok(!seen.includes(link), 'no link on the viewer\'s page');
    for (const a of ['assist.start', 'assist.show', 'assist.stop']) {
      await waitFor(() => (g.gw.store.listAudit({ limit: 100 }).some((e) => e.action === a && e.actor === 'olivia') ? true : undefined), 5000, `audited: ${a}`);
    }
    assert.ok(!g.gw.store.listAudit({ limit: 100 }).some((e) => e.actor === 'victor' && e.action.startsWith('assist')));
    assert.deepEqual(realProblems(phone), []);
    assert.deepEqual(realProblems(viewer), []);
  });
});

test('phone, notifications: the service worker registers at /, the settings page subscribes with its CSRF token, and the pushes the gateway sends show as notifications that open the run', async (t) => {
  const service = await startPushService();
  t.after(() => service.close());
  // Plain HTTP on loopback: browsers run service workers only from trusted origins, and
  // http://127.0.0.1 is one while a self-signed certificate is not (see docs/CLAUDE_CODE.md).
  const g = await startGateway({ insecureHttp: true, pushAgent: new PinnedAgent(service.fingerprint), pushHosts: [new URL(service.url).host], vapidSubject: 'mailto:ops@example.test' });
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olivia', role: 'operator' }]);
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page, context } = phone;
  await withShots(phone, 'push', async () => {
    await phoneLogin(page, g.url, 'olivia');
    await context.grantPermissions(['notifications'], { origin: g.url });
    const cdp = await context.newCDPSession(page);
    const registrations: { registrationId: string; scopeURL: string }[] = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
    await cdp.send('ServiceWorker.enable');
    await page.goto(`${g.url}/settings`);
    await page.getByText('Notifications are off on this phone.').waitFor();
    // Nothing is registered until asked; then the service worker runs with the whole site as its scope.
    assert.equal(await page.evaluate('navigator.serviceWorker.getRegistration("/").then((r) => r === undefined)'), true);
    await page.getByRole('button', { name: 'Turn on notifications' }).click();
    assert.equal(await page.evaluate('navigator.serviceWorker.ready.then((r) => r.scope)'), `${g.url}/`);

    // What push.js posts once the browser's push service gave it a subscription (headless
    // chromium has no push service): the stand-in's subscription, with the page's CSRF header.
    const sub = service.subscription('olivia-phone');
    const status = await page.evaluate(`fetch('/settings/push', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': document.getElementById('push-controls').dataset.csrf, accept: 'application/json' }, body: new URLSearchParams(${JSON.stringify({ endpoint: sub.endpoint, p256dh: sub.keys.p256dh, auth: sub.keys.auth })}) }).then((r) => r.status)`);
    assert.equal(status, 201);
    await page.reload();
    await page.getByText('Your devices').waitFor();
    await page.locator('#push').scrollIntoViewIfNeeded();
    await phone.shot('push-settings');

    const reg = registrations.find((r) => r.scopeURL === `${g.url}/`)!;
    // CDP hands the payload to the service worker as a push service would. Headless chromium
    // sometimes drops a delivery to a worker it is still waking; it is sent again (same tag).
    const deliver = async (payload: string) => {
      for (let attempt = 0; ; attempt++) {
        await cdp.send('ServiceWorker.deliverPushMessage', { origin: g.url, registrationId: reg.registrationId, data: payload });
        const shown = await waitFor(async () => {
          const ns = (await page.evaluate('navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) => ns.map((n) => ({ title: n.title, body: n.body, url: n.data && n.data.url })))')) as { title: string; body: string; url: string }[];
          return ns.length ? ns : undefined;
        }, 5000, 'a notification').catch(() => undefined);
        if (shown) return shown;
        if (attempt === 5) throw new Error('the service worker showed no notification');
      }
    };

    // The test button: the gateway encrypts and signs a push; the stand-in push service decrypts it.
    await page.getByRole('button', { name: 'Send a test notification' }).click();
    await page.getByText('Test notification sent').waitFor();
    await waitFor(() => (service.received.length === 1 ? true : undefined), 30_000, 'the test push');
    assert.equal((JSON.parse(service.received[0]!.payload) as { title: string }).title, 'ccg notifications work');

    // A tool use waits for approval: the gateway pushes, the service worker shows it (and keeps it:
    // an approval needs the user), and its tap opens the run on this phone's own origin.
    const { run, token } = await g.gw.runs.create('nightly fix', 'admin');
    const r = await fakeRunner(g, run.id, token, { mode: 'claude' });
    t.after(() => r.close());
    await r.events({ type: 'approval_requested', approvalId: 'PushApproval000001', toolName: 'Bash', displayName: 'Bash', toolUseId: null, input: { command: 'npm test' }, inputTruncated: false, description: 'Run the tests', blockedPath: null, rule: null, expiresAt: Date.now() + 600_000 });
    const pushed = await waitFor(() => service.received.map((x) => x.payload).find((p) => (JSON.parse(p) as { kind: string }).kind === 'approval'), 30_000, 'the approval push');
    const notes = await deliver(pushed);
    assert.equal(notes[0]!.url, `/runs/${run.id}`);
    assert.match(notes[0]!.title, /Approval needed: Bash/);
    assert.deepEqual(realProblems(phone), []);
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { RunSummary } from '../../protocol/run.js';
import { launchPhone, realProblems, SCREENSHOT_DIR, withShots } from '../helpers/browser.js';
import { claudeBinary, claudeEnv } from '../helpers/claude.js';
import { claudeRun } from '../helpers/claude-run.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { isSubagentRequest, longReplyStep, overloadedStep, startModelApi, taskStep } from '../helpers/model-api.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { addUsers, phoneLogin } from '../helpers/users.js';

/**
 * The story of a Claude run, with the real `claude` 2.1.331 against the model stand-in: subagents
 * grouped and labelled, retries as a visible state with a notification, cost and the spending
 * limit, failures a person can act on (no claude, not logged in, killed mid-turn, runner lost).
 */

const show = async (c: { cli: (a: string[]) => Promise<{ stdout: string }> }, id: string) => (JSON.parse((await c.cli(['runs', 'show', id, '--json'])).stdout) as { run: RunSummary }).run;

/** A webhook stand-in on loopback that records the notifications it is sent. */
async function startHook(): Promise<{ url: string; got: string[]; close: () => Promise<void> }> {
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

/** The pids of a process's children. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
  } catch {
    return [];
  }
}

test('a Task subagent: its steps are grouped under the call, labelled, collapsed on the phone; `runs events` labels them', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olivia', role: 'operator' }]);
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page } = phone;
  await withShots(phone, 'claude-subagent', async () => {
    await phoneLogin(page, g.url, 'olivia');
    const c = await claudeRun(t, [taskStep('Delegating the survey.', 'general-purpose', 'Survey <b>files</b>', 'List the files please'), { text: 'Main thread waits.' }, { text: 'Main thread done.' }], {
      gateway: g, name: 'subagent', args: ['--input-wait', '0'],
    });
    c.api.route(isSubagentRequest('List the files please'), { text: 'Subagent <script>alert(1)</script> found **3 files**.' });
    assert.equal((await c.runner.exited).code, 0, c.runner.stderr());
    const sub = await c.event('claude_text', (e) => e.parentToolUseId !== null);
    assert.match(sub.text, /found \*\*3 files\*\*/);

    await page.goto(`${g.url}/runs/${c.run.id}`);
    const group = page.locator('#tl-list details.tl-agent');
    await group.first().waitFor({ timeout: 30_000 });
    assert.equal(await group.count(), 1, 'one group for the one subagent');
    assert.equal(await group.getAttribute('open'), null, 'collapsed by default');
    const summary = (await group.locator('summary').textContent() ?? '').replace(/\s+/g, ' ').trim();
    assert.match(summary, /^Subagent general-purpose: Survey <b>files<\/b> · (completed|running|finished) · \d+ steps?$/, summary);
    assert.equal(await group.locator('.tl-agent-steps').getByText('found 3 files').isVisible(), false, 'the steps are hidden until opened');
    await group.locator('summary').click();
    await group.locator('.tl-agent-steps').getByText('found 3 files').waitFor();
    assert.equal(await page.locator('#tl-list script, #tl-list b').count(), 0, 'markup from the model and the call is text');
    assert.equal(await page.locator('#tl-list > article > .tl-md', { hasText: 'found 3 files' }).count(), 0, 'the subagent text is not a top-level entry');
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'phone-claude-subagent.png') });
    assert.deepEqual(realProblems(phone), []);

    const events = await c.cli(['runs', 'events', c.run.id]);
    assert.match(events.stdout, /◇ \[general-purpose\]: Subagent <script>alert\(1\)<\/script> found \*\*3 files\*\*\./, events.stdout);
    assert.doesNotMatch(events.stdout, /◆ Claude: Subagent/, 'the subagent is not "Claude"');
    assert.match(events.stdout, /· \[general-purpose\] Subagent general-purpose started: Survey <b>files<\/b>/);
  });
});

test('529 overloaded three times, then success: the run shows "Claude is retrying", a notification goes out, the retries read as sentences', async (t) => {
  const hook = await startHook();
  t.after(() => hook.close());
  const g = await startGateway({ notifyUrl: hook.url });
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olivia', role: 'operator' }]);
  const phone = await launchPhone();
  t.after(() => phone.close());
  const { page } = phone;
  await phoneLogin(page, g.url, 'olivia');
  // An Opus model gives up after 3 overloads in a row; Sonnet retries up to 10 times (Claude Code 2.1.331).
  const c = await claudeRun(t, [overloadedStep(), overloadedStep(), overloadedStep(), { text: 'Finally through.' }], {
    gateway: g, name: 'overloaded', args: ['--input-wait', '0'], env: { ANTHROPIC_MODEL: 'claude-sonnet-4-5' },
  });
  await page.goto(`${g.url}/runs/${c.run.id}`);
  await page.locator('#run-status .run-retrying').getByText(/Claude is retrying: API overloaded \(529\), attempt [23] of 10/).waitFor({ timeout: 60_000 });
  await page.locator('#run-status').getByText('Claude is retrying', { exact: true }).waitFor();
  await page.screenshot({ path: join(SCREENSHOT_DIR, 'phone-claude-retrying.png') });
  assert.equal((await c.runner.exited).code, 0, c.runner.stderr());
  const retrying = c.seen.runs.find((r) => r.claude?.retrying);
  assert.ok(retrying, 'operators saw the retrying state');
  assert.equal(retrying.claude!.retrying!.error, 'API overloaded (529)');
  await waitFor(() => hook.got.find((b) => (JSON.parse(b) as { event: string }).event === 'retrying'), 10_000, 'the retry notification');
  const note = JSON.parse(hook.got.find((b) => (JSON.parse(b) as { event: string }).event === 'retrying')!) as { title: string; runId: string };
  assert.match(note.title, /^Claude is retrying: API overloaded \(529\) \(overloaded\)$/);
  assert.equal(note.runId, c.run.id);
  assert.equal(hook.got.filter((b) => (JSON.parse(b) as { event: string }).event === 'retrying').length, 1, 'once per streak');
  const done = await show(c, c.run.id);
  assert.equal(done.claude?.retrying, null, 'cleared once Claude got through');
  const events = await c.cli(['runs', 'events', c.run.id]);
  assert.match(events.stdout, /· API overloaded \(529\); Claude retries in [\d.]+ m?s \(attempt 1 of 10\)/);
  assert.match(events.stdout, /◆ Claude: Finally through\./);
  assert.doesNotMatch(events.stdout, /· api_retry|· status/, 'no bare status lines');
  await page.locator('#run-status .run-retrying').waitFor({ state: 'detached', timeout: 15_000 });
  assert.deepEqual(realProblems(phone), []);
});

test('a spending limit set on the gateway reaches claude as --max-budget-usd; the run says it stopped for it; cost in the runs list', async (t) => {
  const c = await claudeRun(t, [{ text: 'Starting.', tools: [{ name: 'Bash', input: { command: 'echo hi', description: 'Say hi' } }] }, { text: 'never reached' }], {
    name: 'budget', args: ['--input-wait', '2m'], createArgs: ['--max-budget-usd', '0.0001'],
  });
  assert.equal(c.run.run.claude?.maxBudgetUsd, 0.0001, 'the limit is on the run from its creation');
  const result = await c.event('claude_result');
  assert.equal(result.subtype, 'error_max_budget_usd');
  assert.ok((result.costUsd ?? 0) > 0.0001);
  const closed = await c.event('input_closed');
  assert.match(closed.reason, /the run's spending limit \(\$0\.0001\) was reached/, 'no follow-ups are awaited past the limit');
  assert.equal((await c.runner.exited).code, 1, c.runner.stderr());
  assert.match(c.runner.stderr(), /spending limit for Claude: \$0\.0001 \(set on the gateway\)/);
  await waitFor(async () => ((await show(c, c.run.id)).claude?.stopped === 'budget' ? true : undefined), 10_000, 'the run to say it stopped for the budget');
  const run = await show(c, c.run.id);
  assert.ok((run.claude?.costUsd ?? 0) > 0, 'the run has its cost');
  const events = await c.cli(['runs', 'events', c.run.id]);
  assert.match(events.stdout, /✖ result: Stopped: the run's spending limit was reached · \$0\.\d+ this turn · \$0\.\d+ session total/);
  const list = await c.cli(['runs', 'list']);
  assert.match(list.stdout.split('\n')[0]!, /^ID\s+STATUS\s+AGE\s+COST\s+NAME$/);
  assert.match(list.stdout, new RegExp(`${c.run.id}\\s+exited 1 \\(budget reached\\)\\s+\\S+\\s+\\$0\\.\\d{4}\\s+budget`));
  const json = JSON.parse((await c.cli(['runs', 'list', '--json'])).stdout) as { runs: RunSummary[] };
  assert.equal(json.runs[0]!.claude?.costUsd, run.claude?.costUsd);
  assert.equal(json.runs[0]!.claude?.stopped, 'budget');
  // Refused at the boundary: not a number, zero, too much.
  for (const bad of ['abc', '0', '1000000']) {
    const r = await c.cli(['runs', 'create', '--max-budget-usd', bad]);
    assert.notEqual(r.code, 0, bad);
    assert.match(r.stderr, /--max-budget-usd/);
  }
});

test('no claude, or a machine that is not logged in: the runner refuses before the run starts, and says what to do', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const api = await startModelApi([]);
  t.after(() => api.close());
  const attempt = async (bin: string, env: Record<string, string>) => {
    const run = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
    const r = spawnCcg(['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--claude-bin', bin, '--spool-dir', tempDir(), '--cwd', tempDir(), '--quiet', '--no-collect', '--cmd', 'hello'], { ...env, CCG_RUN_TOKEN: run.token });
    t.after(() => r.child.kill('SIGKILL'));
    const { code } = await r.exited;
    const shown = (JSON.parse((await runCli(['runs', 'show', run.id, '--json'], g.env)).stdout) as { run: RunSummary }).run;
    return { code, run: shown, stderr: r.stderr() };
  };
  const missing = await attempt('/nonexistent/bin/claude', claudeEnv(api.url));
  assert.equal(missing.code, 127);
  assert.equal(missing.run.status, 'failed');
  assert.match(missing.run.reason ?? '', /^Claude Code is not installed on .+: no executable "\/nonexistent\/bin\/claude"\. On that machine, install it .+ or start the runner with --claude-bin PATH, then create a new run\.$/);
  const env = claudeEnv(api.url);
  delete (env as Record<string, string | undefined>)['ANTHROPIC_API_KEY'];
  const out = await attempt(claudeBinary(), env);
  assert.equal(out.run.status, 'failed');
  assert.match(out.run.reason ?? '', /^Claude Code is not logged in on .+, so it cannot work on this run\. On that machine, run `claude` once and log in/);
  assert.doesNotMatch(out.run.reason ?? '', /Please run \/login/);
  assert.equal(api.requests.length, 0, 'Claude never started');
});

test('Claude killed mid-turn leaves an entry saying so; kill -9 of the runner shows "runner lost" and how the run continues', async (t) => {
  const c = await claudeRun(t, [{ text: 'Thinking hard about', stall: true }], { name: 'killed', args: ['--input-wait', '2m'] });
  await c.api.waitForRequests(1);
  const claude = await waitFor(() => childrenOf(c.runner.child.pid!)[0], 20_000, 'claude under the runner');
  process.kill(claude, 'SIGKILL');
  const ended = await c.event('claude_ended');
  assert.deepEqual({ ...ended }, { type: 'claude_ended', code: null, signal: 'SIGKILL', unfinishedTurns: 1 });
  const events = await c.cli(['runs', 'events', c.run.id]);
  assert.match(events.stdout, /! Claude was killed \(SIGKILL\) in the middle of a turn: the turn never finished, and the run ends here\./);
  await c.runner.exited;

  // A second run whose runner is killed -9 while Claude works.
  const d = await claudeRun(t, [{ text: 'Working', stall: true }], { name: 'lost runner', args: ['--input-wait', '2m'] });
  await d.api.waitForRequests(1);
  const orphan = await waitFor(() => childrenOf(d.runner.child.pid!)[0], 20_000, 'claude under the runner');
  t.after(() => {
    try {
      process.kill(orphan, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  d.runner.child.kill('SIGKILL');
  await d.runner.exited;
  await waitFor(async () => ((await show(d, d.run.id)).runnerLostAt ? true : undefined), 20_000, 'the run to show its runner lost');
  const lost = await show(d, d.run.id);
  assert.equal(lost.status, 'running', 'the run stays open');
  assert.equal(lost.runnerConnected, false);
  const list = await d.cli(['runs', 'list']);
  assert.match(list.stdout, new RegExp(`${d.run.id}\\s+running \\(runner lost\\)`));
  // What the phone's header shows (run-status.eta renders these strings).
  const { runView } = await import('../../server/render/run-view.js');
  const view = runView(lost, Date.now());
  assert.equal(view.badge.text, 'running · runner lost');
  assert.match(view.narrative.lost ?? '', /^Runner lost at \d\d:\d\d:\d\d UTC \(on .+\)\. The run stays open: start the runner again on that machine with the same command/);
  await d.cli(['runs', 'cancel', d.run.id]);
});

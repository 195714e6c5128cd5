import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, realpathSync } from 'node:fs';
import { test } from 'node:test';
import { StartRunResponse } from '../../protocol/machine.js';
import { RunResponse } from '../../protocol/api.js';
import type { RunSummary } from '../../protocol/run.js';
import { claudeBinary, claudeEnv } from '../helpers/claude.js';
import { runCli } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';
import { machineRuns, startMachine } from '../helpers/machine.js';
import { lastUserText, startModelApi } from '../helpers/model-api.js';
import { waitFor } from '../helpers/processes.js';
import { gitWorkspace } from '../helpers/workspace.js';

/**
 * Machines end to end: a real gateway, a real `ccg machine start` daemon, a real git repository,
 * the real `claude` against the model stand-in. Runs are started from the API (`ccg runs create
 * --machine`), each in its own worktree; the concurrency limit refuses the next; a continued run
 * resumes Claude's session; kill -9 of the daemon loses no run; revoking closes its socket.
 */

test('start, limit, worktrees, continue, kill -9 of the daemon, revoke', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const api = await startModelApi();
  t.after(() => api.close());
  const repo = realpathSync(gitWorkspace({ 'README': 'hello\n' }));
  const machine = await startMachine(t, g, {
    name: 'box1',
    config: {
      maxRuns: 2,
      runnerArgs: ['--input-wait', '0', '--no-collect', '--grace', '2s'],
      workspaces: { app: { dir: repo, modes: ['default', 'plan'], commands: { status: 'git status --porcelain' }, worktree: true } },
    },
    env: claudeEnv(api.url),
    args: ['--claude-bin', claudeBinary()],
  });
  const m = await machine.online();
  assert.equal(m.info?.workspaces[0]?.name, 'app');
  assert.deepEqual(m.info?.workspaces[0]?.commands, ['status']);
  assert.equal(m.info?.maxRuns, 2);

  const create = (prompt: string, extra: string[] = []) => runCli(['runs', 'create', '--machine', 'box1', '--workspace', 'app', '--prompt', prompt, '--json', ...extra], g.env);
  const show = async (id: string): Promise<RunSummary> => RunResponse.parse(JSON.parse((await runCli(['runs', 'show', id, '--json'], g.env)).stdout)).run;

  // Two runs that stay busy (the model stalls): the machine's limit of two is then reached.
  api.script({ text: 'Thinking about it', stall: true }, { text: 'Thinking too', stall: true });
  const a = await create('first long task', ['--mode', 'plan']);
  assert.equal(a.code, 0, a.stderr);
  const runA = StartRunResponse.parse(JSON.parse(a.stdout));
  assert.equal(runA.state, 'started');
  const b = await create('second long task');
  assert.equal(b.code, 0, b.stderr);
  const runB = StartRunResponse.parse(JSON.parse(b.stdout));
  await api.waitForRequests(2, 60_000);
  const [ra, rb] = await Promise.all([runA.id, runB.id].map((id) => waitFor(async () => {
    const r = await show(id);
    return r.status === 'running' || r.status === 'waiting' ? r : undefined;
  }, 30_000, `run ${id} running`)));
  assert.equal(ra!.origin?.machine, 'box1');
  assert.equal(ra!.origin?.mode, 'plan');
  assert.ok(ra!.runner?.command.includes('--permission-mode') && ra!.runner.command.includes('plan'), 'the mode reached claude');
  // The prompt reached Claude through the runner's stdin, not its command line (which every user
  // of the machine sees in ps).
  assert.ok(api.requests.some((r) => lastUserText(r).includes('first long task')), 'the prompt reached the model');
  const runnerLines = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((p) => {
    try {
      return [readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ')];
    } catch {
      return [];
    }
  }).filter((line) => line.includes(runA.id) && line.includes('runner'));
  assert.ok(runnerLines.length > 0, 'the runner of run A was found');
  for (const line of runnerLines) assert.equal(line.includes('first long task'), false, `in ps: ${line}`);

  // Worktree mode: each run has its own checkout, on its own branch.
  assert.notEqual(ra!.runner!.cwd, rb!.runner!.cwd);
  for (const r of [ra!, rb!]) {
    assert.notEqual(r.runner!.cwd, repo);
    assert.equal(execFileSync('git', ['rev-parse', '--abbrev-ref', 'HEAD'], { cwd: r.runner!.cwd, encoding: 'utf8' }).trim(), `ccg/${r.id}`);
  }

  // The third is refused by the machine, with a clear message, and audited.
  const c = await create('one too many');
  assert.notEqual(c.code, 0);
  assert.match(c.stderr, /box1 refused: this machine runs its maximum of 2 runs at once/);
  const refused = g.gw.store.listAudit({ limit: 50 }).find((e) => e.action === 'machine.refused');
  assert.ok(refused, 'the refusal is audited');
  const started = g.gw.store.listAudit({ limit: 50 }).filter((e) => e.action === 'machine.start');
  assert.equal(started.length, 3);
  assert.equal(started[0]!.actor, 'operator.token (bootstrap)');

  // kill -9 of the daemon: its runs go on; a restarted daemon counts them again.
  machine.proc.child.kill('SIGKILL');
  await machine.proc.exited;
  await waitFor(async () => ((await runCli(['machines', 'show', 'box1', '--json'], g.env)).stdout.includes('"online":false') ? true : undefined), 20_000, 'machine offline');
  const offline = await create('while away');
  assert.notEqual(offline.code, 0);
  assert.match(offline.stderr, /box1 is not connected/);
  assert.equal((await show(runA.id)).status, 'running', 'the run did not notice');
  await machine.restart();
  await machine.online((mm) => mm.info?.running.length === 2);

  // Cancel both; then a run that finishes, and its continuation, which resumes Claude's session.
  for (const id of [runA.id, runB.id]) assert.equal((await runCli(['runs', 'cancel', id, '--json'], g.env)).code, 0);
  for (const id of [runA.id, runB.id]) await waitFor(async () => ((await show(id)).status === 'cancelled' ? true : undefined), 60_000, `run ${id} cancelled`);
  await machine.online((mm) => mm.info?.running.length === 0);

  api.script({ text: 'The answer is 42.' }, { text: 'You asked about the answer before.' });
  const d = StartRunResponse.parse(JSON.parse((await create('what is the answer?')).stdout));
  const ended = await waitFor(async () => {
    const r = await show(d.id);
    return r.status === 'exited' ? r : undefined;
  }, 60_000, 'run d exited');
  assert.equal(ended.exitCode, 0);
  assert.match((await show(d.id)).origin?.sessionId ?? '', /^[0-9a-f-]{36}$/);
  // Continued twice at once (a double tap): one run resumes the session, the other is refused.
  const both = await Promise.all([1, 2].map(() => runCli(['runs', 'continue', d.id, '--prompt', 'what did I ask before?', '--json'], g.env)));
  const cont = both.find((r) => r.code === 0)!;
  assert.ok(cont, both.map((r) => r.stderr).join('\n'));
  const second = both.find((r) => r !== cont)!;
  assert.notEqual(second.code, 0, 'the second continue is refused');
  assert.match(second.stderr, /ERR_CONFLICT|already continued|being continued/);
  const e = StartRunResponse.parse(JSON.parse(cont.stdout));
  await waitFor(async () => ((await show(e.id)).status === 'exited' ? true : undefined), 60_000, 'continued run exited');
  const req = api.requests.at(-1)!;
  assert.equal(lastUserText(req), 'what did I ask before?');
  const texts = JSON.stringify(req.body.messages);
  assert.ok(texts.includes('what is the answer?') && texts.includes('The answer is 42.'), 'the model sees the earlier turns');
  const [dd, ee] = [await show(d.id), await show(e.id)];
  assert.equal(dd.origin?.next, e.id);
  assert.equal(ee.origin?.previous, d.id);
  assert.equal(ee.runner?.cwd, dd.runner?.cwd, 'a continued run works in the checkout it continues');
  const human = await runCli(['runs', 'show', e.id], g.env);
  assert.match(human.stdout, new RegExp(`previous  ${d.id}`));
  assert.ok(g.gw.store.listAudit({ limit: 100 }).some((x) => x.action === 'machine.continue' && x.target === e.id));
  assert.equal(machineRuns(machine.stateDir).length, 4, 'the refused run left no record');

  // Revoke: the socket closes at once and the daemon ends (it cannot come back).
  assert.equal((await runCli(['machines', 'revoke', 'box1', '--json'], g.env)).code, 0);
  const exit = await machine.proc.exited;
  assert.equal(exit.code, 77, machine.proc.stderr());
  assert.match(machine.proc.stderr(), /revoked/);
});

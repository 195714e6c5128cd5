import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import { STREAM_STDOUT } from '../../protocol/frames.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { spawnCcg, type Proc } from '../helpers/processes.js';
import { TMATE_LINKS, writeTmateStandin } from '../helpers/standins.js';
import { GIT_ENV, gitWorkspace } from '../helpers/workspace.js';
import { KEYS, startTui } from './harness.js';

/**
 * Runner powers from the console, against a real gateway and a real runner process: allowlisted
 * commands (`x`), artifacts (`o`), assist sessions (`t`), and a `--pty` run's input (`i`, `K`).
 */

const login = (g: TestGateway, token = g.operatorToken) => ({ url: g.url, token, fingerprint: g.fingerprint });

async function createRun(g: TestGateway, name: string): Promise<CreateRunResponse> {
  const r = await runCli(['runs', 'create', '--name', name, '--json'], g.env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as CreateRunResponse;
}

function keepRunning(t: { after(fn: () => void): void }, p: Proc): Proc {
  t.after(() => void (p.child.exitCode === null && p.child.signalCode === null && p.child.kill('SIGKILL')));
  return p;
}

test('tui: x runs allowlisted commands (output, exit code, a parameter that fails its pattern), o collects, views and saves artifacts, t opens and closes an assist session', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = await createRun(g, 'powers');
  const ws = gitWorkspace({ 'a.txt': 'one\n' });
  writeFileSync(join(ws, 'a.txt'), 'two\n');
  const conf = tempDir('ccg-conf-');
  const allowlist = join(conf, 'allow.json');
  writeFileSync(allowlist, JSON.stringify({ commands: [{ name: 'show', argv: ['git', 'show', '{rev}:a.txt'], params: { rev: { pattern: '[A-Za-z0-9~^]{1,40}' } }, description: 'a.txt at a revision' }] }));
  const tmate = writeTmateStandin(conf);
  const runner = keepRunning(t, spawnCcg(
    [
      'runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', ws, '--quiet', '--spool-dir', tempDir(),
      '--allowlist', allowlist, '--allow', 'hello=echo hello from the runner', '--allow', 'fail=sh -c "echo oops >&2; exit 3"',
      '--assist', '--tmate-bin', tmate, '--', 'sh', '-c', 'echo working; i=0; while [ ! -f stop ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done',
    ],
    { CCG_RUN_TOKEN: run.token, ...GIT_ENV },
  ));
  const tui = startTui(login(g));
  t.after(() => tui.close());
  let f = await tui.until((f) => f.includes('working') && f.includes('x commands'), 'the run, with its commands key', 20_000);

  // x: hello (--allow): its output and exit code.
  await tui.press('x');
  f = await tui.until((f) => f.includes('3 commands you may run') && f.includes('› show'), 'the commands panel');
  assert.ok(f.includes('rev=…') && f.includes('a.txt at a revision'), f);
  await tui.press(KEYS.down, KEYS.enter);
  f = await tui.until((f) => f.includes('hello: exit 0 after') && f.includes('│ hello from the runner'), 'hello ran');
  // fail: stderr, exit 3.
  await tui.press(KEYS.down, KEYS.enter);
  f = await tui.until((f) => f.includes('fail: exit 3 after') && f.includes('│ oops'), 'fail exited 3');
  assert.equal(f.includes('hello from the runner'), false, 'only the new command\u2019s output');

  // show: a parameter that fails its pattern is refused before anything is sent, then asked again.
  const requested = () => g.gw.store.listAudit({ limit: 200 }).filter((e) => e.action === 'command.request').length;
  const before = requested();
  await tui.press(KEYS.up, KEYS.up, KEYS.enter);
  await tui.until((f) => f.includes('show rev ([A-Za-z0-9~^]{1,40}):'), 'the parameter prompt');
  await tui.type('show rev ([A-Za-z0-9~^]{1,40}):', 'HEAD;id');
  await tui.press(KEYS.enter);
  f = await tui.until((f) => f.includes('rev: does not match [A-Za-z0-9~^]{1,40}; type it again') && f.includes('show rev ([A-Za-z0-9~^]{1,40}): HEAD;id'), 'refused, asked again');
  assert.equal(requested(), before, 'nothing was sent');
  for (let i = 0; i < 3; i++) await tui.press('\u007f');
  await tui.until((f) => f.includes('show rev ([A-Za-z0-9~^]{1,40}): HEAD') && !f.includes('HEAD;'), 'edited');
  await tui.press(KEYS.enter);
  f = await tui.until((f) => f.includes('show: exit 0 after') && f.includes('│ one'), 'show HEAD ran');
  assert.equal(requested(), before + 1);
  // An option smuggled in a value is refused as the runner would.
  await tui.press(KEYS.enter);
  await tui.type('show rev ([A-Za-z0-9~^]{1,40}):', '--output=x');
  await tui.press(KEYS.enter);
  await tui.until((f) => f.includes('may not start with "-"'), 'option injection refused');
  await tui.press(KEYS.escape);
  await tui.until((f) => f.includes('show not run'), 'given up');
  await tui.press(KEYS.escape);

  // o: collect now, then the list; Enter views the diff (sanitized, + and - kept), s saves it.
  await tui.press('o');
  await tui.until((f) => f.includes('c collect now'), 'the artifacts panel');
  await tui.press('c');
  f = await tui.until((f) => /collected \d+ artifacts?/.test(f) && f.includes('diff.patch') && f.includes('run.log'), 'collected', 20_000);
  const names = f.split('\n').filter((l) => /^[ ›] /.test(l)).map((l) => l.slice(2).split(/\s+/)[0]);
  await tui.press(...Array.from({ length: names.indexOf('diff.patch') }, () => KEYS.down), KEYS.enter);
  f = await tui.until((f) => f.includes('diff.patch rows 1–') && f.includes('-one') && f.includes('+two'), 'the diff in the pager');
  assert.ok(f.includes('diff --git a/a.txt b/a.txt'), f);
  await tui.press(KEYS.escape);
  await tui.press('s');
  await tui.until((f) => f.includes('Save diff.patch to: diff.patch'), 'the save prompt, with a default');
  const dest = join(tempDir('ccg-save-'), 'saved.patch');
  for (let i = 0; i < 'diff.patch'.length; i++) await tui.press('\u007f');
  await tui.type('Save diff.patch to:', dest);
  await tui.press(KEYS.enter);
  await tui.until((f) => f.includes(`saved diff.patch to ${dest}`), 'saved');
  const saved = readFileSync(dest, 'utf8');
  assert.ok(saved.includes('-one\n+two\n'), saved);
  // An existing file is not overwritten without a yes.
  await tui.press('s');
  for (let i = 0; i < 'diff.patch'.length; i++) await tui.press('\u007f');
  await tui.type('Save diff.patch to:', dest);
  await tui.press(KEYS.enter);
  await tui.until((f) => f.includes('exists. Overwrite it? y/n'), 'the overwrite question');
  await tui.press('n');
  await tui.until((f) => f.includes('not done'), 'kept');
  await tui.press(KEYS.escape);

  // t: start tmate, the links (operators only), stop.
  await tui.press('t');
  f = await tui.until((f) => f.includes('No session open. The runner allows up to 30 min.'), 'the assist panel');
  await tui.press('s');
  f = await tui.until((f) => f.includes(TMATE_LINKS.ssh) && f.includes(TMATE_LINKS.webReadOnly) && f.includes('Session open'), 'the links', 15_000);
  await tui.press('S');
  await tui.until((f) => f.includes('No session open') && !f.includes(TMATE_LINKS.ssh), 'stopped', 15_000);
  await tui.press(KEYS.escape);

  // A viewer: no commands (the default policy), no assist screen.
  const { token } = await createApiToken(g.gw.store, { name: 'looker', role: 'viewer', userId: null, now: Date.now() });
  const viewer = startTui(login(g, token));
  t.after(() => viewer.close());
  await viewer.until((f) => f.includes('working'), 'the viewer sees the run');
  // The artifacts: viewable, and no key offered that a viewer may not use.
  await viewer.press('o');
  const arts = await viewer.until((f) => f.includes('Enter view') && f.includes('s save'), 'the artifacts, for a viewer');
  assert.ok(!arts.includes('collect now'), arts);
  await viewer.press(KEYS.escape);
  await viewer.press('x');
  await viewer.until((f) => f.includes("none for viewer under the gateway's policy: show, hello, fail"), 'no commands for viewers');
  await viewer.press(KEYS.enter);
  await viewer.until((f) => f.includes("your role (viewer) may not run any of this runner's commands"), 'Enter refused');
  await viewer.press(KEYS.escape, 't');
  await viewer.until((f) => f.includes('assist (tmate): needs the admin or operator role (you are viewer)'), 'no assist screen');
  writeFileSync(join(ws, 'stop'), '');
  // The run ends (and uploads its artifacts) before the gateway closes.
  assert.equal((await runner.exited).code, 0, runner.stderr());
});

test('tui: a --pty run takes a typed line (i) and keys (K, until Ctrl-]), with the console\u2019s size', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = await createRun(g, 'terminal');
  const runner = keepRunning(t, spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--quiet', '--no-collect', '--spool-dir', tempDir(), '--pty', '--pty-size', '120x40', '--', 'sh', '-c', 'echo ready; read a; echo "got:$a"; read b; stty size; echo "key:$b"'],
    { CCG_RUN_TOKEN: run.token },
  ));
  const tui = startTui(login(g));
  t.after(() => tui.close());
  let f = await tui.until((f) => f.includes('ready') && f.includes('i input') && f.includes('K keys'), 'the pty run', 20_000);

  await tui.press('i');
  await tui.until((f) => f.includes('Type (sent with Enter):'), 'the line prompt');
  await tui.type('Type (sent with Enter):', 'hello pty');
  await tui.press(KEYS.enter);
  await tui.until((f) => f.includes('got:hello pty') && f.includes(`typed into ${run.id}`), 'the line reached the terminal');

  await tui.press('K');
  f = await tui.until((f) => f.includes('Ctrl-] back to the console') && f.includes(`keys mode: what you type goes to the terminal of ${run.id}`), 'keys mode');
  // q and ? are keys for the terminal now, not for the console.
  await tui.press('q', 'x', '?', KEYS.enter);
  f = await tui.until((f) => f.includes('key:qx?'), 'the keys reached the terminal');
  // The output pane is 80 × 17 at 80×24: the terminal was resized to it when keys mode began.
  assert.ok(f.includes('17 80'), f);
  await tui.press('\u001d');
  await tui.until((f) => f.includes('keys mode is off') && f.includes('? help  q quit'), 'keys mode left');
  assert.equal(tui.exit(), undefined, 'q did not quit the console');
  assert.equal((await runner.exited).code, 0);
  const events = (await runCli(['runs', 'events', run.id, '--json'], g.env)).stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; cols?: number; rows?: number });
  assert.deepEqual(events.filter((e) => e.type === 'pty_resized').map((e) => `${e.cols}x${e.rows}`), ['120x40', '80x17']);
  const logs = await runCli(['runs', 'logs', run.id], g.env);
  assert.ok(logs.stdout.includes('key:qx?'), `${STREAM_STDOUT}: ${logs.stdout}`);
});

test('tui: keys typed after the run of keys mode ended are dropped until Esc, not read as console keys; the selection stays on its run', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = await createRun(g, 'short terminal');
  const runner = keepRunning(t, spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--quiet', '--no-collect', '--spool-dir', tempDir(), '--pty', '--', 'sh', '-c', 'echo ready; read a; echo "bye:$a"'],
    { CCG_RUN_TOKEN: run.token },
  ));
  const tui = startTui(login(g));
  t.after(() => tui.close());
  await tui.until((f) => f.includes('ready') && f.includes('K keys'), 'the pty run', 20_000);
  // A run created elsewhere comes first in the list: the selection stays where it was.
  const other = await createRun(g, 'created elsewhere');
  await tui.until((f) => f.includes(other.id), 'the other run listed');
  assert.match(tui.frame(), new RegExp(`› \\S+ +${run.id}`), 'still on the pty run');

  await tui.press('K');
  await tui.until((f) => f.includes(`keys mode: what you type goes to the terminal of ${run.id}`), 'keys mode');
  await tui.press('l', KEYS.enter);
  await tui.until((f) => f.includes(`keys mode ended with ${run.id}`) && f.includes('Ctrl-] or Esc back to the console'), 'keys mode ended by the run');
  // The operator goes on typing for the terminal: n would open New run, c…y cancel a run, q quit.
  await tui.press('n', 'i', 'c', 'y', 'q');
  const f = tui.frame();
  assert.ok(!f.includes('New run, name') && !f.includes('Cancel run'), f);
  assert.equal(tui.exit(), undefined, 'q did not quit the console');
  await tui.press(KEYS.escape);
  await tui.until((f) => f.includes('keys mode is off') && f.includes('? help  q quit'), 'back to the console');
  assert.equal((await runner.exited).code, 0);
  assert.equal((await runCli(['runs', 'show', other.id, '--json'], g.env)).stdout.includes('"status":"created"'), true, 'the other run was not cancelled');
});

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { claudeRun } from '../helpers/claude-run.js';
import { askStep, editStep, toolResults } from '../helpers/model-api.js';
import { CCG_BIN, spawnCcg, waitFor } from '../helpers/processes.js';

const TICKER = fileURLToPath(new URL('../../../test/fixtures/ticker.mjs', import.meta.url));
const HELP_LINE = '↑↓ select  Enter output  n new  / filter  c cancel  r reconnect  ? help  q quit';
/** A running plain command selected: its runner offers commands (the default allowlist). */
const HELP_RUN = '↑↓ select  Enter output  x commands  n new  / filter  c cancel  ? help  q quit';
// Without tmux these tests fail and say why: a skipped test would let `npm test` pass untested.
const NO_TMUX = spawnSync('tmux', ['-V']).status === 0 ? null : 'tmux is not installed: `bash .ci/run` installs it (or `sudo apt-get install tmux`)';

/** SGR parameters that set a colour (foreground, background, 256 and true colour). */
function colourCodes(screen: string): string[] {
  const found: string[] = [];
  for (const m of screen.matchAll(/\x1b\[([0-9;:]*)m/g)) {
    for (const p of (m[1] ?? '').split(';')) if (/^(3[0-9]|4[0-9]|9[0-7]|10[0-7])$/.test(p) && p !== '39' && p !== '49') found.push(p);
  }
  return found;
}

/** A private tmux server (nothing of the user's tmux is touched, and it is ours to kill) and the ways to drive and read its pane "tui". */
function tmuxSession(t: { after(fn: () => void): void }) {
  const socket = `ccg-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  t.after(() => spawnSync('tmux', ['-L', socket, 'kill-server']));
  // capture-pane prints every row followed by a newline.
  const screen = (escapes = false) => tmux('capture-pane', '-t', 'tui', '-p', ...(escapes ? ['-e'] : [])).replace(/\n$/, '');
  const until = async (check: (s: string) => boolean, what: string, ms = 15_000) => {
    try {
      return await waitFor(() => {
        const s = screen();
        return check(s) ? s : undefined;
      }, ms, what);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- screen ---\n${screen()}\n--------------`);
    }
  };
  const keys = async (...k: string[]) => {
    for (const key of k) {
      tmux('send-keys', '-t', 'tui', key);
      await new Promise((r) => setTimeout(r, 60));
    }
  };
  const type = async (text: string) => {
    tmux('send-keys', '-t', 'tui', '-l', text);
    await new Promise((r) => setTimeout(r, 60));
  };
  /** Starts `ccg tui` at 80×24 in a clean environment (no CI variables): exactly what an operator's shell would give. */
  const start = (g: { url: string; operatorToken: string; fingerprint: string }) => {
    const env = [`PATH=${process.env['PATH']}`, `HOME=${process.env['HOME']}`, 'TERM=xterm-256color', 'NO_COLOR=1', `CCG_GATEWAY=${g.url}`, `CCG_TOKEN=${g.operatorToken}`, `CCG_FINGERPRINT=${g.fingerprint}`];
    const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
    const command = `env -i ${env.map(q).join(' ')} ${q(process.execPath)} ${q(CCG_BIN)} tui; echo EXITED:$?; sleep 60`;
    tmux('new-session', '-d', '-s', 'tui', '-x', '80', '-y', '24', command);
  };
  return { tmux, screen, until, keys, type, start };
}

test('tui in a real terminal: tmux at 80×24 with NO_COLOR, driven by send-keys, read with capture-pane', async (t) => {
  if (NO_TMUX) assert.fail(NO_TMUX);
  const g = await startGateway();
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'in tmux', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--spool-dir', tempDir(), '-q', '--', process.execPath, TICKER, '3000', '50'],
    { CCG_RUN_TOKEN: run.token },
  );
  t.after(() => runner.child.kill('SIGKILL'));
  await waitFor(() => (g.gw.runs.committedSeq(run.id) >= 2 ? true : undefined), 15_000, 'the runner streaming');

  const { tmux, screen, until, keys, type, start } = tmuxSession(t);
  const started = Date.now();
  start(g);
  let s = await until((s) => s.includes(run.id), 'the run listed');
  const listedMs = Date.now() - started;
  s = await until((s) => /^tick \d+$/m.test(s), 'live output');
  const outputMs = Date.now() - started;
  t.diagnostic(`ccg tui in tmux: run listed after ${listedMs} ms, live output after ${outputMs} ms (process start included)`);

  const rows = s.split('\n');
  assert.equal(rows.length, 24, 'capture-pane gives the 24 rows');
  assert.match(rows[0]!, /^─ ccg 127\.0\.0\.1:\d+ · runs 1 ─+$/);
  assert.match(rows[1]!, new RegExp(`^› running\\s+${run.id} \\S+\\s+in tmux`));
  assert.match(rows[2]!, /^─ in tmux · running · following ─+ [0-9a-z]{12}$/);
  assert.equal(rows[22], HELP_RUN);
  assert.ok(rows.every((r) => r.length <= 80), 'nothing wider than the terminal');
  assert.match(s, /● connected as operator\.token \(bootstrap\) \(admin\)/);
  // The runner's hostile first line retitled nothing and cleared nothing, and NO_COLOR holds.
  assert.deepEqual(colourCodes(screen(true)), [], 'no colour with NO_COLOR');
  const title = tmux('display-message', '-p', '-t', 'tui', '#{pane_title}');
  assert.equal(title.includes('pwned'), false, `pane title: ${title}`);

  await keys('?');
  await until((s) => s.includes('Keys (Esc or ? closes)') && s.includes('reconnect'), 'the keys screen');
  await keys('Escape');
  await until((s) => s.includes(HELP_RUN) && s.includes(run.id), 'back');

  await until((s) => /^tick (4\d|[5-9]\d|\d{3,})$/m.test(s), 'more output than fits');
  await keys('Enter');
  await until((s) => s.includes('PgUp older'), 'the output focused');
  await keys('PageUp');
  await until((s) => s.includes('scrolled back'), 'scrolled back');
  await keys('f');
  await until((s) => s.includes('· following'), 'following');
  await keys('Escape');
  await until((s) => s.includes(HELP_RUN), 'the runs focused');

  await keys('n');
  await until((s) => s.includes('New run, name'), 'the name prompt');
  await type('second');
  await keys('Enter');
  s = await until((s) => s.includes('Token (shown once'), 'the new run');
  const second = /Run ([0-9a-z]{12}) created \(second\)/.exec(s)?.[1];
  assert.ok(second, s);
  assert.match(s, /ccgr_[A-Za-z0-9_-]{43}/);
  await keys('Escape');
  await until((s) => s.includes(`› created    ${second}`), 'the new run selected');

  await keys('/');
  await type('tmux');
  await until((s) => s.includes('runs 1/2 matching "tmux"') && !s.includes(second), 'filtered');
  await keys('Escape');
  await until((s) => s.includes('runs 2 ') && s.includes(second), 'unfiltered');

  await keys('c');
  await until((s) => s.includes(`Cancel run ${second} (second)? y/n`), 'the confirmation');
  await keys('y');
  await until((s) => s.includes(`› cancelled  ${second}`), 'cancelled');

  await keys('r');
  await until((s) => s.includes('● connected'), 'connected after r');

  // Resizes cleanly: bigger, then back to 80×24 with no leftovers.
  tmux('resize-window', '-t', 'tui', '-x', '100', '-y', '30');
  s = await until((s) => s.split('\n')[0]!.length === 100, 'the wider layout');
  assert.equal(s.split('\n')[28], HELP_LINE);
  tmux('resize-window', '-t', 'tui', '-x', '80', '-y', '24');
  s = await until((s) => s.split('\n')[0]!.length === 80 && s.split('\n')[22] === HELP_LINE, 'back to 80×24');
  assert.equal(s.split('\n').filter((r) => r.startsWith('─ ccg ')).length, 1, `one frame, no leftovers:\n${s}`);
  assert.equal(s.split('\n')[23], '');

  await keys('q');
  await until((s) => s.includes('EXITED:0'), 'quit, exit code 0, the shell screen restored');
  assert.equal(screen().includes('─ ccg'), false, 'the alternate screen is gone');
  // The runner goes before the gateway closes (cleanup hooks run in the order they were added).
  runner.child.kill('SIGKILL');
  await runner.exited;
});

test('tui in a real terminal: approve a Claude tool use and run an allowlisted command by keys, at 80×24 with NO_COLOR', async (t) => {
  if (NO_TMUX) assert.fail(NO_TMUX);
  const N = 3;
  const steps = Array.from({ length: N }, (_, i) => ({ text: `Step ${i}.`, tools: [{ name: 'Bash', input: { command: `touch tmux-${i}.txt`, description: 'Touch' } }] }));
  const c = await claudeRun(t, [...steps, { text: 'Created them.' }], { prompt: 'make files', args: ['--input-wait', '30s', '--allow', 'hello=echo hello from the allowlist'] });
  const { tmux, screen, until, keys, start } = tmuxSession(t);
  start(c.g);

  let s = await until((s) => s.includes('⏳ 1 approval: Bash touch tmux-0.txt (a)') && s.includes('◆ Claude: Step 0.') && s.includes('⚙ Bash: touch tmux-0.txt'), 'the timeline and the approval banner', 60_000);
  assert.equal(s.split('\n')[22], '↑↓ select  Enter output  a approvals  i input  x commands  n new  ? help  q quit');
  await keys('a');
  // Each approval, answered with y as it comes; timed from the key press (tmux → the console's
  // pty → ccg tui → gateway → runner → claude) to Claude's next request to the model.
  const roundTrips: number[] = [];
  for (let i = 0; i < N; i++) {
    s = await until((s) => s.includes('1 approval open') && s.includes(`"command": "touch tmux-${i}.txt"`), `approval ${i} on the approvals screen`, 30_000);
    assert.ok(s.split('\n').every((r) => r.length <= 80), s);
    const pressed = performance.now();
    tmux('send-keys', '-t', 'tui', 'y');
    roundTrips.push((await c.api.waitForRequests(i + 2, 30_000))[i + 1]!.receivedAt - pressed);
  }
  t.diagnostic(`approval round trip in a real terminal (send-keys y → Claude's next model request): ${roundTrips.map((ms) => ms.toFixed(1)).join(', ')} ms`);
  await until((s) => s.includes('No approval waiting'), 'all approved');
  await keys('Escape');
  s = await until((s) => s.includes('◆ Claude: Created them.') && s.includes('Claude waits for a follow-up (i)'), 'Claude continued', 30_000);
  assert.ok(s.includes('✔ Bash allowed by operator.token (bootstrap)'), s);

  await keys('x');
  await until((s) => s.includes('1 command you may run') && s.includes('› hello'), 'the commands screen');
  await keys('Enter');
  s = await until((s) => s.includes('hello: exit 0 after') && s.includes('│ hello from the allowlist'), 'the command ran');
  assert.deepEqual(colourCodes(screen(true)), [], 'no colour with NO_COLOR');
  assert.ok(s.split('\n').every((r) => r.length <= 80), s);
  await keys('Escape', 'q');
  await until((s) => s.includes('EXITED:0'), 'quit');
  // Ended before the gateway closes.
  assert.equal((await c.cli(['runs', 'cancel', c.run.id])).code, 0);
  await c.runner.exited;
});

test('tui in a real terminal: answer Claude\'s question by number, read an edit diff and allow all edits, switch the mode and stop a turn, at 80×24', async (t) => {
  if (NO_TMUX) assert.fail(NO_TMUX);
  const c = await claudeRun(t, [askStep([{ question: 'Which port?', header: 'Port', options: [{ label: '8080', description: 'the usual' }, { label: '9090', description: 'free here' }] }])], { prompt: 'serve it', args: ['--input-wait', '2m'] });
  const file = join(c.cwd, 'server.ts');
  writeFileSync(file, 'listen(8080);\n// \u001b]52;c;ZXZpbA==\u0007 hostile\n');
  c.api.script(editStep(file, 'listen(8080)', 'listen(9090)'), { text: 'Port changed.' });
  const { screen, until, keys, type, start } = tmuxSession(t);
  start(c.g);
  await until((s) => s.includes('⏳ 1 approval: AskUserQuestion Which port? (a)'), 'the question banner', 60_000);
  await keys('a');
  let s = await until((s) => s.includes('1. [Port] Which port?') && s.includes('2) 9090 — free here'), 'the question with its options');
  await keys('y');
  await until((s) => s.includes('Answer: an option number'), 'the answer prompt');
  const pressed = performance.now();
  await type('2');
  await keys('Enter');
  const next = (await c.api.waitForRequests(2, 30_000))[1]!;
  t.diagnostic(`AskUserQuestion round trip in a real terminal (Enter on the answer → Claude's next model request): ${(next.receivedAt - pressed).toFixed(1)} ms`);
  assert.match(toolResults(next)[0]!, /"Which port\?"="9090"/);

  s = await until((s) => s.includes('-listen(8080);') && s.includes('+listen(9090);') && s.includes('A allows all edits this session'), 'the edit diff', 30_000);
  assert.ok(s.split('\n').every((r) => r.length <= 80), s);
  assert.doesNotMatch(screen(true), /\u001b\]52/, 'no OSC 52 from the file reaches the terminal');
  await keys('A');
  await waitFor(() => (readFileSync(file, 'utf8').startsWith('listen(9090);') ? true : undefined), 30_000, 'the edit on disk');
  await until((s) => s.includes('No approval waiting'), 'answered');
  await keys('Escape');
  await until((s) => s.includes('mode: allow all edits (acceptEdits), set by') || s.includes('mode: allow all edits (acceptEdits)'), 'the mode change in the timeline', 30_000);

  await keys('m');
  await until((s) => s.includes('Mode:  allow all edits (acceptEdits)') && s.includes('3  plan only (plan)'), 'the session screen');
  await keys('3');
  await until((s) => s.includes('Mode:  plan only (plan)'), 'the mode switched', 30_000);
  c.api.script({ text: 'A very long thought', stall: true });
  const m = c.api.requests.length;
  assert.equal((await c.cli(['runs', 'input', c.run.id, 'think hard'])).code, 0);
  await c.api.waitForRequests(m + 1, 30_000);
  await keys('S');
  await waitFor(() => (c.api.requests[m]!.aborted ? true : undefined), 30_000, 'the turn stopped');
  await c.event('claude_result', (e) => e.subtype === 'error_during_execution');
  assert.equal(c.runner.child.exitCode, null, 'the session stays open');
  await keys('Escape');
  // The run's mode shows beside it wherever the run shows: here, the output's title.
  await until((s) => s.includes(`plan only (m) · ${c.run.id}`), 'the mode in the title');
  await keys('q');
  await until((s) => s.includes('EXITED:0'), 'quit');
  assert.equal((await c.cli(['runs', 'cancel', c.run.id])).code, 0);
  await c.runner.exited;
});

test('tui in a real terminal: the new run\'s command is one line the terminal wraps, y puts it on the clipboard with OSC 52, two Backspaces in one write edit', async (t) => {
  if (NO_TMUX) assert.fail(NO_TMUX);
  const g = await startGateway();
  t.after(() => g.close());
  const { tmux, screen, until, keys, type, start } = tmuxSession(t);
  start(g);
  await until((s) => s.includes('no runs yet'), 'the empty console');
  // tmux keeps what applications send with OSC 52 (its default passes on only its own copies).
  tmux('set-option', '-s', 'set-clipboard', 'on');
  const COMMAND = /^CCG_RUN_TOKEN=ccgr_[A-Za-z0-9_-]{43} ccg runner start --gateway https?:\/\/127\.0\.0\.1:\d+ --fingerprint \S+ --run-id ([0-9a-z]{12}) --cmd 'your prompt'$/;
  /** The screen with the terminal's wrapped rows joined (what a mouse copy gives). */
  const joined = () => tmux('capture-pane', '-t', 'tui', '-p', '-J').split('\n').map((l) => l.trimEnd());
  /** The same as a yes/no, to wait for: a resize reaches the console a moment after tmux re-lays the pane out. */
  const isIntact = (s: string, columns: number, title: string) => {
    const rows = s.split('\n');
    return rows.length === 24 && rows[0]!.startsWith(`─ ${title} `) && rows[0]!.length === columns && rows.every((r) => r.length <= columns) && rows[23] === '';
  };
  const intact = (s: string, columns: number, title: string) => {
    const rows = s.split('\n');
    assert.equal(rows.length, 24, s);
    assert.ok(rows[0]!.startsWith(`─ ${title} `) && rows[0]!.length === columns, `the frame starts at the top:\n${s}`);
    assert.ok(rows.every((r) => r.length <= columns), s);
    assert.equal(rows[23], '', `the last row is free:\n${s}`);
    return rows;
  };

  await keys('n');
  await until((s) => s.includes('New run, name'), 'the name prompt');
  await type('wrapped');
  await keys('Enter');
  let s = await until((s) => s.includes('Token (shown once'), 'the new run screen');
  let rows = intact(s, 80, 'new run');
  assert.equal(rows[22], 'y copy the command (OSC 52)  Esc back');
  let command = joined().find((l) => l.startsWith('CCG_RUN_TOKEN='));
  assert.match(command ?? '', COMMAND, `one line once the terminal's wrap is joined:\n${joined().join('\n')}`);
  const id = COMMAND.exec(command!)![1]!;

  // Wider: the frame is laid out again for the fewer rows the command takes.
  tmux('resize-window', '-t', 'tui', '-x', '120', '-y', '24');
  s = await until((s) => s.split('\n')[0]!.length === 120, 'the wider layout');
  intact(s, 120, 'new run');
  assert.equal(joined().find((l) => l.startsWith('CCG_RUN_TOKEN=')), command);
  tmux('resize-window', '-t', 'tui', '-x', '80', '-y', '24');
  s = await until((s) => isIntact(s, 80, 'new run'), 'back to 80 columns');

  // y: the clipboard (tmux's buffer here); the redraw with the message keeps the frame in place.
  await keys('y');
  s = await until((s) => s.includes('sent the runner command') && isIntact(s, 80, 'new run'), 'the copy message, laid out at 80 columns');
  rows = intact(s, 80, 'new run');
  assert.equal(tmux('show-buffer'), command);
  assert.ok(joined().join(' ').replace(/\s+/g, ' ').includes('(tmux: set -g set-clipboard on)'), 'the message is whole');

  await keys('Escape');
  s = await until((s) => s.includes(`› created    ${id}`), 'back to the list');
  rows = intact(s, 80, 'ccg');
  assert.equal(rows[22], HELP_LINE);
  assert.equal(rows.filter((r) => r.startsWith('─ ccg ')).length, 1, `one frame, no leftovers:\n${s}`);
  assert.equal(s.includes('CCG_RUN_TOKEN') || s.includes('sent the runner command'), false, s);

  // Two Backspaces in one write to the terminal, then one more on its own.
  await keys('/');
  await type('wrappedzz');
  await until((s) => s.includes('runs 0/1 matching "wrappedzz"'), 'nothing matches');
  tmux('send-keys', '-t', 'tui', '-H', '7f', '7f');
  await until((s) => s.includes('runs 1/1 matching "wrapped"'), 'two characters off');
  await keys('BSpace');
  s = await until((s) => s.includes('runs 1/1 matching "wrappe"'), 'one more');
  assert.equal(s.split('\n')[20]!.trimEnd(), 'Filter: wrappe');
  await keys('Escape', 'q');
  await until((s) => s.includes('EXITED:0'), 'quit');
  assert.equal(screen().includes('─ ccg'), false);
});

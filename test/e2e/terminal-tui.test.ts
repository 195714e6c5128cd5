import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { claudeBinary, claudeEnv, trustForInteractive } from '../helpers/claude.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { startModelApi } from '../helpers/model-api.js';
import { waitFor } from '../helpers/processes.js';
import { ptyRun } from '../helpers/terminal.js';
import { tmuxTui } from '../helpers/tmux.js';

const line = (n: number) => `line ${String(n).padStart(3, '0')} of the known file`;

test('tui terminal pane: less through a pty run is drawn from its emulated screen (tmux 80x24); keys mode resizes it to the pane, sends every key, Ctrl-] leaves', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const cwd = tempDir('ccg-less-tui-');
  writeFileSync(join(cwd, 'numbers.txt'), Array.from({ length: 200 }, (_, i) => `${line(i + 1)}\n`).join(''));
  const { runner } = await ptyRun(t, g, ['less', 'numbers.txt'], { cwd, size: '60x20', env: { LESSHISTFILE: '-', LESS: '' } });
  const { screen, until, keys } = tmuxTui(t, g);
  // The pane shows the bottom of the 60x20 screen: the file's lines up to 19, then less's prompt.
  let s = await until((s) => s.includes(line(19)) && /terminal 60x20/.test(s), 'the terminal screen in the pane');
  const rows = s.split('\n');
  const at = rows.findIndex((r) => r.startsWith(line(19)));
  assert.match(rows[at + 1]!, /^(numbers\.txt|:)/);
  for (let i = 1; i <= 5; i++) assert.equal(rows[at - i], line(19 - i));

  await keys('K');
  s = await until((s) => s.includes('keys mode') && s.includes(line(1)), 'keys mode: less redrawn at the pane size');
  const size = /terminal (\d+)x(\d+)/.exec(s)!;
  const paneRows = Number(size[2]);
  assert.ok(Number(size[1]) === 80 && paneRows < 20, s);
  let lines = s.split('\n');
  let top = lines.findIndex((r) => r.startsWith(line(1)));
  assert.deepEqual(lines.slice(top, top + paneRows - 1), Array.from({ length: paneRows - 1 }, (_, i) => line(i + 1)));

  await keys('Down');
  s = await until((s) => s.includes(line(paneRows)) && !s.includes(line(1)), 'one line down');
  lines = s.split('\n');
  top = lines.findIndex((r) => r.startsWith(line(2)));
  assert.deepEqual(lines.slice(top, top + paneRows - 1), Array.from({ length: paneRows - 1 }, (_, i) => line(i + 2)));

  await keys('q');
  const { code } = await runner.exited;
  assert.equal(code, 0, runner.stderr());
  await keys('C-]');
  await until((s) => !s.includes('keys mode: what you type'), 'keys mode off');
  assert.ok(screen().split('\n').every((r) => r.length <= 80));
});

/** Hostile terminal output: a title, OSC 52, huge CSI counts, a bidi override, then 10 MB without a newline. */
const HOSTILE = `const w=(s)=>process.stdout.write(s);
w('\\x1b]0;HACKED TITLE\\x07\\x1b]2;HACKED TITLE\\x1b\\\\');
w('\\x1b]52;c;'+Buffer.from('pwned by the runner').toString('base64')+'\\x07');
w('\\x1b[99999999S\\x1b[99999999L\\x1bx\\x1b[999999999b\\r\\n');
w('safe \\u202eevil\\u202c text\\r\\n');
const block='B'.repeat(1024*1024);let n=0;
(function more(){ if(n++<10){ if(process.stdout.write(block)) setImmediate(more); else process.stdout.once('drain',more); } else { w('\\r\\nEND-OF-HOSTILE\\r\\n'); setTimeout(()=>{},60000); } })();`;

test('tui terminal pane: hostile bytes (titles, OSC 52, huge CSI counts, bidi, 10 MB without a newline) never reach the operator’s terminal and never freeze the console', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await ptyRun(t, g, ['node', '-e', HOSTILE], { size: '80x24' });
  const { tmux, screen, until, keys } = tmuxTui(t, g, { color: true });
  const s = await until((s) => s.includes('END-OF-HOSTILE') && /terminal 80x24/.test(s), 'the marker after 10 MB', 120_000);
  assert.ok(s.split('\n').every((r) => r.length <= 80), s);
  assert.equal(tmux('display-message', '-p', '-t', 'tui', '#{pane_title}').includes('HACKED'), false);
  // With set-clipboard on, an OSC 52 that reached the pane would be a tmux buffer.
  assert.equal(tmux('list-buffers').trim(), '');
  assert.equal(screen(true).includes('\u202e'), false, 'the bidi override is shown, not obeyed');
  // Still answering keys at once.
  await keys('?');
  await until((s) => s.includes('Keys (Esc or ? closes)'), 'the help screen');
});

test('tui terminal pane: interactive claude in a pty asks for permission; the operator reads it in tmux 80x24, presses Enter in keys mode, and the tool runs on disk', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const api = await startModelApi([
    { text: 'I will create the file.', tools: [{ name: 'Bash', input: { command: 'touch made-from-tui.txt', description: 'Create made-from-tui.txt' } }] },
    { text: 'Created it from the console.' },
  ]);
  t.after(() => api.close());
  const cwd = tempDir('ccg-pty-claude-tui-');
  const env = claudeEnv(api.url);
  trustForInteractive(env, cwd);
  const { run, runner } = await ptyRun(t, g, [], { size: '100x30', cwd, env, args: ['--grace', '2s', '--claude-bin', claudeBinary(), '--claude-arg=--permission-mode', '--claude-arg=default', '--cmd', 'make the file'] });
  const { until, keys } = tmuxTui(t, g, { color: true });
  await until((s) => s.includes(run.id) && /terminal \d+x\d+/.test(s), 'the pty run in the console');
  await keys('K');
  const squash = (s: string) => s.replace(/\s+/g, '');
  const s = await until((s) => /terminal 80x17/.test(s) && squash(s).includes('Doyouwanttoproceed?') && squash(s).includes('1.Yes'), 'the permission prompt in the pane', 90_000);
  assert.ok(s.includes('touch made-from-tui.txt'), s);
  assert.ok(!existsSync(join(cwd, 'made-from-tui.txt')));
  await keys('Enter');
  await waitFor(() => (existsSync(join(cwd, 'made-from-tui.txt')) ? true : undefined), 60_000, 'the tool ran on disk');
  await until((s) => squash(s).includes('Createditfromtheconsole.'), 'Claude\u2019s answer in the pane', 60_000);
  await keys('C-]');
  assert.equal((await runCli(['runs', 'cancel', run.id], g.env)).code, 0);
  await runner.exited;
});

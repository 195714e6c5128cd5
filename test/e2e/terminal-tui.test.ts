import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startGateway, tempDir } from '../helpers/gateway.js';
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

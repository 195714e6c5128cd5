import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CCG_BIN, waitFor } from './processes.js';

/**
 * A private tmux server (nothing of the user's tmux is touched, and it is ours to kill) running
 * `ccg tui` in a pane "tui" at 80×24, and the ways to drive and read it.
 */
export function tmuxTui(t: { after(fn: () => void): void }, g: { url: string; operatorToken: string; fingerprint: string }, opts: { color?: boolean } = {}) {
  const socket = `ccg-term-${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  t.after(() => spawnSync('tmux', ['-L', socket, 'kill-server']));
  const screen = (escapes = false) => tmux('capture-pane', '-t', 'tui', '-p', ...(escapes ? ['-e'] : [])).replace(/\n$/, '');
  const until = async (check: (s: string) => boolean, what: string, ms = 30_000) => {
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
      await new Promise((r) => setTimeout(r, 80));
    }
  };
  const env = [`PATH=${process.env['PATH']}`, `HOME=${process.env['HOME']}`, 'TERM=xterm-256color', ...(opts.color ? [] : ['NO_COLOR=1']), `CCG_GATEWAY=${g.url}`, `CCG_TOKEN=${g.operatorToken}`, `CCG_FINGERPRINT=${g.fingerprint}`];
  const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  // set-clipboard on: an OSC 52 that reached the pane would land in tmux's buffers, where the test looks.
  tmux('new-session', '-d', '-s', 'tui', '-x', '80', '-y', '24', `env -i ${env.map(q).join(' ')} ${q(process.execPath)} ${q(CCG_BIN)} tui; echo EXITED:$?; sleep 60`);
  tmux('set-option', '-g', 'set-clipboard', 'on');
  return { tmux, screen, until, keys };
}

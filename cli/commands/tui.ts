import { Command } from 'clipanion';
import { ApiClient } from '../client/api.js';
import { OperatorClient } from '../client/operator-client.js';
import { CliError, EXIT, EXIT_CODES_HELP } from '../exit-codes.js';
import { createTuiApi } from '../tui/api.js';
import { GatewayCommand } from './base.js';

// The alternate screen (as less, vim and htop use): the console leaves the shell's scrollback alone.
const ENTER_ALT_SCREEN = '\x1b[?1049h\x1b[H';
const LEAVE_ALT_SCREEN = '\x1b[?1049l';
const CLEAR_SCREEN = '\x1b[2J\x1b[3J\x1b[H';

export class TuiCommand extends GatewayCommand {
  static override paths = [['tui']];
  static override usage = Command.Usage({
    category: 'Console',
    description: 'The operator console: runs, live output and Claude timelines, approvals, input, commands, artifacts, assist',
    details: `
      A terminal UI over the same operator WebSocket as \`ccg runs logs --follow\`. Works over SSH,
      in tmux and in 80×24; set NO_COLOR to turn colours off.

      Keys: ↑/↓ select a run · Enter focus its output (↑/↓ PgUp/PgDn scroll back, older output
      pages in from the gateway; f or End follows again; Esc back) · n new run (shows its id,
      its token once and the runner command; y copies it with OSC 52) · / filter · c cancel the selected run (asks
      first) · r reconnect now · p the command policy (admins) · ? all keys · q quit.

      For the selected run: a its approvals (y approve, n deny with a message, A always allow;
      the first answer wins) · i a follow-up prompt for Claude, or a line for a --pty run · K
      keys mode for a --pty run (Ctrl-] ends it) · x the allowlisted commands your role may run
      (Enter runs one; output and exit code below) · v the raw stream-json instead of Claude's
      timeline · o artifacts (c collect, Enter view, s save) · t an assist session (s start,
      S stop; operators and admins). The help line shows the keys that matter for the run.

      If the gateway goes away it shows "reconnecting…" and resumes each run's output from the
      last chunk it has, with nothing doubled or lost. Runner output is shown with every terminal
      control sequence removed (colours are kept as data and drawn by the console itself).

      ${EXIT_CODES_HELP.replace(/\n/g, "\n      ")}
    `,
    examples: [
      ['Open the console', 'ccg tui'],
      ['Against another gateway', 'ccg tui --gateway https://gw.example:3100 --fingerprint sha256:…'],
      ['Without colours', 'NO_COLOR=1 ccg tui'],
    ],
  });

  protected async run(): Promise<number> {
    const stdout = this.context.stdout as NodeJS.WriteStream;
    const stdin = this.context.stdin as NodeJS.ReadStream;
    if (!stdout.isTTY || !stdin.isTTY) {
      throw new CliError('ccg tui needs a terminal; in scripts use `ccg runs … --json` (see docs/CI.md)');
    }
    const target = this.target();
    // Ink switches to a non-interactive mode when CI or CONTINUOUS_INTEGRATION is set; this is a
    // person at a terminal (checked above), so it must not. Ink reads this once, when loaded, and
    // is loaded only here (the other commands start without React), while the socket connects.
    for (const k of ['CI', 'CONTINUOUS_INTEGRATION']) if (k in process.env) process.env[k] = 'false';
    const modules = Promise.all([import('react'), import('ink'), import('../tui/app.js')]);
    modules.catch(() => undefined);
    const client = new OperatorClient(target, { reconnect: true, client: 'ccg-tui', failFast: true });
    // Connect before taking over the screen, so a wrong URL or token is one clear line in the shell.
    await new Promise<void>((resolve, reject) => {
      const onState = (s: string) => {
        if (s !== 'open') return;
        client.off('fatal', onFatal);
        client.off('state', onState);
        resolve();
      };
      const onFatal = (err: CliError) => {
        client.off('state', onState);
        reject(err);
      };
      client.on('state', onState);
      client.once('fatal', onFatal);
      client.start();
    });
    const color = !this.context.env['NO_COLOR'];
    const [{ createElement }, { render }, { App }] = await modules;
    const api = createTuiApi(new ApiClient(target));
    let result: { code: number; error?: CliError } = { code: EXIT.OK };
    const onResize = () => stdout.write(CLEAR_SCREEN);
    stdout.write(ENTER_ALT_SCREEN);
    // Registered before Ink's own listener: the old frame is wiped before the new size is drawn.
    stdout.on('resize', onResize);
    try {
      const app = render(
        createElement(App, { client, api, gateway: target.gateway, theme: { color }, onExit: (r) => (result = r) }),
        { stdout, stdin, stderr: this.context.stderr as NodeJS.WriteStream, exitOnCtrlC: false, patchConsole: true },
      );
      // A closed SSH session (SIGHUP) or a kill (SIGTERM): unmount, so the terminal is given back.
      const stop = () => app.unmount();
      process.once('SIGTERM', stop);
      process.once('SIGHUP', stop);
      try {
        await app.waitUntilExit();
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGHUP', stop);
      }
    } finally {
      stdout.off('resize', onResize);
      client.close();
      stdout.write(LEAVE_ALT_SCREEN);
    }
    if (result.error) throw result.error;
    return result.code;
  }
}

import { Builtins, Cli } from 'clipanion';
import { ServeCommand } from './commands/serve.js';
import { VERSION } from './version.js';

/**
 * `ccg serve` on its own: bin/ccg comes here for `serve` so that the gateway process loads only
 * the gateway, not the runner, the TUI or the client commands. That keeps its memory and start
 * time down (measured by `npm run bench`: about 10 MB of RSS less). `ccg serve --help` still
 * works; `ccg --help` lists every command through cli/main.ts.
 */
export async function main(argv: string[], binaryName = 'ccg'): Promise<number> {
  const enableColors = Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'];
  const cli = new Cli({ binaryLabel: 'ccg — Claude Code connect-back gateway', binaryName, binaryVersion: VERSION, enableColors });
  cli.register(Builtins.HelpCommand);
  cli.register(ServeCommand);
  return cli.run(argv);
}

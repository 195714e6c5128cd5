import { Builtins } from 'clipanion';
import { clipanionCli } from './app.js';
import { ServeCommand } from './commands/serve.js';

/**
 * `ccg serve` on its own: bin/ccg comes here for `serve` so that the gateway process loads only
 * the gateway, not the runner, the TUI or the client commands. That keeps its memory and start
 * time down (measured by `npm run bench`: about 10 MB of RSS less). `ccg serve --help` still
 * works; `ccg --help` lists every command through cli/main.ts.
 */
export async function main(argv: string[], binaryName = 'ccg'): Promise<number> {
  const cli = clipanionCli(binaryName);
  cli.register(Builtins.HelpCommand);
  cli.register(ServeCommand);
  return cli.run(argv);
}

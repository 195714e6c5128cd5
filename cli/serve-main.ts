import { runCommandLine } from './app.js';

/**
 * `ccg serve` on its own: bin/ccg comes here for `serve` so that the gateway process loads only
 * the gateway, not the runner, the TUI or the client commands. That keeps its memory and start
 * time down (measured by `npm run bench`: about 10 MB of RSS less). It parses like every other
 * command (cli/app.ts: named option values in help, usage errors on stderr) but without
 * cli/main.ts's exit on a closed stdout: a gateway keeps serving when nobody reads its log.
 */
export async function main(argv: string[], binaryName = 'ccg'): Promise<number> {
  return runCommandLine(argv, {}, binaryName);
}

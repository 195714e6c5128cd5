import type { BaseContext } from 'clipanion';
import { quietOnClosedPipe } from './closed-pipe.js';
import { COMMANDS, GROUPS, candidates, commandName, type CommandEntry } from './command-table.js';
import { EXIT_CODES_HELP } from './exit-codes.js';
import { VERSION } from './version.js';

/** What `createCli()` gives: run one command line, get its exit code. */
export interface CcgCli {
  run(argv: string[], context?: Partial<BaseContext>): Promise<number>;
}

const LABEL = 'ccg — Claude Code connect-back gateway';

/**
 * `ccg --help`, `ccg help` and `ccg` alone: every command once, by category, from the command
 * table, so printing it loads no command's code (and not clipanion).
 */
export function generalHelp(commands: readonly CommandEntry[] = COMMANDS, binaryName = 'ccg'): string {
  const categories = [...new Set(commands.map((c) => c.category))];
  const width = Math.max(...commands.map((c) => commandName(c).length)) + binaryName.length + 1;
  const lines = [`${LABEL} - ${VERSION}`, '', `  $ ${binaryName} <command> [options]`];
  for (const category of categories) {
    lines.push('', category);
    for (const c of commands.filter((e) => e.category === category)) lines.push(`  ${`${binaryName} ${commandName(c)}`.padEnd(width)}  ${c.description}`);
  }
  lines.push(
    '',
    `Options and examples of one command: ${binaryName} COMMAND --help (or ${binaryName} help COMMAND); a group: ${binaryName} ${GROUPS[0]} --help.`,
    EXIT_CODES_HELP,
  );
  return lines.join('\n') + '\n';
}

/**
 * The `ccg` command line. Commands return exit codes; only bin/ccg touches process.exitCode.
 * The version and the general help answer at once; anything else loads clipanion and the code of
 * the command asked for, and no other (cli/app.ts).
 */
export function createCli(binaryName = 'ccg'): CcgCli {
  return {
    async run(argv, context = {}) {
      const stdout = context.stdout ?? process.stdout;
      // `--json` beside --version or --help (a script's habit) asks for the same, not a command "".
      const bare = argv.filter((a) => a !== '--json');
      if (bare.length === 1 && (bare[0] === '--version' || bare[0] === '-v')) {
        stdout.write(bare.length < argv.length ? `${JSON.stringify({ version: VERSION })}\n` : `${VERSION}\n`);
        return 0;
      }
      if (bare.length === 0 || (bare.length === 1 && ['--help', '-h', 'help'].includes(bare[0]!))) {
        stdout.write(generalHelp(COMMANDS, binaryName));
        return 0;
      }
      const { runCommandLine } = await import('./app.js');
      return runCommandLine(argv, context, binaryName);
    },
  };
}

/** bin/ccg's entry: one command line of this process. */
export async function main(argv: string[], binaryName = 'ccg'): Promise<number> {
  quietOnClosedPipe(argv[0] === 'runner' || argv[0] === 'machine');
  return createCli(binaryName).run(argv);
}

/** argv runs a `oneShot` command (cli/command-table.ts): bin/ccg may exit once the output is written. */
export function endsWithItsOutput(argv: readonly string[]): boolean {
  const wanted = candidates(argv);
  return wanted.length === 1 && wanted[0]!.oneShot === true;
}

/** Exits with `code` once everything written to stdout and stderr has been handed to the OS. */
export async function exitWhenWritten(code: number): Promise<never> {
  for (const stream of [process.stdout, process.stderr]) await new Promise<void>((resolve) => stream.write('', () => resolve()));
  process.exit(code);
}

import { Builtins, Cli, type BaseContext, type Command } from 'clipanion';
import { DoctorCommand } from './commands/doctor.js';
import { PolicySetCommand } from './commands/policy/set.js';
import { PolicyShowCommand } from './commands/policy/show.js';
import { LoginCommand } from './commands/login.js';
import { LogoutCommand } from './commands/logout.js';
import { RunnerStartCommand } from './commands/runner/start.js';
import { RunsCancelCommand } from './commands/runs/cancel.js';
import { RunsCommandsCommand } from './commands/runs/commands.js';
import { RunsExecCommand } from './commands/runs/exec.js';
import { RunsArtifactsCommand } from './commands/runs/artifacts.js';
import { RunsAssistCommand } from './commands/runs/assist.js';
import { RunsCollectCommand } from './commands/runs/collect.js';
import { TunnelCommand } from './commands/tunnel.js';
import { RunsCreateCommand } from './commands/runs/create.js';
import { RunsListCommand } from './commands/runs/list.js';
import { RunsLogsCommand } from './commands/runs/logs.js';
import { RunsShowCommand } from './commands/runs/show.js';
import { RunsWaitCommand } from './commands/runs/wait.js';
import { RunsApprovalsCommand } from './commands/runs/approvals.js';
import { RunsApproveCommand } from './commands/runs/approve.js';
import { RunsDenyCommand } from './commands/runs/deny.js';
import { RunsEventsCommand } from './commands/runs/events.js';
import { RunsInputCommand } from './commands/runs/input.js';
import { ServeCommand } from './commands/serve.js';
import { TuiCommand } from './commands/tui.js';
import { EXIT, EXIT_CODES_HELP } from './exit-codes.js';
import { VERSION } from './version.js';

/**
 * Clipanion prints usage errors (unknown option, missing argument) on stdout. Scripts read
 * stdout as data, so ccg reports them like every other error: one line on stderr, JSON with
 * --json, exit 1.
 */
function reportUsageErrors(cli: Cli): void {
  const run = cli.run.bind(cli) as (input: Command<BaseContext> | string[], ctx: Partial<BaseContext>) => Promise<number>;
  const wrapped = async (input: Command<BaseContext> | string[], ctx: Partial<BaseContext> = {}): Promise<number> => {
    if (!Array.isArray(input)) return run(input, ctx);
    let command: Command<BaseContext>;
    try {
      command = cli.process(input, ctx);
    } catch (err) {
      const stderr = ctx.stderr ?? process.stderr;
      const first = ((err as Error).message || String(err)).split('\n')[0]!.replace(/[;:,]\s*$/, '');
      const words = input.filter((a) => !a.startsWith('-'));
      const message = /^Command not found/.test(first)
        ? `unknown command "${words.join(' ').slice(0, 80)}" (see ccg --help)`
        : `${first} (see ccg ${words.slice(0, 2).join(' ')} --help)`;
      if (input.includes('--json')) stderr.write(JSON.stringify({ error: { code: 'ERR_USAGE', message, exit: EXIT.ERROR } }) + '\n');
      else stderr.write(`ccg: ${message}\n`);
      return EXIT.ERROR;
    }
    return run(command, ctx);
  };
  cli.run = wrapped as typeof cli.run;
}

/** The `ccg` command line. Commands return exit codes; only bin/ccg touches process.exitCode. */
export function createCli(binaryName = 'ccg'): Cli {
  const enableColors = Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'];
  const cli = new Cli({ binaryLabel: 'ccg — Claude Code connect-back gateway', binaryName, binaryVersion: VERSION, enableColors });
  reportUsageErrors(cli);
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const c of [ServeCommand, DoctorCommand, RunsCreateCommand, RunsListCommand, RunsShowCommand, RunsLogsCommand, RunsWaitCommand, RunsCancelCommand, RunsCommandsCommand, RunsExecCommand, RunsArtifactsCommand, RunsCollectCommand, RunsAssistCommand, RunnerStartCommand, TunnelCommand, RunsEventsCommand, RunsApprovalsCommand, RunsApproveCommand, RunsDenyCommand, RunsInputCommand, TuiCommand, PolicyShowCommand, PolicySetCommand, LoginCommand, LogoutCommand]) {
    cli.register(c);
  }
  return cli;
}

/**
 * Output into a pipe whose reader has gone (`ccg runs logs ID | head`) ends the command quietly
 * with exit 0, as the reader asked for no more: no `write EPIPE` and no stack trace. A runner
 * (`keepRunning`) must not leave its child and its gateway because nobody reads its local echo:
 * it only stops writing there.
 */
export function quietOnClosedPipe(keepRunning: boolean): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      if (!keepRunning) process.exit(0);
    });
  }
}

export async function main(argv: string[], binaryName = 'ccg'): Promise<number> {
  quietOnClosedPipe(argv[0] === 'runner');
  const cli = createCli(binaryName);
  if (argv.length === 0 || (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h'))) {
    process.stdout.write(cli.usage(null, { detailed: false }) + '\n' + EXIT_CODES_HELP + '\n');
    return 0;
  }
  return cli.run(argv);
}

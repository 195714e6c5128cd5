import { Builtins, Cli } from 'clipanion';
import { DoctorCommand } from './commands/doctor.js';
import { LoginCommand } from './commands/login.js';
import { LogoutCommand } from './commands/logout.js';
import { RunnerStartCommand } from './commands/runner/start.js';
import { RunsCancelCommand } from './commands/runs/cancel.js';
import { RunsCommandsCommand } from './commands/runs/commands.js';
import { RunsExecCommand } from './commands/runs/exec.js';
import { RunsCreateCommand } from './commands/runs/create.js';
import { RunsListCommand } from './commands/runs/list.js';
import { RunsLogsCommand } from './commands/runs/logs.js';
import { RunsShowCommand } from './commands/runs/show.js';
import { RunsWaitCommand } from './commands/runs/wait.js';
import { ServeCommand } from './commands/serve.js';
import { EXIT_CODES_HELP } from './exit-codes.js';
import { VERSION } from './version.js';

/** The `ccg` command line. Commands return exit codes; only bin/ccg touches process.exitCode. */
export function createCli(binaryName = 'ccg'): Cli {
  const enableColors = Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'];
  const cli = new Cli({ binaryLabel: 'ccg — Claude Code connect-back gateway', binaryName, binaryVersion: VERSION, enableColors });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const c of [ServeCommand, DoctorCommand, RunsCreateCommand, RunsListCommand, RunsShowCommand, RunsLogsCommand, RunsWaitCommand, RunsCancelCommand, RunsCommandsCommand, RunsExecCommand, RunnerStartCommand, LoginCommand, LogoutCommand]) {
    cli.register(c);
  }
  return cli;
}

export async function main(argv: string[], binaryName = 'ccg'): Promise<number> {
  const cli = createCli(binaryName);
  if (argv.length === 0 || (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h'))) {
    process.stdout.write(cli.usage(null, { detailed: false }) + '\n' + EXIT_CODES_HELP + '\n');
    return 0;
  }
  return cli.run(argv);
}

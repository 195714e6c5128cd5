import { Builtins, Cli } from 'clipanion';
import { MachineInstallCommand } from './commands/machine/install.js';
import { MachineStartCommand } from './commands/machine/start.js';
import { RunnerStartCommand } from './commands/runner/start.js';
import { VERSION } from './version.js';

/**
 * The single-file runner (`npm run build` bundles it into dist/runner/ccg-runner.mjs; the
 * gateway serves it): `runner start`, `machine start` and `machine install`, for a machine that
 * has Node and nothing else. The machine daemon starts its runners with this same file.
 */
export async function runnerMain(argv: string[]): Promise<number> {
  // A runner or daemon must not leave its child and its gateway because nobody reads its echo.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  const cli = new Cli({ binaryLabel: 'ccg runner (single file)', binaryName: 'ccg-runner', binaryVersion: VERSION, enableColors: Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'] });
  for (const c of [RunnerStartCommand, MachineStartCommand, MachineInstallCommand]) cli.register(c);
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  return cli.run(argv);
}

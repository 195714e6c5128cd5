import { Command, Option } from 'clipanion';
import { CommandsResponse } from '../../../protocol/api.js';
import { table } from '../../format.js';
import { GatewayCommand } from '../base.js';
import { runIdArg } from './args.js';

export class RunsCommandsCommand extends GatewayCommand {
  static override paths = [['runs', 'commands']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "List the commands a run's runner allows (its own allowlist, by name)",
    examples: [['List', 'ccg runs commands 7k2m9x4q3w8z --json']],
  });

  id = Option.String({ name: 'RUN_ID' });

  protected async run(): Promise<number> {
    const out = await this.api().json('GET', `/api/v1/runs/${runIdArg(this.id)}/commands`, CommandsResponse);
    this.print(out, () => {
      if (out.commands.length === 0) return 'this runner offers no commands\n';
      const rows = out.commands.map((c) => [c.name, c.params.map((p) => `${p.name}=/${p.pattern}/`).join(' ') || '-', `${Math.round(c.timeoutMs / 1000)}s`, c.description ?? '']);
      return table([['NAME', 'PARAMS', 'TIMEOUT', 'DESCRIPTION'], ...rows]) + (out.connected ? '' : '(the runner is not connected right now)\n');
    });
    return 0;
  }
}

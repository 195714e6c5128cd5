import { Command, Option } from 'clipanion';
import { CommandsResponse } from '../../../protocol/api.js';
import { safe, table } from '../../format.js';
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
      // Names are checked by the gateway; patterns and descriptions are the runner's free text.
      const rows = out.commands.map((c) => [safe(c.name), c.params.map((p) => `${safe(p.name)}=/${safe(p.pattern)}/`).join(' ') || '-', `${Math.round(c.timeoutMs / 1000)}s`, safe(c.description ?? '')]);
      return table([['NAME', 'PARAMS', 'TIMEOUT', 'DESCRIPTION'], ...rows]) + (out.connected ? '' : '(the runner is not connected right now)\n');
    });
    return 0;
  }
}

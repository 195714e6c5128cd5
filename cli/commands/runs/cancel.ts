import { Command, Option } from 'clipanion';
import type { RunSummary } from '../../../protocol/run.js';
import { GatewayCommand } from '../base.js';
import { runIdArg } from './args.js';

export class RunsCancelCommand extends GatewayCommand {
  static override paths = [['runs', 'cancel']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Cancel a run: the runner sends SIGINT, then SIGTERM, then SIGKILL after grace periods',
    examples: [['Cancel a run', 'ccg runs cancel 7k2m9x4q3w8z']],
  });

  id = Option.String({ name: 'RUN_ID' });

  protected async run(): Promise<number> {
    const out = await this.api().json<{ run: RunSummary; delivered: boolean }>('POST', `/api/v1/runs/${runIdArg(this.id)}/cancel`);
    this.print(out, () =>
      out.run.status === 'cancelled'
        ? `run ${out.run.id} cancelled\n`
        : out.delivered
          ? `cancel sent to the runner of ${out.run.id}\n`
          : `run ${out.run.id} will be cancelled when its runner reconnects\n`,
    );
    return 0;
  }
}

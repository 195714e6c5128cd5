import { Command, Option } from 'clipanion';
import { CancelResponse } from '../../../protocol/api.js';
import { GatewayCommand } from '../base.js';
import { runIdArg } from './args.js';

export class RunsCancelCommand extends GatewayCommand {
  static override paths = [['runs', 'cancel']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Cancel a run: Claude is interrupted cleanly (a plain command gets SIGINT), then SIGTERM, then SIGKILL after grace periods',
    details: `
      For a Claude run the runner first denies any approval still waiting, sends Claude an
      interrupt request and closes its input, so Claude ends its turn and exits on its own. If it
      is still running after the runner's --grace (default 5s), it gets SIGTERM, and SIGKILL
      after another grace period. A plain command gets SIGINT first instead. The run ends as
      "cancelled"; \`ccg runs wait\` exits 130.
    `,
    examples: [['Cancel a run', 'ccg runs cancel 7k2m9x4q3w8z']],
  });

  id = Option.String({ name: 'RUN_ID' });

  protected async run(): Promise<number> {
    const out = await this.api().json('POST', `/api/v1/runs/${runIdArg(this.id)}/cancel`, CancelResponse);
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

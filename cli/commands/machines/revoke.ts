import { Command, Option } from 'clipanion';
import { z } from 'zod';
import { MachineSummary } from '../../../protocol/machine.js';
import { GatewayCommand } from '../base.js';

export class MachinesRevokeCommand extends GatewayCommand {
  static override paths = [['machines', 'revoke']];
  static override usage = Command.Usage({
    category: 'Machines',
    description: "Revoke a machine's token (admins): its connection closes at once and it cannot connect again",
    details: 'Runs it already started go on (each has its own run token; cancel them to stop them). `ccg machines add NAME` issues a new token.',
    examples: [['Revoke', 'ccg machines revoke laptop']],
  });

  name = Option.String({ name: 'NAME' });

  protected async run(): Promise<number> {
    const out = await this.api().json('POST', `/api/v1/machines/${encodeURIComponent(this.name)}/revoke`, z.object({ machine: MachineSummary }));
    this.print(out, () => `machine ${out.machine.name} revoked\n`);
    return 0;
  }
}

import { Command, Option } from 'clipanion';
import { AddMachineResponse } from '../../../protocol/machine.js';
import { GatewayCommand } from '../base.js';

export class MachinesAddCommand extends GatewayCommand {
  static override paths = [['machines', 'add']];
  static override usage = Command.Usage({
    category: 'Machines',
    description: 'Add a machine (admins): print its token (shown once) and the command that starts its daemon',
    details: `
      The gateway keeps only the token's SHA-256. Give the token to the machine through the
      environment (CCG_MACHINE_TOKEN) or a file (--token-file), never on a command line. Adding a
      name that was revoked issues a new token for it.
    `,
    examples: [['Add a machine', 'ccg machines add laptop'], ['In a script', 'ccg machines add ci-box --json | jq -r .token > machine.token']],
  });

  name = Option.String({ name: 'NAME' });

  protected async run(): Promise<number> {
    const out = await this.api().json('POST', '/api/v1/machines', AddMachineResponse, { name: this.name });
    this.print(out, () =>
      [
        `machine ${out.machine.name} added`,
        `token (shown once): ${out.token}`,
        '',
        'on the machine (after writing its config file, ~/.config/ccg/machine.json; see docs/COMMANDS.md):',
        `  ${out.command}`,
        '',
      ].join('\n'),
    );
    return 0;
  }
}

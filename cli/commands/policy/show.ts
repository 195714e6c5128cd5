import { Command } from 'clipanion';
import { PolicyResponse } from '../../../protocol/policy.js';
import { GatewayCommand } from '../base.js';
import { policyTable } from './format.js';

export class PolicyShowCommand extends GatewayCommand {
  static override paths = [['policy', 'show'], ['policy']];
  static override usage = Command.Usage({
    category: 'Policy',
    description: "Show which roles may run which of a runner's allowlisted commands (admins)",
    details: `
      The gateway's command policy narrows who may ask a runner to run one of the commands it
      advertises; the runner's own allowlist still decides what a name runs. Until an admin saves
      a policy, admins and operators may run every command and viewers none.
    `,
    examples: [
      ['Show it', 'ccg policy show'],
      ['For a script', 'ccg policy show --json | jq .policy.commands'],
    ],
  });

  protected async run(): Promise<number> {
    const out = await this.api().json('GET', '/api/v1/policy', PolicyResponse);
    this.print(out, () => policyTable(out.policy));
    return 0;
  }
}

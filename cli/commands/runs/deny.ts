import { Command, Option } from 'clipanion';
import { ApprovalResponse } from '../../../protocol/claude-control.js';
import { MAX_MESSAGE } from '../../../protocol/claude-events.js';
import { toolSummary } from '../../../protocol/one-line.js';
import { CliError } from '../../exit-codes.js';
import { safe } from '../../format.js';
import { GatewayCommand } from '../base.js';
import { runIdArg } from './args.js';
import { approvalIdArg } from './approve.js';

export class RunsDenyCommand extends GatewayCommand {
  static override paths = [['runs', 'deny']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Deny a tool use Claude is waiting for (optionally telling it why)',
    details: `
      Claude sees the message as the tool's error and carries on without it. The first answer
      wins: an approval already answered fails with ERR_APPROVAL_RESOLVED (exit 1).
    `,
    examples: [
      ['Deny', 'ccg runs deny 7k2m9x4q3w8z Jx2…'],
      ['Deny and say what to do instead', 'ccg runs deny 7k2m9x4q3w8z Jx2… --message "do not delete build/, run make clean"'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  approvalId = Option.String({ name: 'APPROVAL_ID' });
  message = Option.String('--message,-m', { description: 'What Claude is told (default: "Denied by NAME (via ccg).")' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    if (this.message !== undefined && this.message.length > MAX_MESSAGE) throw new CliError(`--message is longer than ${MAX_MESSAGE} characters`);
    const out = await this.api().json('POST', `/api/v1/runs/${id}/approvals/${approvalIdArg(this.approvalId)}`, ApprovalResponse, {
      decision: 'deny',
      ...(this.message !== undefined ? { message: this.message } : {}),
    });
    const a = out.approval;
    this.print(out, () => `denied ${safe(a.toolName)}: ${toolSummary(a.toolName, a.input, 100)}\n`);
    return 0;
  }
}

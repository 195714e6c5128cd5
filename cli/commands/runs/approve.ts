import { Command, Option } from 'clipanion';
import { APPROVAL_ID_RE } from '../../../protocol/ids.js';
import { toolSummary } from '../../../protocol/one-line.js';
import { ApprovalResponse } from '../../client/lazy-schemas.js';
import { CliError, EXIT } from '../../exit-codes.js';
import { safe } from '../../format.js';
import { GatewayCommand } from '../base.js';
import { runIdArg } from './args.js';

export function approvalIdArg(id: string): string {
  if (!APPROVAL_ID_RE.test(id)) throw new CliError(`"${id.slice(0, 64)}" is not an approval id (see \`ccg runs approvals RUN_ID\`)`, EXIT.NOT_FOUND, 'ERR_APPROVAL_NOT_FOUND');
  return id;
}

export class RunsApproveCommand extends GatewayCommand {
  static override paths = [['runs', 'approve']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Allow a tool use Claude is waiting for',
    details: `
      The first answer wins: if another operator (or the timeout) answered first, this fails with
      ERR_APPROVAL_RESOLVED (exit 1). With --always, the rule Claude suggested (e.g.
      Bash(npm test)) is added for the rest of this run, so the same use is not asked again.
    `,
    examples: [
      ['Allow once', 'ccg runs approve 7k2m9x4q3w8z Jx2…'],
      ['Allow, and never ask again for the same command in this run', 'ccg runs approve 7k2m9x4q3w8z Jx2… --always'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  approvalId = Option.String({ name: 'APPROVAL_ID' });
  always = Option.Boolean('--always', false, { description: "Also add Claude's suggested permission rule for the rest of this run" });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    const out = await this.api().json('POST', `/api/v1/runs/${id}/approvals/${approvalIdArg(this.approvalId)}`, ApprovalResponse, { decision: 'allow', ...(this.always ? { always: true } : {}) });
    const a = out.approval;
    const rule = a.rule ? `${a.rule.toolName}${a.rule.ruleContent ? `(${a.rule.ruleContent})` : ''}` : '';
    this.print(out, () => `allowed ${safe(a.toolName)}: ${toolSummary(a.toolName, a.input, 100)}${this.always && rule ? ` — and ${safe(rule)} from now on` : ''}\n`);
    return 0;
  }
}

import { Command, Option } from 'clipanion';
import { ApprovalResponse } from '../../../protocol/claude-control.js';
import { MAX_MESSAGE } from '../../../protocol/claude-events.js';
import { CliError, EXIT } from '../../exit-codes.js';
import { approvalDetail } from '../../render/steer-text.js';
import { GatewayCommand } from '../base.js';
import { pendingOf } from './answer.js';
import { runIdArg } from './args.js';

export class RunsPlanCommand extends GatewayCommand {
  static override paths = [['runs', 'plan']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "Show Claude's plan (ExitPlanMode) and approve it, or keep it planning",
    details: `
      In plan mode Claude explores and writes a plan, then asks to leave plan mode and start
      working. Without an answer flag this prints the plan and exits 2. Then:

      - \`--approve\`: approve, and keep asking before each edit (mode: default)
      - \`--approve --allow-edits\`: approve, and allow file edits without asking (mode: acceptEdits)
      - \`--keep-planning\`: do not approve; Claude stays in plan mode, and \`--message\` tells it what to change

      The approval id may be left out when the run has one open plan. The first answer wins.
    `,
    examples: [
      ['Read the plan', 'ccg runs plan 7k2m9x4q3w8z'],
      ['Approve; Claude still asks before edits', 'ccg runs plan 7k2m9x4q3w8z --approve'],
      ['Approve and let it edit files freely', 'ccg runs plan 7k2m9x4q3w8z --approve --allow-edits'],
      ['Send it back', 'ccg runs plan 7k2m9x4q3w8z --keep-planning --message "also cover the migration"'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  approvalId = Option.String({ required: false, name: 'APPROVAL_ID' });
  approve = Option.Boolean('--approve', false, { description: 'Approve the plan' });
  allowEdits = Option.Boolean('--allow-edits', false, { description: 'With --approve: allow file edits without asking (acceptEdits)' });
  keepPlanning = Option.Boolean('--keep-planning', false, { description: 'Do not approve; Claude keeps planning' });
  message = Option.String('--message,-m', { description: 'With --keep-planning: what Claude should change' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    if (this.approve && this.keepPlanning) throw new CliError('give --approve or --keep-planning, not both');
    if (this.allowEdits && !this.approve) throw new CliError('--allow-edits goes with --approve');
    if (this.message !== undefined && !this.keepPlanning) throw new CliError('--message goes with --keep-planning');
    if (this.message !== undefined && this.message.length > MAX_MESSAGE) throw new CliError(`--message may be at most ${MAX_MESSAGE} characters`);
    const a = await pendingOf(this.api(), id, this.approvalId, 'plan');
    if (!this.approve && !this.keepPlanning) {
      const lines = approvalDetail(a, { width: 160, maxLines: 400 }).map((l) => l.text);
      this.print({ approval: a }, () => `${a.approvalId}: Claude's plan\n${lines.join('\n')}\nanswer with --approve [--allow-edits] or --keep-planning [--message TEXT]\n`);
      return EXIT.SHOWN;
    }
    const body = this.approve ? { decision: 'approve', mode: this.allowEdits ? 'acceptEdits' : 'default' } : { decision: 'keep_planning', ...(this.message ? { message: this.message } : {}) };
    const out = await this.api().json('POST', `/api/v1/runs/${id}/approvals/${a.approvalId}/plan`, ApprovalResponse, body);
    this.print(out, () => (this.approve ? `plan approved; Claude continues ${this.allowEdits ? 'and may edit files without asking (acceptEdits)' : 'and asks before edits (default)'}\n` : 'Claude keeps planning\n'));
    return 0;
  }
}

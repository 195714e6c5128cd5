import { Command, Option } from 'clipanion';
import { ApprovalsResponse, type Approval } from '../../../protocol/claude-control.js';
import { toolSummary } from '../../../protocol/one-line.js';
import { age, safe, table } from '../../format.js';
import { approvalDetail, inputLines, paint } from '../../render/steer-text.js';
import { GatewayCommand } from '../base.js';
import { runIdArg } from './args.js';

/** How an approval reads in a table: "pending (9m left)", "allowed by alice", "denied (timeout)". */
export function approvalState(a: Approval, now = Date.now()): string {
  if (a.resolution) {
    const verb = a.resolution.decision === 'allow' ? (a.resolution.always ? 'always allowed' : 'allowed') : 'denied';
    return a.resolution.reason === 'operator' ? `${verb} by ${a.resolution.by}` : `${verb} (${a.resolution.reason})`;
  }
  if (a.answer) return `${a.answer.decision === 'allow' ? 'allowed' : 'denied'} by ${a.answer.by}, on its way`;
  const left = Math.max(0, Math.round((a.expiresAt - now) / 60_000));
  return `pending (${left}m left)`;
}

export class RunsApprovalsCommand extends GatewayCommand {
  static override paths = [['runs', 'approvals']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "List a run's tool uses waiting for approval",
    details: `
      Claude asks before it uses a tool that needs permission (a shell command, a file edit…).
      Each request waits here until an operator answers with \`ccg runs approve\` or
      \`ccg runs deny\`, or the phone or TUI. If nobody answers within the runner's
      approval timeout (--approval-timeout, default 10m), it is denied.

      Under the table, each open approval that needs more than yes or no shows what it holds:
      an edit's unified diff against the file on disk (coloured on a terminal), Claude's
      questions with their numbered options (answer with \`ccg runs answer\`), or its plan
      (answer with \`ccg runs plan\`).

      With --json: {"approvals":[{"approvalId","toolName","input","rule","state","expiresAt",
      "diff","questions","plan","modeSuggestion",…}]}.
    `,
    examples: [
      ['What is waiting', 'ccg runs approvals 7k2m9x4q3w8z'],
      ['Everything, answered ones too, as JSON', 'ccg runs approvals 7k2m9x4q3w8z --all --json'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  all = Option.Boolean('--all', false, { description: 'Include answered and resolved approvals' });
  color = Option.Boolean('--color', { description: 'Colour diffs (default: when printing to a terminal)' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    const out = await this.api().json('GET', `/api/v1/runs/${id}/approvals${this.all ? '?all=1' : ''}`, ApprovalsResponse);
    const colour = this.color ?? (this.context.stdout as NodeJS.WriteStream).isTTY === true;
    const details = () =>
      out.approvals
        .filter((a) => a.state === 'pending')
        // A diff, questions or a plan; for any other tool its whole input (the table cuts it).
        .map((a) => {
          const lines = approvalDetail(a, { width: 160, maxLines: 80 });
          return { a, lines: lines.length > 0 ? lines : inputLines(a.input, a.inputTruncated, { width: 160, maxLines: 80 }) };
        })
        .filter((d) => d.lines.length > 0)
        .map((d) => `\n${d.a.approvalId} ${safe(d.a.toolName)}:\n${d.lines.map((l) => `  ${paint(l, colour)}`).join('\n')}\n`)
        .join('');
    this.print(out, () =>
      out.approvals.length === 0
        ? `no ${this.all ? '' : 'pending '}approvals\n`
        : table([
            ['APPROVAL', 'TOOL', 'STATE', 'AGE', 'INPUT'],
            ...out.approvals.map((a) => [a.approvalId, safe(a.toolName), safe(approvalState(a)), age(a.requestedAt), toolSummary(a.toolName, a.input, 80)]),
          ]) + details(),
    );
    return 0;
  }
}

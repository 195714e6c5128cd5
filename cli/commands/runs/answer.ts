import { Command, Option } from 'clipanion';
import { ApprovalResponse, ApprovalsResponse, type Approval } from '../../../protocol/claude-control.js';
import { approvalKind, type ClaudeQuestion, type QuestionAnswers } from '../../../protocol/claude-steer.js';
import type { ApiClient } from '../../client/api.js';
import { CliError, EXIT } from '../../exit-codes.js';
import { approvalDetail } from '../../render/steer-text.js';
import { GatewayCommand, terminalLine } from '../base.js';
import { approvalIdArg } from './approve.js';
import { runIdArg } from './args.js';

/**
 * The approval of `kind` to answer: the one named, or the run's only open one of that kind.
 * Shared by `ccg runs answer` and `ccg runs plan`.
 */
export async function pendingOf(api: ApiClient, runId: string, approvalId: string | undefined, kind: 'questions' | 'plan'): Promise<Approval> {
  const out = await api.json('GET', `/api/v1/runs/${runId}/approvals`, ApprovalsResponse);
  const open = out.approvals.filter((a) => a.state === 'pending' && approvalKind(a.toolName) === kind);
  const what = kind === 'questions' ? 'questions (AskUserQuestion)' : 'a plan (ExitPlanMode)';
  if (approvalId !== undefined) {
    const a = out.approvals.find((x) => x.approvalId === approvalIdArg(approvalId));
    if (!a) throw new CliError(`run ${runId} has no open approval ${approvalId}`, EXIT.NOT_FOUND, 'ERR_APPROVAL_NOT_FOUND');
    if (approvalKind(a.toolName) !== kind) throw new CliError(`approval ${approvalId} is a ${terminalLine(a.toolName)} request, not ${what}`);
    return a;
  }
  if (open.length === 0) throw new CliError(`run ${runId} has no open ${kind === 'questions' ? what : 'plan (ExitPlanMode)'}`, EXIT.NOT_FOUND, 'ERR_APPROVAL_NOT_FOUND');
  if (open.length > 1) throw new CliError(`run ${runId} has ${open.length} open ${what}; name one: ${open.map((a) => a.approvalId).join(', ')}`);
  return open[0]!;
}

/** `N=VALUE` or, with one question, just `VALUE`: the question's index and the value. */
function split(arg: string, questions: readonly ClaudeQuestion[], flag: string): { q: ClaudeQuestion; value: string } {
  const m = /^(\d{1,2})=(.*)$/s.exec(arg);
  if (m) {
    const q = questions[Number(m[1]) - 1];
    if (!q) throw new CliError(`${flag} ${terminalLine(arg.slice(0, 60))}: there is no question ${m[1]} (Claude asked ${questions.length})`);
    return { q, value: m[2]! };
  }
  if (questions.length !== 1) throw new CliError(`${flag} ${terminalLine(arg.slice(0, 60))}: Claude asked ${questions.length} questions; say which, e.g. ${flag} 1=${terminalLine(arg.slice(0, 30))}`);
  return { q: questions[0]!, value: arg };
}

/** An option by its label (exact, then ignoring case) or its number. */
function option(q: ClaudeQuestion, value: string): string {
  const exact = q.options.find((o) => o.label === value) ?? q.options.find((o) => o.label.toLowerCase() === value.toLowerCase());
  if (exact) return exact.label;
  if (/^\d{1,2}$/.test(value) && q.options[Number(value) - 1]) return q.options[Number(value) - 1]!.label;
  throw new CliError(`"${terminalLine(value.slice(0, 80))}" is not an option of "${terminalLine(q.question.slice(0, 80))}"; the options are: ${q.options.map((o, i) => `${i + 1}) ${terminalLine(o.label)}`).join(', ')} (or give a free answer with --other)`);
}

/** Builds Claude's `answers` from --choose and --other. */
export function buildAnswers(questions: readonly ClaudeQuestion[], choose: readonly string[], other: readonly string[]): QuestionAnswers {
  const picked = new Map<string, string[]>();
  for (const c of choose) {
    const { q, value } = split(c, questions, '--choose');
    const label = option(q, value);
    const list = picked.get(q.question) ?? [];
    if (list.length && !q.multiSelect) throw new CliError(`"${terminalLine(q.question.slice(0, 80))}" takes one answer; Claude did not allow several`);
    if (!list.includes(label)) list.push(label);
    picked.set(q.question, list);
  }
  const answers: QuestionAnswers = {};
  for (const [q, labels] of picked) answers[q] = questions.find((x) => x.question === q)!.multiSelect ? labels : labels[0]!;
  for (const o of other) {
    const { q, value } = split(o, questions, '--other');
    if (!value.trim()) throw new CliError('--other needs some text');
    if (answers[q.question] !== undefined) throw new CliError(`"${terminalLine(q.question.slice(0, 80))}" has an answer already; give either --choose or --other for it`);
    answers[q.question] = value.trim();
  }
  return answers;
}

export class RunsAnswerCommand extends GatewayCommand {
  static override paths = [['runs', 'answer']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "Answer Claude's questions (AskUserQuestion): choose its options or give a free answer",
    details: `
      Claude sometimes asks the person at the keyboard (AskUserQuestion): one to four
      questions, each with two to four options, some allowing several. This answers them from
      anywhere. Without --choose or --other it prints the questions, numbered, and their
      numbered options, and exits 2.

      - \`--choose N=OPTION\` picks an option of question N, by its label or its number; repeat it to pick several where Claude allows that. With one question, N= may be left out.
      - \`--other N=TEXT\` gives a free answer instead of an option.

      Questions left unanswered reach Claude as not answered.

      The approval id may be left out when the run has one open question request. The first
      answer wins (ERR_APPROVAL_RESOLVED, exit 1, when someone was faster). To refuse to
      answer, deny it: \`ccg runs deny RUN_ID APPROVAL_ID --message "…"\`.
    `,
    examples: [
      ['See the questions', 'ccg runs answer 7k2m9x4q3w8z'],
      ['Answer the only question with its option "Postgres"', 'ccg runs answer 7k2m9x4q3w8z --choose Postgres'],
      ['Two questions; the second allows several options', 'ccg runs answer 7k2m9x4q3w8z --choose 1=Postgres --choose 2=Auth --choose 2=Billing'],
      ['By option number, and a free answer to the second', 'ccg runs answer 7k2m9x4q3w8z --choose 1=2 --other "2=none of these; ask me later"'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  approvalId = Option.String({ required: false, name: 'APPROVAL_ID' });
  choose = Option.Array('--choose', [], { description: 'N=OPTION: pick an option (label or number) of question N; repeat for several. N= may be left out with one question' });
  other = Option.Array('--other', [], { description: 'N=TEXT: a free answer to question N instead of an option' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    const a = await pendingOf(this.api(), id, this.approvalId, 'questions');
    const questions = a.questions ?? [];
    if (this.choose.length === 0 && this.other.length === 0) {
      const lines = approvalDetail(a, { width: 160 }).map((l) => l.text);
      this.print({ approval: a }, () => `${a.approvalId}: Claude asks\n${lines.join('\n')}\nanswer with --choose N=OPTION (repeat where several are allowed) or --other N=TEXT\n`);
      return EXIT.SHOWN;
    }
    if (questions.length === 0) throw new CliError('ccg could not read these questions; deny them with a message instead');
    const answers = buildAnswers(questions, this.choose, this.other);
    const out = await this.api().json('POST', `/api/v1/runs/${id}/approvals/${a.approvalId}/answers`, ApprovalResponse, { answers });
    this.print(out, () => Object.entries(answers).map(([q, v]) => `answered ${terminalLine(q)}: ${terminalLine(Array.isArray(v) ? v.join(', ') : v)}\n`).join(''));
    return 0;
  }
}

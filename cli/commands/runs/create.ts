import { Command, Option } from 'clipanion';
import { CreateRunResponse } from '../../../protocol/api.js';
import { MAX_BUDGET_USD } from '../../../protocol/claude-run-state.js';
import { CliError } from '../../exit-codes.js';
import { GatewayCommand } from '../base.js';

/** `--max-budget-usd 2.50`: a positive number of dollars, at most MAX_BUDGET_USD. */
export function parseBudget(text: string): number {
  const n = /^\$?\d{1,6}(\.\d{1,6})?$/.test(text.trim()) ? Number(text.trim().replace(/^\$/, '')) : NaN;
  if (!(n > 0) || n > MAX_BUDGET_USD) throw new CliError(`--max-budget-usd "${text.slice(0, 40)}" is not an amount of US dollars (more than 0, at most ${MAX_BUDGET_USD}; e.g. 2.50)`);
  return n;
}

export class RunsCreateCommand extends GatewayCommand {
  static override paths = [['runs', 'create']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Create a run and print its id, its token (shown once) and the runner command',
    examples: [
      ['Create a run', 'ccg runs create --name "fix flaky test"'],
      ['In a script', 'ccg runs create --name ci --json | jq -r .id'],
      ['Let Claude spend at most $2 on it', 'ccg runs create --name refactor --max-budget-usd 2'],
    ],
  });

  name = Option.String('--name', { description: 'A name to recognise the run by' });
  maxBudgetUsd = Option.String('--max-budget-usd', { description: "A spending limit for Claude in US dollars: the runner passes it to claude as --max-budget-usd, and the run says when it stopped for it" });

  protected async run(): Promise<number> {
    const budget = this.maxBudgetUsd === undefined ? undefined : parseBudget(this.maxBudgetUsd);
    const body = { ...(this.name ? { name: this.name } : {}), ...(budget !== undefined ? { maxBudgetUsd: budget } : {}) };
    const out = await this.api().json('POST', '/api/v1/runs', CreateRunResponse, body);
    this.print(out, () =>
      [
        `run ${out.id} created (${out.run.name})${budget !== undefined ? `, spending limit $${budget}` : ''}`,
        `token (shown once): ${out.token}`,
        '',
        'on the Claude machine:',
        `  ${out.runnerCommand}`,
        '',
      ].join('\n'),
    );
    return 0;
  }
}

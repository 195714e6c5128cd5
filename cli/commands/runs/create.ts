import { Command, Option } from 'clipanion';
import { CreateRunResponse } from '../../../protocol/api.js';
import { StartRunResponse } from '../../../protocol/machine.js';
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
      ['Start Claude on a machine', 'ccg runs create --machine laptop --workspace app --prompt "fix the failing test" --mode plan --json'],
      ['Let Claude spend at most $2 on it', 'ccg runs create --name refactor --max-budget-usd 2'],
    ],
  });

  name = Option.String('--name', { description: 'A name to recognise the run by' });
  machine = Option.String('--machine', { description: 'Start Claude on this machine (its daemon runs the runner; see ccg machines)' });
  workspace = Option.String('--workspace', { description: "With --machine: one of the machine's workspaces" });
  prompt = Option.String('--prompt', { description: 'With --machine: the prompt for Claude' });
  mode = Option.String('--mode', { description: "With --machine: Claude's permission mode (default, acceptEdits, plan, bypassPermissions), if the workspace allows it" });
  model = Option.String('--model', { description: "With --machine: Claude's model, if the workspace allows it" });
  maxBudgetUsd = Option.String('--max-budget-usd', { description: "A spending limit for Claude in US dollars: the runner passes it to claude as --max-budget-usd, and the run says when it stopped for it" });

  protected async run(): Promise<number> {
    if (this.machine) {
      if (this.maxBudgetUsd !== undefined) throw new CliError('--max-budget-usd does not go with --machine yet (put it in the machine config\'s runnerArgs)');
      return this.onMachine(this.machine);
    }
    if (this.workspace || this.prompt || this.mode || this.model) throw new CliError('--workspace, --prompt, --mode and --model go with --machine');
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

  private async onMachine(machine: string): Promise<number> {
    if (!this.workspace || !this.prompt?.trim()) throw new CliError('--machine needs --workspace NAME and --prompt "…"');
    const body = {
      workspace: this.workspace, prompt: this.prompt,
      ...(this.mode ? { mode: this.mode } : {}), ...(this.model ? { model: this.model } : {}), ...(this.name ? { name: this.name } : {}),
    };
    const out = await this.api().json('POST', `/api/v1/machines/${encodeURIComponent(machine)}/runs`, StartRunResponse, body);
    this.print(out, () => `run ${out.id} ${out.state === 'started' ? `started on ${machine}` : `handed to ${machine} (it has not answered yet)`}\n  follow it: ccg runs events ${out.id} --follow\n`);
    return 0;
  }
}

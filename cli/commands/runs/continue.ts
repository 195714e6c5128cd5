import { Command, Option } from 'clipanion';
import { StartRunResponse } from '../../../protocol/machine.js';
import { CliError } from '../../exit-codes.js';
import { GatewayCommand } from '../base.js';
import { runIdArg } from './args.js';

export class RunsContinueCommand extends GatewayCommand {
  static override paths = [['runs', 'continue']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "Continue a finished Claude run that a machine started: a new run resuming Claude's session, with a new prompt",
    examples: [['Continue', 'ccg runs continue 7k2m9x4q3w8z --prompt "now add a test" --json']],
  });

  id = Option.String({ name: 'RUN_ID' });
  prompt = Option.String('--prompt', { description: 'What Claude should do next' });

  protected async run(): Promise<number> {
    if (!this.prompt?.trim()) throw new CliError('give --prompt "…"');
    const out = await this.api().json('POST', `/api/v1/runs/${runIdArg(this.id)}/continue`, StartRunResponse, { prompt: this.prompt });
    this.print(out, () => `run ${out.id} ${out.state === 'started' ? 'started' : 'handed to the machine (it has not answered yet)'}, continuing ${this.id}\n`);
    return 0;
  }
}

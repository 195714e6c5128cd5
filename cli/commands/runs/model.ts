import { Command, Option } from 'clipanion';
import { ControlResponse, SessionResponse } from '../../../protocol/claude-control.js';
import { MODEL_RE } from '../../../protocol/claude-steer.js';
import { CliError } from '../../exit-codes.js';
import { GatewayCommand, terminalLine } from '../base.js';
import { runIdArg } from './args.js';
import { sessionLine } from './mode.js';

export class RunsModelCommand extends GatewayCommand {
  static override paths = [['runs', 'model']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Show or switch the model of a Claude session',
    details: `
      Without MODEL it prints the session's model and mode. With MODEL (an alias such as
      sonnet or opus, or a full model id) Claude uses it from its next request on; the timeline
      shows the model Claude resolved it to, and who switched.
    `,
    examples: [
      ['Which model?', 'ccg runs model 7k2m9x4q3w8z'],
      ['Switch to Sonnet', 'ccg runs model 7k2m9x4q3w8z sonnet'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  model = Option.String({ required: false, name: 'MODEL' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    if (this.model === undefined) {
      const s = await this.api().json('GET', `/api/v1/runs/${id}/session`, SessionResponse);
      this.print(s, () => `${sessionLine(s)}\n`);
      return 0;
    }
    if (!MODEL_RE.test(this.model)) throw new CliError(`"${terminalLine(this.model.slice(0, 40))}" is not a model name (letters, digits and . _ : - / @ [ ])`);
    const out = await this.api().json('POST', `/api/v1/runs/${id}/model`, ControlResponse, { model: this.model });
    this.print(out, () => `asked Claude to switch to the model ${this.model}\n`);
    return 0;
  }
}

import { Command, Option } from 'clipanion';
import { ControlResponse } from '../../../protocol/claude-control.js';
import { GatewayCommand } from '../base.js';
import { runIdArg } from './args.js';

export class RunsInterruptCommand extends GatewayCommand {
  static override paths = [['runs', 'interrupt']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "Stop Claude's current turn; the session stays open for the next prompt",
    details: `
      Like pressing Esc in Claude Code: the model request and any tool waiting for approval are
      abandoned, the turn ends (its result says error_during_execution), and Claude waits for a
      follow-up (\`ccg runs input\`). Unlike \`ccg runs cancel\`, the run goes on.
    `,
    examples: [['Stop this turn', 'ccg runs interrupt 7k2m9x4q3w8z']],
  });

  id = Option.String({ name: 'RUN_ID' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    const out = await this.api().json('POST', `/api/v1/runs/${id}/interrupt`, ControlResponse, {});
    this.print(out, () => 'asked Claude to stop this turn; send the next prompt with ccg runs input\n');
    return 0;
  }
}

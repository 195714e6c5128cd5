import { Command, Option } from 'clipanion';
import { CreateRunResponse } from '../../../protocol/api.js';
import { GatewayCommand } from '../base.js';

export class RunsCreateCommand extends GatewayCommand {
  static override paths = [['runs', 'create']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Create a run and print its id, its token (shown once) and the runner command',
    examples: [
      ['Create a run', 'ccg runs create --name "fix flaky test"'],
      ['In a script', 'ccg runs create --name ci --json | jq -r .id'],
    ],
  });

  name = Option.String('--name', { description: 'A name to recognise the run by' });

  protected async run(): Promise<number> {
    const out = await this.api().json('POST', '/api/v1/runs', CreateRunResponse, this.name ? { name: this.name } : {});
    this.print(out, () =>
      [
        `run ${out.id} created (${out.run.name})`,
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

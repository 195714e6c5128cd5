import { Command, Option } from 'clipanion';
import { RunResponse } from '../../../protocol/api.js';
import { bytes, safe, statusText } from '../../format.js';
import { SessionResponse } from '../../../protocol/claude-control.js';
import { sessionLine } from './mode.js';
import { GatewayCommand } from '../base.js';
import { runIdArg } from './args.js';

export class RunsShowCommand extends GatewayCommand {
  static override paths = [['runs', 'show']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Show one run: state, exit code, runner, output size',
    examples: [['Show a run', 'ccg runs show 7k2m9x4q3w8z --json']],
  });

  id = Option.String({ name: 'RUN_ID' });

  protected async run(): Promise<number> {
    const { run } = await this.api().json('GET', `/api/v1/runs/${runIdArg(this.id)}`, RunResponse);
    const t = (ms: number | null) => (ms ? new Date(ms).toISOString() : '-');
    // A Claude run (not --pty): its mode and model, in the human form only (--json stays the run).
    const session = !this.json && run.runner?.mode === 'claude' && !run.runner.pty ? await this.api().json('GET', `/api/v1/runs/${run.id}/session`, SessionResponse).catch(() => null) : null;
    this.print({ run }, () =>
      [
        `run       ${run.id}  ${safe(run.name)}`,
        `status    ${statusText(run)}${run.reason ? ` — ${safe(run.reason)}` : ''}`,
        `created   ${t(run.createdAt)} by ${safe(run.createdBy)}`,
        `started   ${t(run.startedAt)}`,
        `ended     ${t(run.endedAt)}${run.exitCode !== null ? `  exit code ${run.exitCode}` : ''}${run.signal ? ` (${safe(run.signal)})` : ''}`,
        `output    ${bytes(run.bytes)} in ${run.lastSeq} chunks`,
        `runner    ${run.runner ? `${safe(run.runner.hostname)} pid ${run.runner.pid}: ${safe(run.runner.command.join(' ')).slice(0, 200)}` : '-'}`,
        ...(run.origin
          ? [
              `machine   ${safe(run.origin.machine)} workspace ${safe(run.origin.workspace)}${run.origin.mode ? ` mode ${safe(run.origin.mode)}` : ''}${run.origin.model ? ` model ${safe(run.origin.model)}` : ''} (${run.origin.start})`,
              ...(run.origin.previous ? [`previous  ${run.origin.previous}`] : []),
              ...(run.origin.next ? [`next      ${run.origin.next}`] : []),
            ]
          : []),
        ...(session ? [`claude    ${sessionLine(session)}`] : []),
        '',
      ].join('\n'),
    );
    return 0;
  }
}

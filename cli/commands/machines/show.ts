import { Command, Option } from 'clipanion';
import { MachineResponse } from '../../../protocol/machine.js';
import { safe, statusText } from '../../format.js';
import { GatewayCommand } from '../base.js';
import { machineState } from './list.js';

export class MachinesShowCommand extends GatewayCommand {
  static override paths = [['machines', 'show']];
  static override usage = Command.Usage({
    category: 'Machines',
    description: 'Show one machine: its workspaces and what each allows, its running and recent runs',
    examples: [['Show', 'ccg machines show laptop --json']],
  });

  name = Option.String({ name: 'NAME' });

  protected async run(): Promise<number> {
    const out = await this.api().json('GET', `/api/v1/machines/${encodeURIComponent(this.name)}`, MachineResponse);
    const m = out.machine;
    this.print(out, () =>
      [
        `machine   ${m.name}  ${machineState(m)}`,
        `host      ${safe(m.info?.hostname ?? '-')} (${safe(m.info?.platform ?? '-')}), ccg ${safe(m.info?.version ?? '-')}, at most ${m.info?.maxRuns ?? '-'} runs`,
        `added     ${new Date(m.createdAt).toISOString()} by ${safe(m.createdBy)}`,
        ...(m.info?.workspaces ?? []).map((w) => `workspace ${w.name}: claude ${w.claude ? 'yes' : 'no'}, modes ${w.modes.join('/') || '-'}, models ${w.models.join('/') || 'default'}, commands ${w.commands.join(', ') || '-'}${w.worktree ? ', worktree per run' : ''}`),
        ...out.runs.slice(0, 20).map((r) => `run       ${r.id}  ${statusText(r).padEnd(10)} ${safe(r.origin?.workspace ?? '')}  ${safe(r.name).slice(0, 60)}`),
        '',
      ].join('\n'),
    );
    return 0;
  }
}

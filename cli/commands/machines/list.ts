import { Command } from 'clipanion';
import { ListMachinesResponse, type MachineSummary } from '../../../protocol/machine.js';
import { safe } from '../../format.js';
import { GatewayCommand } from '../base.js';

/** One line about a machine's state: online, or when it was last seen. */
export function machineState(m: MachineSummary): string {
  if (m.revokedAt !== null) return 'revoked';
  if (m.online) return 'online';
  return m.lastSeenAt ? `offline (last seen ${new Date(m.lastSeenAt).toISOString()})` : 'never connected';
}

export class MachinesListCommand extends GatewayCommand {
  static override paths = [['machines', 'list'], ['machines']];
  static override usage = Command.Usage({
    category: 'Machines',
    description: 'List machines: online or last seen, host, version, workspaces, running runs',
    examples: [['List', 'ccg machines list --json']],
  });

  protected async run(): Promise<number> {
    const { machines } = await this.api().json('GET', '/api/v1/machines', ListMachinesResponse);
    this.print({ machines }, () =>
      machines.length === 0
        ? 'no machines (add one: ccg machines add NAME)\n'
        : machines
            .map((m) => `${m.name.padEnd(16)} ${machineState(m).padEnd(10)} ${safe(m.info?.hostname ?? '-')}  ${safe(m.info?.version ?? '')}  workspaces: ${m.info?.workspaces.map((w) => w.name).join(', ') || '-'}  running: ${m.info?.running.length ?? 0}/${m.info?.maxRuns ?? '-'}`)
            .join('\n') + '\n',
    );
    return 0;
  }
}

import { Command, Option } from 'clipanion';
import { RevokeResponse } from '../../../protocol/api.js';
import { GatewayCommand } from '../base.js';
import { runIdArg } from './args.js';

export class RunsRevokeCommand extends GatewayCommand {
  static override paths = [['runs', 'revoke']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "Revoke a run's token: its runner is cut off now and can never reconnect; the run ends as revoked",
    details: `
      For a run token that may be in the wrong hands, or a runner that does not honour
      \`ccg runs cancel\`. The gateway closes the runner's socket at once and refuses the token
      from then on (reconnects, artifact uploads); output already stored stays. A run still going
      ends as "revoked" (\`ccg runs wait\` exits 130); an ended run keeps its state. Nothing is
      asked of the runner: an honest ccg runner stops its command when it is refused, a hostile
      one can only go on writing to nowhere. A cancelled run that has not ended within the
      gateway's cancel grace period (\`ccg serve --cancel-grace\`, default 30s) is revoked the same
      way. Operators and admins; audited.
    `,
    examples: [['Cut a runner off', 'ccg runs revoke 7k2m9x4q3w8z']],
  });

  id = Option.String({ name: 'RUN_ID' });

  protected async run(): Promise<number> {
    const out = await this.api().json('POST', `/api/v1/runs/${runIdArg(this.id)}/revoke`, RevokeResponse);
    this.print(out, () => `run ${out.run.id}: token revoked${out.connected ? ', runner cut off' : ''}; the run is ${out.run.status}\n`);
    return 0;
  }
}

import { Command, Option } from 'clipanion';
import { RUN_STATUSES } from '../../../protocol/run-status.js';
import { ListRunsResponse } from '../../client/lazy-schemas.js';
import { CliError } from '../../exit-codes.js';
import { age, costText, safe, statusText, table } from '../../format.js';
import { GatewayCommand, countOption } from '../base.js';

export class RunsListCommand extends GatewayCommand {
  static override paths = [['runs', 'list'], ['runs']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: 'List runs, newest first',
    examples: [
      ['All recent runs', 'ccg runs list'],
      ['Only running ones, as JSON', 'ccg runs list --status running --json'],
    ],
  });

  status = Option.String('--status', { description: `Only runs in this state (${RUN_STATUSES.join(', ')})` });
  limit = Option.String('--limit', '50', { description: 'At most this many (1-500)' });

  protected async run(): Promise<number> {
    if (this.status && !(RUN_STATUSES as readonly string[]).includes(this.status)) {
      throw new CliError(`--status must be one of ${RUN_STATUSES.join(', ')}`);
    }
    const limit = countOption(this.limit, '--limit', 1, 500);
    const q = new URLSearchParams({ limit: String(limit), ...(this.status ? { status: this.status } : {}) });
    const out = await this.api().json('GET', `/api/v1/runs?${q}`, ListRunsResponse);
    this.print(out, () =>
      out.runs.length === 0
        ? 'no runs yet: create one with `ccg runs create`\n'
        : table([['ID', 'STATUS', 'AGE', 'COST', 'NAME'], ...out.runs.map((r) => [r.id, statusText(r), age(r.createdAt), costText(r), safe(r.name)])]),
    );
    return 0;
  }
}

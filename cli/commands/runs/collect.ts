import { Command, Option } from 'clipanion';
import { CollectResponse } from '../../../protocol/artifacts.js';
import { CliError, EXIT } from '../../exit-codes.js';
import { safe } from '../../format.js';
import { GatewayCommand, parseWait } from '../base.js';
import { runIdArg } from './args.js';
import { followRequest } from './follow.js';

export class RunsCollectCommand extends GatewayCommand {
  static override paths = [['runs', 'collect']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "Ask a run's runner to collect and upload its artifacts now",
    details: `
      The runner uploads the run log, \`git diff\`, \`git diff --staged\`, the list of untracked
      files and the files matching its own --artifact globs (each cut at its --artifact-max). It
      also does this by itself when the command exits. Needs the operator or admin role.

      With --wait, waits for the upload to finish, prints what was uploaded and skipped, and exits
      1 when the collection failed as a whole (a partial collection exits 0; see "skipped").
      List and download the results with \`ccg runs artifacts ID\`.
    `,
    examples: [
      ['Collect now and wait', 'ccg runs collect 7k2m9x4q3w8z --wait'],
      ['Then fetch the diff', 'ccg runs artifacts 7k2m9x4q3w8z --download diff.patch'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  wait = Option.Boolean('--wait', false, { description: 'Wait until the runner has uploaded everything' });
  timeout = Option.String('--timeout', '10m', { description: 'With --wait: give up after this long' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    const timeoutMs = parseWait(this.timeout, '--timeout');
    const target = this.target();
    const res = await this.api().json('POST', `/api/v1/runs/${id}/collect`, CollectResponse);
    if (!this.wait) {
      this.print(res, () => `asked the runner of ${id} to collect artifacts (request ${res.requestId})\n`);
      return 0;
    }
    return followRequest(target, id, res.fromSeq, {
      event: (ev) => {
        if (ev.type !== 'collect_done' || ev.requestId !== res.requestId) return undefined;
        if (ev.error && ev.uploaded.length === 0) return this.report(new CliError(`the runner did not collect: ${ev.error}`, EXIT.ERROR, 'ERR_REFUSED'));
        this.print({ requestId: res.requestId, uploaded: ev.uploaded, skipped: ev.skipped, error: ev.error }, () =>
          [
            ...ev.uploaded.map((u) => `uploaded  ${safe(u.name)} (${u.bytes} bytes${u.truncated ? ', truncated' : ''})`),
            ...ev.skipped.map((s) => `skipped   ${safe(s.name)}: ${safe(s.reason)}`),
            ...(ev.error ? [`error     ${safe(ev.error)}`] : []),
            '',
          ].join('\n'),
        );
        return ev.error ? EXIT.ERROR : 0;
      },
    }, { timeoutMs, what: 'the collect request', client: 'ccg-collect' }, (err) => this.report(err));
  }
}

import { Command, Option } from 'clipanion';
import { isFinal, type RunSummary } from '../../../protocol/run.js';
import { OperatorClient } from '../../client/operator-client.js';
import { waitThroughClosedPipe } from '../../closed-pipe.js';
import { CliError, EXIT, exitForCode } from '../../exit-codes.js';
import { safe, statusText } from '../../format.js';
import { GatewayCommand, parseWait } from '../base.js';
import { runIdArg } from './args.js';

/** The exit status `ccg runs wait` reports for a finished run. */
/** How long past --timeout the run's first state may still come (then 124: a gateway that never sends it stays bounded). */
const FIRST_STATE_GRACE_MS = 5_000;

export function exitStatusOf(run: RunSummary): number {
  // Revoked: cut off by an operator or after an unanswered cancel, a cancel by force.
  if (run.status === 'cancelled' || run.status === 'revoked') return EXIT.CANCELLED;
  if (run.status === 'exited') return run.exitCode ?? EXIT.ERROR;
  return run.exitCode && run.exitCode > 0 ? run.exitCode : EXIT.ERROR;
}

export class RunsWaitCommand extends GatewayCommand {
  static override paths = [['runs', 'wait']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "Wait for a run to end and exit with the run's exit code",
    details: `
      Exits with the run's own exit code (130 if it was cancelled, 1 if it failed without one),
      or 124 when --timeout runs out first (a run that has already ended gives its own code,
      however short the timeout). Survives gateway restarts: once connected, it
      reconnects and keeps waiting. If the gateway cannot be reached at the start it exits 69;
      66 for an unknown run; 77 for a refused token.

      With --json, prints {"run":{…}} (the final run summary) on stdout.
    `,
    examples: [
      ['Fail a CI job when the run fails', 'ccg runs wait 7k2m9x4q3w8z --timeout 30m'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  timeout = Option.String('--timeout', { description: 'Give up after this long (e.g. 90s, 30m, 2h); default: wait forever' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    waitThroughClosedPipe();
    const timeoutMs = this.timeout !== undefined ? parseWait(this.timeout, '--timeout') : undefined;
    const client = new OperatorClient(this.target(), { reconnect: true, client: 'ccg-wait', failFast: true });
    return new Promise<number>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      /** Whether the run's state has been heard yet, and whether the time ran out before it was. */
      let heard = false;
      let expired = false;
      const end = (code: number) => {
        if (timer) clearTimeout(timer);
        client.close();
        resolve(code);
      };
      const timedOut = () => end(this.report(new CliError(`run ${id} still not finished after ${this.timeout}`, EXIT.TIMEOUT, 'ERR_TIMEOUT')));
      if (timeoutMs !== undefined) {
        // A run that has already ended is reported as ended, however short the timeout
        // (`--timeout 0` said "still not finished"): the time may run out before its state
        // arrives, which then gets a moment more (a gateway that never says stays bounded).
        timer = setTimeout(() => {
          if (heard) return timedOut();
          expired = true;
          timer = setTimeout(timedOut, FIRST_STATE_GRACE_MS);
        }, timeoutMs);
      }
      client.on('run', (run) => {
        if (run.id !== id) return;
        heard = true;
        if (!isFinal(run.status)) {
          if (expired) timedOut();
          return;
        }
        this.print({ run }, () => `run ${id} ${statusText(run)}${run.reason ? ` — ${safe(run.reason)}` : ''}\n`);
        end(exitStatusOf(run));
      });
      client.on('notice', (n) => end(this.report(new CliError(n.message, exitForCode(n.code), n.code))));
      client.on('fatal', (err) => end(this.report(err)));
      // Only state changes are wanted: start past any output.
      client.subscribe(id, { from: Number.MAX_SAFE_INTEGER });
      client.start();
    });
  }
}

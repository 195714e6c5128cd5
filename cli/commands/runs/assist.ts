import { Command, Option } from 'clipanion';
import { AssistActionResponse, AssistResponse, type AssistInfo } from '../../../protocol/assist.js';
import { CliError, EXIT } from '../../exit-codes.js';
import { safe } from '../../format.js';
import { GatewayCommand, parseWait } from '../base.js';
import { runIdArg } from './args.js';
import { followRequest } from './follow.js';

function describe(a: AssistInfo | null): string {
  if (!a) return 'no assist session\n';
  const lines = [`state        ${a.state}${a.reason ? ` (${safe(a.reason)})` : ''}`];
  if (a.links) {
    lines.push(`ssh          ${safe(a.links.ssh)}`);
    if (a.links.sshReadOnly) lines.push(`ssh (ro)     ${safe(a.links.sshReadOnly)}`);
    if (a.links.web) lines.push(`web          ${safe(a.links.web)}`);
    if (a.links.webReadOnly) lines.push(`web (ro)     ${safe(a.links.webReadOnly)}`);
  }
  if (a.expiresAt) lines.push(`ends by      ${new Date(a.expiresAt).toISOString()}`);
  return lines.join('\n') + '\n';
}

export class RunsAssistCommand extends GatewayCommand {
  static override paths = [['runs', 'assist']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Start, stop or show an assist session (a tmate terminal on the runner machine)',
    details: `
      Works only when the runner was started with --assist; it stops the session by itself after
      its --assist-max minutes and when the run ends. Operators and admins only: the read-write
      link is a shell on that machine, as the runner's user. Every start, stop and show is in the
      audit log.

      \`start\` waits until tmate has printed its links (or --timeout) and shows them; \`stop\`
      waits until it is closed; \`show\` prints what the gateway knows now.
    `,
    examples: [
      ['Open a terminal on the Claude machine', 'ccg runs assist 7k2m9x4q3w8z start'],
      ['Close it', 'ccg runs assist 7k2m9x4q3w8z stop'],
      ['For a script', 'ccg runs assist 7k2m9x4q3w8z show --json'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  action = Option.String({ name: 'start|stop|show' });
  timeout = Option.String('--timeout', '60s', { description: 'How long start/stop wait for the runner' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    if (!['start', 'stop', 'show'].includes(this.action)) throw new CliError(`unknown action "${safe(this.action.slice(0, 20))}": use start, stop or show`);
    const api = this.api();
    if (this.action === 'show') {
      const out = await api.json('GET', `/api/v1/runs/${id}/assist`, AssistResponse);
      this.print(out, () => (out.enabled ? '' : 'assist sessions are off on this runner (it was not started with --assist)\n') + describe(out.assist));
      return 0;
    }
    const target = this.target();
    const res = await api.json('POST', `/api/v1/runs/${id}/assist`, AssistActionResponse, { action: this.action });
    const want = this.action === 'start' ? 'active' : 'stopped';
    return followRequest(target, id, res.fromSeq, {
      // A refusal is not kept as the session's state, so it may come and go before we subscribe:
      // the runner's event (in the stream, from fromSeq) is the record that cannot be missed.
      event: (ev) => {
        if (ev.type !== 'assist_refused' || ev.requestId !== res.requestId) return undefined;
        return this.report(new CliError(`the runner refused or could not start the assist session: ${ev.reason}`, EXIT.ERROR, 'ERR_REFUSED'));
      },
      assist: (a) => {
        if (a.requestId !== res.requestId) return undefined;
        if (a.state === 'starting') return undefined;
        if (a.state === 'refused' || a.state === 'failed') return this.report(new CliError(`the runner ${a.state === 'refused' ? 'refused' : 'could not start'} the assist session: ${a.reason ?? 'no reason given'}`, EXIT.ERROR, 'ERR_REFUSED'));
        if (a.state !== want) return undefined;
        this.print({ assist: a }, () => describe(a));
        return 0;
      },
    }, { timeoutMs: parseWait(this.timeout, '--timeout'), what: `assist ${this.action}`, client: 'ccg-assist' }, (err) => this.report(err));
  }
}

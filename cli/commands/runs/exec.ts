import { Command, Option } from 'clipanion';
import type { ExecResponse } from '../../../protocol/api.js';
import { STREAM_COMMAND, STREAM_EVENT } from '../../../protocol/frames.js';
import { parseEvents } from '../../../protocol/runner-events.js';
import { OperatorClient } from '../../client/operator-client.js';
import { CliError, EXIT } from '../../exit-codes.js';
import { GatewayCommand, parseDuration } from '../base.js';
import { runIdArg } from './args.js';

export class RunsExecCommand extends GatewayCommand {
  static override paths = [['runs', 'exec']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "Ask a run's runner to run one of its allowlisted commands",
    details: `
      The runner alone decides: it runs only names on its own allowlist, with parameters that
      match its patterns. With --wait, streams the command's output and exits with its exit code
      (124 if it timed out on the runner); a refusal exits 1 with the runner's reason.
    `,
    examples: [
      ['Run the tests and wait', 'ccg runs exec 7k2m9x4q3w8z test --wait'],
      ['With a parameter', 'ccg runs exec 7k2m9x4q3w8z show file=src/main.ts --wait'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  name = Option.String({ name: 'NAME' });
  params = Option.Rest({ name: 'PARAM=VALUE' });
  wait = Option.Boolean('--wait', false, { description: "Stream the output and exit with the command's exit code" });
  timeout = Option.String('--timeout', { description: 'With --wait: give up after this long (default: the command’s own timeout)' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    const params: Record<string, string> = {};
    for (const p of this.params) {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new CliError(`"${p}" is not PARAM=VALUE`);
      params[p.slice(0, eq)] = p.slice(eq + 1);
    }
    const target = this.target();
    const res = await this.api().json<ExecResponse>('POST', `/api/v1/runs/${id}/exec`, { name: this.name, params });
    if (!this.wait) {
      this.print(res, () => `requested ${this.name} on ${id} (request ${res.requestId}); follow with: ccg runs logs ${id} --follow --json\n`);
      return 0;
    }
    const timeoutMs = this.timeout ? parseDuration(this.timeout, '--timeout') : undefined;
    const client = new OperatorClient(target, { reconnect: true, client: 'ccg-exec' });
    return new Promise<number>((resolve) => {
      let mine = false;
      let timer: NodeJS.Timeout | undefined;
      const end = (code: number) => {
        if (timer) clearTimeout(timer);
        client.close();
        resolve(code);
      };
      if (timeoutMs !== undefined) timer = setTimeout(() => end(this.report(new CliError(`${this.name} did not finish within ${this.timeout}`, EXIT.TIMEOUT, 'ERR_TIMEOUT'))), timeoutMs);
      client.on('chunk', (c) => {
        if (c.stream === STREAM_COMMAND && mine && !this.json) this.context.stdout.write(c.data);
        if (c.stream === STREAM_COMMAND && mine && this.json) this.context.stdout.write(JSON.stringify({ seq: c.seq, text: Buffer.from(c.data).toString('utf8') }) + '\n');
        if (c.stream !== STREAM_EVENT) return;
        for (const ev of parseEvents(c.data)) {
          if (!('requestId' in ev) || ev.requestId !== res.requestId) continue;
          if (ev.type === 'exec_started') mine = true;
          else if (ev.type === 'exec_refused') end(this.report(new CliError(`the runner refused ${this.name}: ${ev.reason}`, EXIT.ERROR, 'ERR_REFUSED')));
          else {
            if (this.json) this.context.stdout.write(JSON.stringify({ exit: ev }) + '\n');
            else if (ev.timedOut) this.context.stderr.write(`ccg: ${this.name} timed out on the runner\n`);
            end(ev.timedOut ? EXIT.TIMEOUT : (ev.code ?? EXIT.ERROR));
          }
        }
      });
      client.on('notice', (n) => end(this.report(new CliError(n.message, EXIT.ERROR, n.code))));
      client.on('fatal', (err) => end(this.report(err)));
      client.subscribe(id, { from: res.fromSeq });
      client.start();
    });
  }
}

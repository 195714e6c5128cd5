import { StringDecoder } from 'node:string_decoder';
import { Command, Option } from 'clipanion';
import { ExecResponse } from '../../../protocol/api.js';
import { STREAM_COMMAND } from '../../../protocol/frames.js';
import { waitThroughClosedPipe } from '../../closed-pipe.js';
import { CliError, EXIT } from '../../exit-codes.js';
import { jsonLine } from '../../format.js';
import { isTerminal, TerminalFilter } from '../../terminal-filter.js';
import { GatewayCommand, parseWait } from '../base.js';
import { runIdArg } from './args.js';
import { commandExitStatus, followRequest } from './follow.js';

export class RunsExecCommand extends GatewayCommand {
  static override paths = [['runs', 'exec']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "Ask a run's runner to run one of its allowlisted commands",
    details: `
      The runner alone decides: it runs only names on its own allowlist (see \`ccg runs commands
      ID\`), with parameters that match its patterns, without a shell, in its workspace.

      With --wait, streams the command's output (stdout and stderr together) and exits with the
      command's exit code: 128 + N when signal N ended it, 124 when it hit its timeout on the
      runner, 1 for a code outside 0–255 (256 would read as success). A refusal by the runner exits 1 and prints the runner's reason; a name it does not
      offer exits 66. --timeout gives up waiting (124), not the command: it runs on to its end or
      to the runner's own timeout, and the runner takes no other command meanwhile. Without --wait,
      prints the request id and returns at once; the output is in \`ccg runs logs ID --json\`
      (stream "command").

      With --json and --wait: one JSON line per output chunk, {"seq":N,"text":"…"}, then
      {"exit":{…the runner's exec_exit event…}}.
    `,
    examples: [
      ['Run the tests and wait for the result', 'ccg runs exec 7k2m9x4q3w8z test --wait'],
      ['With a parameter', 'ccg runs exec 7k2m9x4q3w8z show rev=HEAD~1 path=src/main.ts --wait'],
      ['In CI: fail the job when the tests fail', 'ccg runs exec "$RUN" test --wait --timeout 20m || exit $?'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  name = Option.String({ name: 'NAME' });
  params = Option.Rest({ name: 'PARAM=VALUE' });
  wait = Option.Boolean('--wait', false, { description: "Stream the output and exit with the command's exit code" });
  timeout = Option.String('--timeout', { description: 'With --wait: give up after this long (e.g. 10m; default: no limit besides the runner\'s own timeout)' });
  raw = Option.Boolean('--raw', false, { description: 'With --wait, on a terminal too: write the output exactly as the command wrote it (escape sequences included)' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    if (this.wait) waitThroughClosedPipe();
    const params: Record<string, string> = {};
    for (const p of this.params) {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new CliError(`"${p}" is not PARAM=VALUE`);
      params[p.slice(0, eq)] = p.slice(eq + 1);
    }
    const timeoutMs = this.timeout ? parseWait(this.timeout, '--timeout') : undefined;
    const target = this.target();
    const res = await this.api().json('POST', `/api/v1/runs/${id}/exec`, ExecResponse, { name: this.name, params });
    if (!this.wait) {
      this.print(res, () => `requested ${this.name} on ${id} (request ${res.requestId}); follow with: ccg runs logs ${id} --follow --json\n`);
      return 0;
    }
    let mine = false;
    // On a terminal, the runner's escape sequences are filtered (colours kept); see `runs logs`.
    const filter = !this.raw && isTerminal(this.context.stdout) ? new TerminalFilter() : null;
    const decoder = new StringDecoder('utf8');
    return followRequest(target, id, res.fromSeq, {
      // One command runs at a time on a runner: between our exec_started and exec_exit, stream 2 is ours.
      chunk: (c) => {
        if (c.stream !== STREAM_COMMAND || !mine) return;
        // A character split across two chunks is decoded whole (as runs logs --json does).
        if (this.json) this.context.stdout.write(jsonLine({ seq: c.seq, text: decoder.write(Buffer.from(c.data)) }));
        else this.context.stdout.write(filter ? filter.write(c.data) : c.data);
      },
      event: (ev) => {
        if (!('requestId' in ev) || ev.requestId !== res.requestId) return undefined;
        switch (ev.type) {
          case 'exec_started':
            mine = true;
            return undefined;
          case 'exec_refused':
            return this.report(new CliError(`the runner refused ${this.name}: ${ev.reason}`, EXIT.ERROR, 'ERR_REFUSED'));
          case 'exec_exit':
            mine = false;
            if (this.json) this.context.stdout.write(jsonLine({ exit: ev }));
            else if (ev.timedOut) this.context.stderr.write(`ccg: ${this.name} timed out on the runner\n`);
            else if (ev.truncated) this.context.stderr.write(`ccg: the output of ${this.name} hit the runner's cap; it was stopped\n`);
            return ev.timedOut ? EXIT.TIMEOUT : commandExitStatus(ev.code, ev.signal);
          default:
            return undefined;
        }
      },
    }, { timeoutMs, what: `exec ${this.name}`, client: 'ccg-exec' }, (err) => this.report(err));
  }
}

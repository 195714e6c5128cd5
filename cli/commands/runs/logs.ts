import { StringDecoder } from 'node:string_decoder';
import { pipeline } from 'node:stream/promises';
import { Command, Option } from 'clipanion';
import { CHILD_STREAMS, STREAMS } from '../../../protocol/frames.js';
import { isFinal, type RunSummary } from '../../../protocol/run.js';
import { OperatorClient } from '../../client/operator-client.js';
import { CliError, exitForCode } from '../../exit-codes.js';
import { jsonLine } from '../../format.js';
import { isTerminal, TerminalFilter } from '../../terminal-filter.js';
import { GatewayCommand } from '../base.js';
import { fromOption, runIdArg } from './args.js';
import { pauseWhileFull } from './follow.js';

export class RunsLogsCommand extends GatewayCommand {
  static override paths = [['runs', 'logs']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "Print a run's output exactly as its command wrote it",
    details: `
      Prints the command's own output (stdout and stderr); with --json, also the output of
      allowlisted commands ("command") and runner events ("event").

      Without --follow, prints what the gateway has stored and exits. With --follow, keeps
      streaming new output until the run ends, reconnecting (and resuming from the last chunk
      received, with no duplicate and no gap) if the gateway goes away.

      With --json, prints one JSON object per output chunk, one per line (for jq):
      {"seq":N,"stream":"stdout"|"stderr"|"command"|"event","time":ms,"text":"…"}.
      "text" is UTF-8 decoded per stream: a character split between two chunks is given whole in
      the later one. "seq" numbers have no gaps; resume with --from (last seq + 1).

      Exits 0 once the run has ended and all its output is printed (with --follow), 66 for an
      unknown run, 77 for a refused token, 69 when the gateway cannot be reached at the start.
    `,
    examples: [
      ['Everything so far', 'ccg runs logs 7k2m9x4q3w8z > run.log'],
      ['Follow live', 'ccg runs logs 7k2m9x4q3w8z --follow'],
      ['Resume from chunk 1200, as JSON lines', 'ccg runs logs 7k2m9x4q3w8z --follow --from 1200 --json | jq -r .text'],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  follow = Option.Boolean('-f,--follow', false, { description: 'Keep streaming until the run ends' });
  from = Option.String('--from', { description: 'Start at this chunk sequence number (default 1)' });
  raw = Option.Boolean('--raw', false, { description: 'On a terminal too, write the bytes exactly as the run wrote them (escape sequences included)' });

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    const from = fromOption(this.from);
    // On a terminal the runner's escape sequences are filtered (colours kept): a hostile run must
    // not write the operator's clipboard or retitle their terminal. Into a pipe or a file, and
    // with --raw, the bytes are exactly the run's.
    const filter = !this.raw && !this.json && isTerminal(this.context.stdout) ? new TerminalFilter() : null;
    this.filter = filter;
    if (!this.follow && !this.json) {
      const res = await this.api().open('GET', `/api/v1/runs/${id}/log?from=${from}`);
      if (!filter) {
        await pipeline(res, this.context.stdout, { end: false });
        return 0;
      }
      for await (const chunk of res as AsyncIterable<Buffer>) this.context.stdout.write(filter.write(chunk));
      return 0;
    }
    return this.stream(id, from);
  }

  private filter: TerminalFilter | null = null;

  private stream(id: string, from: number): Promise<number> {
    const client = new OperatorClient(this.target(), { reconnect: this.follow, client: 'ccg-logs', failFast: true });
    const out = this.context.stdout;
    const decoders = new Map<number, StringDecoder>();
    const decode = (stream: number, data: Uint8Array) => {
      let d = decoders.get(stream);
      if (!d) decoders.set(stream, (d = new StringDecoder('utf8')));
      return d.write(Buffer.from(data));
    };
    return new Promise<number>((resolve) => {
      let final: RunSummary | null = null;
      let caughtUp = false;
      const maybeDone = () => {
        const next = client.nextSeq(id) ?? from;
        const ended = final !== null && next > final.lastSeq;
        if (ended || (!this.follow && caughtUp)) {
          client.close();
          resolve(0);
        }
      };
      const written = pauseWhileFull(client, out);
      client.on('chunk', (c) => {
        if (this.json) {
          out.write(jsonLine({ seq: c.seq, stream: STREAMS[c.stream] ?? String(c.stream), time: c.time, text: decode(c.stream, c.data) }));
        } else if (CHILD_STREAMS.has(c.stream)) {
          out.write(this.filter ? this.filter.write(c.data) : c.data);
        }
        written();
        maybeDone();
      });
      client.on('run', (run) => {
        if (run.id === id && isFinal(run.status)) final = run;
        maybeDone();
      });
      client.on('caught_up', ({ runId }) => {
        if (runId === id) caughtUp = true;
        maybeDone();
      });
      client.on('notice', (n) => {
        client.close();
        resolve(this.report(new CliError(n.message, exitForCode(n.code), n.code)));
      });
      client.on('fatal', (err) => resolve(this.report(err)));
      client.on('state', (s) => {
        // With --json, stderr holds only the one error line a script parses.
        if (s === 'reconnecting' && !this.json) this.context.stderr.write('ccg: gateway connection lost; reconnecting…\n');
      });
      client.subscribe(id, { from });
      client.start();
    });
  }
}

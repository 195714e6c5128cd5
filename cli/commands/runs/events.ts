import { createInterface } from 'node:readline';
import { Command, Option } from 'clipanion';
import { STREAM_EVENT } from '../../../protocol/frames.js';
import { RunnerEvent } from '../../../protocol/runner-events.js';
import { isFinal, type RunSummary } from '../../../protocol/run.js';
import { itemsOfChunk, type TimelineItem } from '../../../protocol/timeline.js';
import { OperatorClient } from '../../client/operator-client.js';
import { CliError, exitForCode } from '../../exit-codes.js';
import { TextTimeline } from '../../render/timeline-text.js';
import { jsonLine } from '../../format.js';
import { LiveTextPrinter } from '../../render/live-text-printer.js';
import { GatewayCommand } from '../base.js';
import { fromOption, runIdArg } from './args.js';
import { pauseWhileFull } from './follow.js';

export class RunsEventsCommand extends GatewayCommand {
  static override paths = [['runs', 'events']];
  static override usage = Command.Usage({
    category: 'Runs',
    description: "Print a run's timeline: Claude's text, tool calls, results, approvals, the final cost",
    details: `
      The readable side of a Claude run (the raw stream-json is \`ccg runs logs\`). Every line
      Claude printed becomes an event: claude_text, claude_tool_use, claude_tool_result,
      claude_result (cost, tokens, turns, duration, denials), approval_requested /
      approval_resolved, input_sent (prompts and follow-ups), claude_raw (anything unknown,
      shown raw), and a few more; docs/CLAUDE_CODE.md lists them all.

      With --json, prints one JSON object per event: {"seq":N,"time":ms,"type":"…",…}.
      Without it, prints terminal lines with every control sequence removed.

      With --follow, keeps printing new events until the run ends, reconnecting and resuming
      without duplicates if the gateway goes away. Claude's reply is printed as it is written
      (live text); the stored message then completes it. With --follow --json, add --live to
      get live text as {"type":"live_text",…} lines too (they are not events: the claude_text
      event that follows holds the same text).
    `,
    examples: [
      ['The timeline so far', 'ccg runs events 7k2m9x4q3w8z'],
      ['Follow it live as JSON lines', 'ccg runs events 7k2m9x4q3w8z --follow --json'],
      ['Wait for approvals in a script', "ccg runs events 7k2m9x4q3w8z --follow --json | jq -c 'select(.type == \"approval_requested\")'"],
    ],
  });

  id = Option.String({ name: 'RUN_ID' });
  follow = Option.Boolean('-f,--follow', false, { description: 'Keep printing until the run ends' });
  from = Option.String('--from', { description: 'Start at this output sequence number (default 1)' });
  live = Option.Boolean('--live', false, { description: 'With --follow --json: also print live text ({"type":"live_text",…}) as Claude writes' });

  private text: TextTimeline | null = null;
  private livePrinter: LiveTextPrinter | null = null;

  protected async run(): Promise<number> {
    const id = runIdArg(this.id);
    const from = fromOption(this.from);
    this.text = new TextTimeline({
      approvalHint: (a, kind) =>
        kind === 'questions' ? `answer: ccg runs answer ${id} ${a} --choose N=OPTION` : kind === 'plan' ? `answer: ccg runs plan ${id} ${a} --approve [--allow-edits] | --keep-planning` : `answer: ccg runs approve ${id} ${a}  |  ccg runs deny ${id} ${a}`,
    });
    if (!this.follow) {
      const res = await this.api().open('GET', `/api/v1/runs/${id}/events?from=${from}`);
      for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
        if (!line.trim()) continue;
        let value: { seq?: unknown; time?: unknown } & Record<string, unknown>;
        try {
          value = JSON.parse(line) as typeof value;
        } catch {
          continue;
        }
        const { seq, time, ...event } = value;
        const parsed = RunnerEvent.safeParse(event);
        if (!parsed.success || typeof seq !== 'number' || typeof time !== 'number') continue;
        this.emit({ seq, time, event: parsed.data });
      }
      return 0;
    }
    return this.stream(id, from);
  }

  private emit(item: TimelineItem): void {
    if (this.json) {
      this.context.stdout.write(jsonLine({ seq: item.seq, time: item.time, ...item.event }));
      return;
    }
    const shown = this.livePrinter?.beforeEvent(item.event) ?? false;
    const lines = this.text!.push(item);
    if (!shown) for (const l of lines) this.context.stdout.write(`${l.text}\n`);
  }

  private stream(id: string, from: number): Promise<number> {
    const client = new OperatorClient(this.target(), { reconnect: true, client: 'ccg-events' });
    return new Promise<number>((resolve) => {
      let final: RunSummary | null = null;
      const maybeDone = () => {
        const next = client.nextSeq(id) ?? from;
        if (final !== null && next > final.lastSeq) {
          client.close();
          resolve(0);
        }
      };
      const written = pauseWhileFull(client, this.context.stdout);
      client.on('chunk', (c) => {
        if (c.stream === STREAM_EVENT) for (const item of itemsOfChunk(c)) this.emit(item);
        written();
        maybeDone();
      });
      if (!this.json) this.livePrinter = new LiveTextPrinter((s) => this.context.stdout.write(s));
      client.on('live_text', (m) => {
        if (m.runId !== id) return;
        if (this.json) {
          if (this.live) this.context.stdout.write(jsonLine(m));
        } else this.livePrinter?.onLive(m);
      });
      client.on('run', (run) => {
        if (run.id === id && isFinal(run.status)) final = run;
        maybeDone();
      });
      client.on('notice', (n) => {
        if (n.runId && n.runId !== id) return;
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

import { constants as osConstants } from 'node:os';
import type { AssistInfo } from '../../../protocol/assist.js';
import { STREAM_EVENT, type ViewChunk } from '../../../protocol/frames.js';
import { isFinal, type RunSummary } from '../../../protocol/run.js';
import { parseEvents, type RunnerEvent } from '../../../protocol/runner-events.js';
import type { GatewayTarget } from '../../client/api.js';
import { OperatorClient } from '../../client/operator-client.js';
import { CliError, EXIT, exitForCode } from '../../exit-codes.js';

/** A handler's verdict: a number ends the wait with that exit status, undefined keeps waiting. */
type Verdict = number | undefined;

export interface FollowHandlers {
  chunk?(c: ViewChunk): void;
  event?(ev: RunnerEvent): Verdict;
  assist?(a: AssistInfo): Verdict;
}

/**
 * Waits for the runner's answer to a request: subscribes to the run from `fromSeq` (where the
 * answer will be, in the event stream) and hands chunks, events and assist reports to `h` until a
 * handler returns an exit status. Fails when the run ends without an answer, on `timeoutMs`, and on
 * gateway errors; reconnects (resuming from the last chunk) if the gateway goes away.
 */
export function followRequest(target: GatewayTarget, runId: string, fromSeq: number, h: FollowHandlers, opts: { timeoutMs: number | undefined; what: string; client: string }, report: (err: unknown) => number): Promise<number> {
  const client = new OperatorClient(target, { reconnect: true, client: opts.client, failFast: true });
  return new Promise<number>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let final: RunSummary | null = null;
    let ended = false;
    const end = (code: number) => {
      if (ended) return;
      ended = true;
      if (timer) clearTimeout(timer);
      client.close();
      resolve(code);
    };
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => end(report(new CliError(`no answer to ${opts.what} within ${Math.round(opts.timeoutMs! / 1000)} s`, EXIT.TIMEOUT, 'ERR_TIMEOUT'))), opts.timeoutMs);
    }
    const checkEnded = () => {
      // The runner answers before it reports its exit: a final run whose output we have in full did not answer.
      if (final && (client.nextSeq(runId) ?? fromSeq) > final.lastSeq) {
        end(report(new CliError(`the run ended (${final.status}) before the runner answered ${opts.what}`, EXIT.ERROR, 'ERR_RUN_FINISHED')));
      }
    };
    client.on('chunk', (c) => {
      if (c.runId !== runId || ended) return;
      h.chunk?.(c);
      if (c.stream === STREAM_EVENT && h.event) {
        for (const ev of parseEvents(c.data)) {
          const v = h.event(ev);
          if (v !== undefined) return end(v);
        }
      }
      checkEnded();
    });
    client.on('assist', ({ runId: id, assist }) => {
      if (id !== runId || ended || !h.assist) return;
      const v = h.assist(assist);
      if (v !== undefined) end(v);
    });
    client.on('run', (run) => {
      if (run.id !== runId) return;
      if (isFinal(run.status)) final = run;
      checkEnded();
    });
    client.on('notice', (n) => end(report(new CliError(n.message, exitForCode(n.code), n.code))));
    client.on('fatal', (err) => end(report(err)));
    client.subscribe(runId, { from: fromSeq });
    client.start();
  });
}

/**
 * The exit status of a command that ended: its code, or 128 + the signal's number. A code a
 * process cannot exit with here (outside 0–255: a Windows `exit /b 256`, or a hostile runner's)
 * is a failure (1), never what the shell would make of it (256 is 0 modulo 256: success).
 */
export function commandExitStatus(code: number | null, signal: string | null): number {
  if (code !== null) return code >= 0 && code <= 255 ? code : EXIT.ERROR;
  const n = signal ? (osConstants.signals as Record<string, number>)[signal] : undefined;
  return n !== undefined ? 128 + n : EXIT.ERROR;
}

/**
 * For a follower writing what a socket brings: call the function returned after each write.
 * While `out` is full (its reader is slow: a `| less` nobody scrolls) the socket is not read, so
 * this process holds at most what one read brought, and the gateway keeps the rest in its store
 * (a run may hold gigabytes); reading resumes once `out` drains.
 */
export function pauseWhileFull(client: { pause(): void; resume(): void }, out: NodeJS.WritableStream): () => void {
  let paused = false;
  return () => {
    if (paused || !(out as { writableNeedDrain?: boolean }).writableNeedDrain) return;
    paused = true;
    client.pause();
    out.once('drain', () => {
      paused = false;
      client.resume();
    });
  };
}

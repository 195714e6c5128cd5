import { useCallback, useEffect, useRef, useState } from 'react';
import { STREAM_COMMAND, STREAM_EVENT, type ViewChunk } from '../../../protocol/frames.js';
import { parseEvents } from '../../../protocol/runner-events.js';
import type { OperatorClient } from '../../client/operator-client.js';
import type { TuiApi } from '../api.js';
import { OutputModel, type OutputLens } from '../output-model.js';

/** Only the command's own output (stream 2). */
const COMMAND_LENS: OutputLens = { name: 'command', hide: [0, 1, STREAM_EVENT] };

/** One allowlisted command started from the console: its output and how it ended. */
export interface CommandRun {
  name: string;
  state: 'sending' | 'waiting' | 'running' | 'exited' | 'refused' | 'failed';
  /** The command's output (stream 2 between its exec_started and exec_exit). */
  output: OutputModel;
  /** exited: "exit 0 in 1.2 s", "timed out", …; refused / failed: why. */
  detail: string | null;
  exitCode: number | null;
}

/**
 * Runs an allowlisted command on the selected run's runner and follows it: `POST …/exec`, then
 * the run's own subscription (the output hook's) carries the answer in the event stream from
 * `fromSeq`: exec_started, the output in stream 2, exec_exit (or exec_refused).
 */
export function useCommandRun(client: OperatorClient, api: TuiApi, runId: string | null): { current: CommandRun | null; version: number; start(name: string, params: Record<string, string>): void } {
  const [current, setCurrent] = useState<CommandRun | null>(null);
  const [version, setVersion] = useState(0);
  const active = useRef<{ run: CommandRun; requestId: string | null; fromSeq: number; early: ViewChunk[]; mine: boolean } | null>(null);
  const handleRef = useRef<((c: ViewChunk) => void) | null>(null);

  useEffect(() => {
    active.current = null;
    setCurrent(null);
    if (!runId) return;
    const bump = () => setVersion((v) => v + 1);
    const handle = (c: ViewChunk) => {
      const a = active.current;
      if (!a || a.requestId === null || c.seq < a.fromSeq) return;
      if (c.stream === STREAM_COMMAND && a.mine) {
        a.run.output.append([{ seq: c.seq, stream: c.stream, data: c.data, time: c.time }]);
        bump();
        return;
      }
      if (c.stream !== STREAM_EVENT) return;
      for (const ev of parseEvents(c.data)) {
        if (!('requestId' in ev) || ev.requestId !== a.requestId) continue;
        if (ev.type === 'exec_started') {
          a.mine = true;
          a.run.state = 'running';
        } else if (ev.type === 'exec_refused') {
          a.run.state = 'refused';
          a.run.detail = `the runner refused it: ${ev.reason}`;
          active.current = null;
        } else if (ev.type === 'exec_exit') {
          a.mine = false;
          a.run.state = 'exited';
          a.run.exitCode = ev.code;
          const secs = (ev.durationMs / 1000).toFixed(1);
          a.run.detail = `${ev.timedOut ? 'timed out' : ev.signal ? `killed by ${ev.signal}` : `exit ${ev.code}`} after ${secs} s${ev.truncated ? ' (output cut at the runner\u2019s cap)' : ''}`;
          active.current = null;
        }
        setCurrent({ ...a.run });
      }
    };
    const onChunk = (c: ViewChunk) => {
      if (c.runId !== runId) return;
      const a = active.current;
      if (!a) return;
      // Chunks that arrive before the exec answer tell us where the request starts.
      if (a.requestId === null) a.early.push(c);
      else handle(c);
    };
    client.on('chunk', onChunk);
    handleRef.current = handle;
    return () => {
      client.off('chunk', onChunk);
      handleRef.current = null;
      active.current = null;
    };
  }, [client, runId]);

  const start = useCallback(
    (name: string, params: Record<string, string>) => {
      if (!runId) return;
      const run: CommandRun = { name, state: 'sending', output: new OutputModel({ lens: COMMAND_LENS }), detail: null, exitCode: null };
      const a = { run, requestId: null as string | null, fromSeq: 0, early: [] as ViewChunk[], mine: false };
      active.current = a;
      setCurrent({ ...run });
      api
        .exec(runId, name, params)
        .then((res) => {
          if (active.current !== a) return;
          a.requestId = res.requestId;
          a.fromSeq = res.fromSeq;
          run.state = 'waiting';
          setCurrent({ ...run });
          for (const c of a.early.splice(0)) handleRef.current?.(c);
        })
        .catch((err: Error) => {
          if (active.current !== a) return;
          active.current = null;
          run.state = 'failed';
          run.detail = err.message;
          setCurrent({ ...run });
        });
    },
    [api, runId],
  );

  return { current, version, start };
}

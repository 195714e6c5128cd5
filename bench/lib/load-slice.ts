import { monitorEventLoopDelay } from 'node:perf_hooks';
import { STREAM_STDOUT } from '../../protocol/frames.js';
import { LoadRunner, LoadViewer, type BenchRun, type Target } from './clients.js';
import { mapLimit, until } from './stats.js';

/** One thread's share of the latency load: runners `first` … `first + runs.length − 1` of `total`. */
export interface SliceTask {
  target: Target;
  runs: BenchRun[];
  first: number;
  total: number;
  rate: number;
  seconds: number;
  warmupMs: number;
}

export interface SliceResult {
  sent: number;
  received: number;
  /** Delays (ms) of the lines sent after the warm-up. */
  samples: Float64Array;
  /** Lines the viewers received between the end of the warm-up and the last send (the CPU meter's window). */
  receivedInWindow: number;
  /** p99 event-loop delay of this thread while lines flowed after the warm-up, ms (NaN: the thread was too starved to sample it). */
  loopDelayP99: number;
}

/**
 * A log line of about 100 bytes that starts with its send time on this thread's monotonic clock
 * (performance.now(), ms): the viewer, on the same thread, subtracts it from its receive time.
 */
export function timedLine(t: number, runner: number, n: number): Buffer {
  return Buffer.from(`${t.toFixed(3)} r${runner} n${n} INFO worker compiled src/feature/module-${n % 97}.ts in ${n % 53} ms, 0 warnings\n`, 'latin1');
}

function sentTime(data: Buffer): number {
  const space = data.indexOf(32);
  return Number(data.toString('latin1', 0, space));
}

/** Opens this slice's runners and one live viewer each. */
export async function openSlice(task: SliceTask): Promise<{ runners: LoadRunner[]; viewers: LoadViewer[] }> {
  const runners = await mapLimit(task.runs, 16, (run) => LoadRunner.open(task.target, run));
  const viewers = await mapLimit(runners, 16, (r) => LoadViewer.open(task.target, r.runId, { from: r.seq + 1 }));
  return { runners, viewers };
}

/**
 * Sends this slice's lines from wall-clock `startAt` on: the k-th line overall (of all slices) is
 * due at k / (total × rate) s and goes to runner k mod total, so the runners' phases are spread
 * evenly across every thread, whatever the timer jitter. `onSent` fires after the last line.
 */
export async function runSlice(task: SliceTask, open: { runners: LoadRunner[]; viewers: LoadViewer[] }, startAt: number, onSent: () => void): Promise<SliceResult> {
  const { runners, viewers } = open;
  const samples: number[] = [];
  let received = 0;
  let counting = false;
  let receivedInWindow = 0;
  const start = startAt - performance.timeOrigin;
  const measureFrom = start + task.warmupMs;
  for (const v of viewers) {
    v.onData = (data) => {
      const now = performance.now();
      const sent = sentTime(data);
      received++;
      if (counting) receivedInWindow++;
      if (sent >= measureFrom) samples.push(now - sent);
    };
  }
  const perMs = (task.total * task.rate) / 1000;
  const totalMs = task.warmupMs + task.seconds * 1000;
  const loop = monitorEventLoopDelay({ resolution: 5 });
  let k = 0;
  let sent = 0;
  await new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, start - performance.now())));
  setTimeout(() => {
    loop.enable();
    counting = true;
  }, task.warmupMs).unref();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - start;
      const due = Math.floor(Math.min(elapsed, totalMs) * perMs);
      for (; k < due; k++) {
        const i = (k % task.total) - task.first;
        if (i < 0 || i >= runners.length) continue;
        runners[i]!.send(STREAM_STDOUT, timedLine(performance.now(), task.first + i, k));
        sent++;
      }
      if (elapsed >= totalMs) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  loop.disable();
  counting = false;
  onSent();
  await until(() => received >= sent, 10_000);
  await mapLimit([...viewers, ...runners], 64, (c) => c.close());
  return { sent, received, receivedInWindow, samples: Float64Array.from(samples), loopDelayP99: loop.count > 0 ? loop.percentile(99) / 1e6 : Number.NaN };
}

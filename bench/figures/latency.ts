import { STREAM_STDOUT } from '../../protocol/frames.js';
import { LoadRunner, LoadViewer, type BenchRun, type Target } from '../lib/clients.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cpuMeter } from '../lib/procs.js';
import { mapLimit, percentile, sleep, until } from '../lib/stats.js';

export interface LatencyResult {
  runners: number;
  linesPerSecond: number;
  seconds: number;
  sent: number;
  received: number;
  /** Lines that had not arrived 10 s after the last was sent. */
  lost: number;
  p50: number;
  p99: number;
  max: number;
  /** CPU use while lines flowed, % of one core: the server's and the load generator's (this process). */
  serverCpu: number;
  generatorCpu: number;
  /** p99 event-loop delay of the load generator, ms: when high, the generator (not the server) adds latency. */
  generatorLoopDelayP99: number;
}

/**
 * A log line of about 100 bytes that starts with its send time on the bench's monotonic clock
 * (performance.now(), ms): the viewer, in the same process, subtracts it from its receive time.
 */
export function timedLine(t: number, runner: number, n: number): Buffer {
  return Buffer.from(`${t.toFixed(3)} r${runner} n${n} INFO worker compiled src/feature/module-${n % 97}.ts in ${n % 53} ms, 0 warnings\n`, 'latin1');
}

function sentTime(data: Buffer): number {
  const space = data.indexOf(32);
  return Number(data.toString('latin1', 0, space));
}

/**
 * End-to-end latency, runner write → viewer receive: `runs.length` runners each send one line
 * every 1/rate s (spread evenly across runners), each run watched by one live viewer. Lines sent
 * during the first `warmupMs` are not counted.
 */
export async function measureLatency(t: Target, runs: BenchRun[], o: { rate: number; seconds: number; warmupMs: number; serverPid: number }): Promise<LatencyResult> {
  const runners = await mapLimit(runs, 16, (run) => LoadRunner.open(t, run));
  const viewers = await mapLimit(runners, 16, (r) => LoadViewer.open(t, r.runId, { from: r.seq + 1 }));
  const samples: number[] = [];
  let received = 0;
  let start = 0;
  const measureFrom = () => start + o.warmupMs;
  for (const v of viewers) {
    v.onData = (data) => {
      const now = performance.now();
      const sent = sentTime(data);
      received++;
      if (sent >= measureFrom()) samples.push(now - sent);
    };
  }
  await sleep(200);

  // One line per runner every 1/rate s, the runners' phases spread evenly: the k-th line overall
  // is due at k / (runners × rate) s, whatever the timer jitter.
  const n = runners.length;
  const perMs = (n * o.rate) / 1000;
  const totalMs = o.warmupMs + o.seconds * 1000;
  let sent = 0;
  const loop = monitorEventLoopDelay({ resolution: 5 });
  let cpu: (() => { server: number; generator: number }) | null = null;
  start = performance.now();
  setTimeout(() => {
    cpu = cpuMeter(o.serverPid);
    loop.enable();
  }, o.warmupMs).unref();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - start;
      const due = Math.floor(Math.min(elapsed, totalMs) * perMs);
      while (sent < due) {
        const i = sent % n;
        const r = runners[i]!;
        r.send(STREAM_STDOUT, timedLine(performance.now(), i, sent));
        sent++;
      }
      if (elapsed >= totalMs) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const usage = cpu ? (cpu as () => { server: number; generator: number })() : { server: Number.NaN, generator: Number.NaN };
  loop.disable();
  await until(() => received >= sent, 10_000);
  await mapLimit([...viewers, ...runners], 64, (c) => c.close());
  const sorted = Float64Array.from(samples).sort();
  return {
    runners: n,
    linesPerSecond: o.rate,
    seconds: o.seconds,
    sent,
    received,
    lost: sent - received,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    serverCpu: usage.server,
    generatorCpu: usage.generator,
    generatorLoopDelayP99: loop.percentile(99) / 1e6,
  };
}

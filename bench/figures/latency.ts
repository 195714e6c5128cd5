import { Worker } from 'node:worker_threads';
import { cpuMeter } from '../lib/procs.js';
import type { BenchRun, Target } from '../lib/clients.js';
import type { SliceResult, SliceTask } from '../lib/load-slice.js';
import { percentile } from '../lib/stats.js';

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
  /**
   * CPU time of the server per line it carried, µs: its CPU time (user + system, all threads)
   * after the warm-up until the last line was sent, divided by the lines the viewers received
   * meanwhile (not the lines due: a starved generator sends fewer).
   */
  serverCpuPerLine: number;
  /** CPU use while lines flowed, % of one core: the server's and the load generator's (this process, all its threads). */
  serverCpu: number;
  generatorCpu: number;
  /** The load generator's threads (worker threads, each with its share of the runners and their viewers). */
  generatorThreads: number;
  /** Highest p99 event-loop delay of the generator's threads, ms: when high, the generator (not the server) adds latency. */
  generatorLoopDelayP99: number;
  /** Each thread's p99 event-loop delay, ms. */
  generatorLoopDelaysP99: number[];
  /**
   * The window the CPU figures cover, in seconds on the system's monotonic clock: the clock
   * `perf record -k CLOCK_MONOTONIC` stamps its samples with, so a profile can be cut to it.
   */
  window: { fromS: number; toS: number };
  /** CPU time per line of `otherPids` together (the NATS servers of a cluster), µs, over the same window. */
  otherCpuPerLine?: number;
  /** Their CPU use, % of one core, summed. */
  otherCpu?: number;
}

/** Now on the system's monotonic clock, in seconds. */
function monotonicS(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

const SLICE_JS = new URL('../lib/load-slice-worker.js', import.meta.url);

/** One worker thread of the load generator, driven by messages (load-slice-worker.ts). */
class SliceWorker {
  private readonly worker: Worker;
  private readonly waiters = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private failure: Error | null = null;

  constructor(task: SliceTask) {
    this.worker = new Worker(SLICE_JS, { workerData: task });
    this.worker.on('message', (m: { type: string; value?: unknown; error?: string }) => {
      const w = this.waiters.get(m.type);
      if (m.error) this.failure ??= new Error(m.error);
      if (!w) return;
      this.waiters.delete(m.type);
      if (m.error) w.reject(new Error(m.error));
      else w.resolve(m.value);
    });
    this.worker.on('error', (err) => {
      this.failure ??= err;
      for (const w of this.waiters.values()) w.reject(err);
      this.waiters.clear();
    });
  }

  /** Waits for the worker's next message of this type. */
  next<T>(type: string): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.set(type, { resolve: resolve as (v: unknown) => void, reject }));
  }

  post(msg: unknown): void {
    this.worker.postMessage(msg);
  }

  async end(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * End-to-end latency, runner write → viewer receive: `runs.length` runners each send one line
 * every 1/rate s (spread evenly across runners), each run watched by one live viewer. Lines sent
 * during the first `warmupMs` are not counted. The runners and their viewers are spread over
 * `threads` worker threads (each thread times the lines of its own runners, on its own clock), so
 * one event loop holding thousands of TLS sockets does not become the bottleneck.
 */
export async function measureLatency(
  t: Target,
  runs: BenchRun[],
  o: { rate: number; seconds: number; warmupMs: number; serverPid: number; threads: number; otherPids?: number[] },
): Promise<LatencyResult> {
  const n = runs.length;
  const threads = Math.max(1, Math.min(o.threads, n));
  const workers: SliceWorker[] = [];
  try {
    for (let w = 0; w < threads; w++) {
      const lo = Math.floor((w * n) / threads);
      const hi = Math.floor(((w + 1) * n) / threads);
      const task: SliceTask = { target: t, runs: runs.slice(lo, hi), first: lo, total: n, rate: o.rate, seconds: o.seconds, warmupMs: o.warmupMs };
      workers.push(new SliceWorker(task));
    }
    await Promise.all(workers.map((w) => w.next('ready')));
    // Every thread starts at the same wall-clock moment, so the runners' phases stay spread evenly.
    const startAt = performance.timeOrigin + performance.now() + 200;
    const results = workers.map((w) => w.next<SliceResult>('done'));
    for (const w of workers) w.post({ type: 'go', startAt });
    let cpu: (() => { server: number; generator: number }) | null = null;
    let others: (() => { server: number })[] = [];
    let cpuFrom = 0;
    let fromS = Number.NaN;
    setTimeout(() => {
      cpu = cpuMeter(o.serverPid);
      others = (o.otherPids ?? []).map((pid) => cpuMeter(pid));
      cpuFrom = performance.now();
      fromS = monotonicS();
    }, startAt + o.warmupMs - (performance.timeOrigin + performance.now())).unref();
    const measuredEnd = Promise.all(workers.map((w) => w.next('sent')));
    await measuredEnd;
    const usage = cpu ? (cpu as () => { server: number; generator: number })() : { server: Number.NaN, generator: Number.NaN };
    const otherCpu = others.reduce((sum, m) => sum + m().server, 0);
    const windowMs = performance.now() - cpuFrom;
    const toS = monotonicS();
    const all = await Promise.all(results);
    const samples = Float64Array.from(all.flatMap((r) => Array.from(r.samples))).sort();
    const sent = all.reduce((a, r) => a + r.sent, 0);
    const received = all.reduce((a, r) => a + r.received, 0);
    const delays = all.map((r) => r.loopDelayP99);
    const inWindow = all.reduce((a, r) => a + r.receivedInWindow, 0);
    return {
      runners: n,
      linesPerSecond: o.rate,
      seconds: o.seconds,
      sent,
      received,
      lost: sent - received,
      p50: percentile(samples, 50),
      p99: percentile(samples, 99),
      max: samples.length ? samples[samples.length - 1]! : Number.NaN,
      serverCpuPerLine: ((usage.server / 100) * windowMs * 1000) / inWindow,
      serverCpu: usage.server,
      generatorCpu: usage.generator,
      generatorThreads: threads,
      generatorLoopDelayP99: Math.max(...delays),
      generatorLoopDelaysP99: delays,
      window: { fromS, toS },
      ...(o.otherPids ? { otherCpu, otherCpuPerLine: ((otherCpu / 100) * windowMs * 1000) / inWindow } : {}),
    };
  } finally {
    await Promise.all(workers.map((w) => w.end()));
  }
}

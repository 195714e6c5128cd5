import { LoadRunner, type BenchRun, type Target } from '../lib/clients.js';
import { mapLimit, median, sleep } from '../lib/stats.js';

export interface IdleRunnersResult {
  runners: number;
  before: number;
  after: number;
  perRunner: number;
}

/** RSS settles a moment after a burst of work; take the median of a few samples. */
export async function settledRss(rss: () => number, ms = 1500): Promise<number> {
  await sleep(ms);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rss());
    await sleep(100);
  }
  return median(samples);
}

/**
 * RSS per connected idle runner: `runs.length` runners connect (signed upgrade, hello, welcome)
 * and stay idle; (RSS with them − RSS before) / count.
 */
export async function measureIdleRunners(t: Target, runs: BenchRun[], rss: () => number): Promise<IdleRunnersResult> {
  // Connect and drop all of them once first, so that one-off allocations (code compiled on
  // first use, the heap growing to its working size, garbage from creating the runs being
  // collected) are not charged to the runners.
  const warm = await mapLimit(runs, 16, (run) => LoadRunner.open(t, run));
  await mapLimit(warm, 64, (r) => r.close());
  const before = await settledRss(rss, 3000);
  const runners = await mapLimit(runs, 16, (run) => LoadRunner.open(t, run));
  const after = await settledRss(rss, 2000);
  const closed = runners.filter((r) => r.closed).length;
  await mapLimit(runners, 64, (r) => r.close());
  if (closed > 0) throw new Error(`idle runners: ${closed} sockets were closed by the server`);
  return { runners: runners.length, before, after, perRunner: (after - before) / runners.length };
}

import { STREAM_STDOUT } from '../../protocol/frames.js';
import { LoadRunner, type BenchRun, type Target } from '../lib/clients.js';
import { mapLimit, sleep } from '../lib/stats.js';
import { logText } from './bulk.js';

export interface IngestResult {
  runners: number;
  linesPerChunk: number;
  seconds: number;
  linesPerSecond: number;
  chunksPerSecond: number;
  bytesPerSecond: number;
  peakRss: number;
}

/**
 * Aggregate durable ingest: every runner sends chunks of `linesPerChunk` lines as fast as the
 * server acknowledges them, with at most `window` chunks unacknowledged each. Counted: lines
 * acknowledged (for the gateway: committed to LMDB) per second, after a warm-up.
 */
export async function measureIngest(
  t: Target,
  runs: BenchRun[],
  o: { linesPerChunk: number; window: number; seconds: number; warmupMs: number; rss: () => number },
): Promise<IngestResult> {
  const text = logText(64 * 1024, 7).toString('latin1').split('\n');
  const chunks: Buffer[] = [];
  for (let i = 0; i + o.linesPerChunk <= text.length - 1 && chunks.length < 64; i += o.linesPerChunk) {
    chunks.push(Buffer.from(text.slice(i, i + o.linesPerChunk).join('\n') + '\n', 'latin1'));
  }
  const runners = await mapLimit(runs, 16, (run) => LoadRunner.open(t, run, { ack: true }));
  let stop = false;
  for (const r of runners) {
    let k = 0;
    const fill = () => {
      while (!stop && !r.closed && r.seq - r.acked < o.window) r.send(STREAM_STDOUT, chunks[k++ % chunks.length]!);
    };
    r.onAck = fill;
    fill();
  }
  await sleep(o.warmupMs);
  const ackedAt = (rs: LoadRunner[]) => rs.reduce((sum, r) => sum + r.acked, 0);
  let peakRss = o.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, o.rss());
  }, 200);
  const a0 = ackedAt(runners);
  const t0 = performance.now();
  await sleep(o.seconds * 1000);
  const a1 = ackedAt(runners);
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  stop = true;
  const closedEarly = runners.filter((r) => r.closed).length;
  if (closedEarly > 0) throw new Error(`ingest: ${closedEarly} runner sockets were closed by the server`);
  await mapLimit(runners, 64, (r) => r.close());
  const chunksPerSecond = (a1 - a0) / seconds;
  const avgChunk = chunks.reduce((s, c) => s + c.length, 0) / chunks.length;
  return {
    runners: runners.length,
    linesPerChunk: o.linesPerChunk,
    seconds,
    linesPerSecond: chunksPerSecond * o.linesPerChunk,
    chunksPerSecond,
    bytesPerSecond: chunksPerSecond * avgChunk,
    peakRss,
  };
}

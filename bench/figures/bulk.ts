import { STREAM_STDOUT } from '../../protocol/frames.js';
import { LoadRunner, LoadViewer, type BenchRun, type Target } from '../lib/clients.js';
import { MiB, until } from '../lib/stats.js';

/** Log-like text with no secret in it, `size` bytes, whole lines. */
export function logText(size: number, seed = 1): Buffer {
  const words = ['compiling', 'src/server/runs.ts', 'ok', 'PASS', 'test/e2e/stream.test.ts', '(12 ms)', 'warning:', 'unused', 'variable', 'GET', '/api/v1/runs', '200', 'in', 'lines', 'of', 'output', '0123456789', 'release', 'build', 'done'];
  let x = seed;
  let s = '';
  while (s.length < size) {
    let line = '';
    const n = 6 + (x % 9);
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      line += words[x % words.length] + ' ';
    }
    s += line.trimEnd() + '\n';
  }
  const cut = s.lastIndexOf('\n', size - 1);
  return Buffer.from(s.slice(0, cut + 1).padEnd(size, '\n'), 'latin1');
}

export interface BulkResult {
  bytes: number;
  seconds: number;
  bytesPerSecond: number;
  /** Gateway RSS high-water mark while streaming, bytes (sampled). */
  peakRss: number;
}

/**
 * One run streams `totalBytes` to one live viewer in 64 KiB chunks (what `ccg runner start`
 * coalesces a busy child's output to), keeping at most 4 MiB written but not yet flushed to the
 * socket, as the runner does. Done when the viewer has every byte and — for the gateway — the
 * last chunk is acknowledged as committed.
 */
export async function measureBulk(t: Target, run: BenchRun, o: { totalBytes: number; rss: () => number }): Promise<BulkResult> {
  const CHUNK = 64 * 1024;
  const WINDOW = 4 * MiB;
  const chunk = logText(CHUNK);
  const runner = await LoadRunner.open(t, run, { ack: true });
  const viewer = await LoadViewer.open(t, run.id, { from: runner.seq + 1 });
  const chunks = Math.ceil(o.totalBytes / CHUNK);
  const total = chunks * CHUNK;
  let peakRss = o.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, o.rss());
  }, 100);
  const t0 = performance.now();
  let queued = 0;
  let sentChunks = 0;
  let lastSeq = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (sentChunks < chunks && queued < WINDOW) {
        queued += CHUNK;
        sentChunks++;
        lastSeq = runner.send(STREAM_STDOUT, chunk, (err) => {
          if (err) return reject(err);
          queued -= CHUNK;
          if (queued < WINDOW / 2) setImmediate(pump);
        });
      }
      if (sentChunks === chunks) resolve();
    };
    pump();
  });
  const done = await until(() => viewer.bytes >= total && (runner.acked >= lastSeq || t.kind === 'relay'), 300_000, 2);
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  if (!done) throw new Error(`bulk (${t.kind}): ${viewer.bytes} of ${total} bytes arrived, ack ${runner.acked}/${lastSeq}`);
  await viewer.close();
  await runner.close();
  return { bytes: total, seconds, bytesPerSecond: total / seconds, peakRss };
}

import { STREAM_STDOUT } from '../../protocol/frames.js';
import { LoadRunner, LoadViewer, type BenchRun, type Target } from '../lib/clients.js';
import { cpuMsOf } from '../lib/procs.js';
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
  /** CPU time of the server process (all its threads) per MiB streamed, ms: steadier than the rate on a shared machine. */
  serverCpuPerMiB: number;
  /** The same of the load generator (this process: the runner and the viewer, TLS both ways). */
  generatorCpuPerMiB: number;
}

/**
 * One run streams `totalBytes` to one live viewer in 64 KiB chunks (what `ccg runner start`
 * coalesces a busy child's output to), keeping at most 4 MiB written but not yet flushed to the
 * socket, as the runner does. Done when the viewer has every byte and — for the gateway — the
 * run's exit is acknowledged, which the gateway does once every chunk is committed.
 */
export async function measureBulk(t: Target, run: BenchRun, o: { totalBytes: number; rss: () => number; pid: number }): Promise<BulkResult> {
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
  const cpu0 = { server: cpuMsOf(o.pid), generator: process.cpuUsage() };
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
  // The gateway: its answer to the runner's exit, as at the end of a real run, which comes once
  // every chunk is committed and the run's record says it exited. Not the last chunk's ack: the
  // acks of a burst's last few chunks may be gathered for up to a second (runner-socket.ts), and
  // that is not throughput.
  const [delivered] = await Promise.all([until(() => viewer.bytes >= total, 300_000, 2), t.kind === 'gateway' ? runner.exit() : undefined]);
  const seconds = (performance.now() - t0) / 1000;
  const serverCpuMs = cpuMsOf(o.pid) - cpu0.server;
  const g = process.cpuUsage(cpu0.generator);
  clearInterval(sampler);
  if (!delivered) throw new Error(`bulk (${t.kind}): ${viewer.bytes} of ${total} bytes arrived, ack ${runner.acked}/${lastSeq}`);
  await viewer.close();
  await runner.close();
  const mib = total / MiB;
  return { bytes: total, seconds, bytesPerSecond: total / seconds, peakRss, serverCpuPerMiB: serverCpuMs / mib, generatorCpuPerMiB: (g.user + g.system) / 1000 / mib };
}

import { ChunkRedactor, Redaction, StreamRedactor } from '../../protocol/redaction.js';
import { logText } from './bulk.js';

export interface RedactorResult {
  bytes: number;
  /** The runner's streaming redactor (with a token and two secret env values to look for). */
  streamMBps: number;
  /** The gateway's per-chunk pass. */
  chunkMBps: number;
  /** The floor: decoding each chunk as latin1 and encoding it back, which both redactors do. */
  referenceMBps: number;
}

function rate(bytes: number, fn: () => void): number {
  const t0 = performance.now();
  fn();
  return bytes / 1e6 / ((performance.now() - t0) / 1000);
}

/**
 * Redactor throughput on log output with no secret in it, 64 KiB at a time (the runner's
 * largest coalesced write), best of three passes over `totalBytes`.
 */
export function measureRedactor(totalBytes: number): RedactorResult {
  const chunks = Array.from({ length: 16 }, (_, i) => logText(64 * 1024, i + 1));
  const n = Math.ceil(totalBytes / (64 * 1024));
  const bytes = n * 64 * 1024;
  const redaction = new Redaction({
    literals: [
      { kind: 'ccg-token', value: 'ccgr_' + 'A'.repeat(43) },
      { kind: 'env:API_KEY', value: 'not-in-the-output-1234' },
      { kind: 'env:DB_PASSWORD', value: 'hunter2-but-longer' },
    ],
  });
  const best = (fn: () => void) => Math.max(rate(bytes, fn), rate(bytes, fn), rate(bytes, fn));
  let sink = 0;
  const streamMBps = best(() => {
    const r = new StreamRedactor(redaction);
    for (let i = 0; i < n; i++) sink += r.push(chunks[i % 16]!).length;
    sink += r.flush().length;
  });
  const chunkMBps = best(() => {
    const r = new ChunkRedactor(redaction);
    for (let i = 0; i < n; i++) sink += r.apply(chunks[i % 16]!).length;
  });
  const referenceMBps = best(() => {
    for (let i = 0; i < n; i++) sink += Buffer.from(chunks[i % 16]!.toString('latin1'), 'latin1').length;
  });
  if (sink < bytes) throw new Error('redactor dropped output');
  return { bytes, streamMBps, chunkMBps, referenceMBps };
}

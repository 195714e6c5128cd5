/**
 * A worker thread of the latency load generator (figures/latency.ts): opens its share of the
 * runners and viewers, says `ready`, sends its lines once told `go`, says `sent` after the last
 * one and `done` with its samples.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSlice, runSlice, type SliceTask } from './load-slice.js';

const task = workerData as SliceTask;
const port = parentPort!;

async function main(): Promise<void> {
  const open = await openSlice(task);
  port.postMessage({ type: 'ready' });
  const startAt = await new Promise<number>((resolve) => port.once('message', (m: { type: string; startAt: number }) => resolve(m.startAt)));
  const result = await runSlice(task, open, startAt, () => port.postMessage({ type: 'sent' }));
  port.postMessage({ type: 'done', value: result }, [result.samples.buffer as ArrayBuffer]);
}

main().catch((err: unknown) => {
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  for (const type of ['ready', 'sent', 'done']) port.postMessage({ type, error });
});

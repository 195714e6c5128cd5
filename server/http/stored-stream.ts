import type { RecognizedString } from 'uWebSockets.js';
import { CcgError } from '../../protocol/errors.js';
import { RUN_ID_RE } from '../../protocol/ids.js';
import type { RunStore, StoredChunk } from '../store/types.js';
import { SECURITY_HEADERS, statusLine, type Ctx } from '../respond.js';

/** The run id in an API route's path (`/api/v1/runs/:id/…`), or ERR_RUN_NOT_FOUND when it cannot be one. */
export function runIdParam(ctx: Ctx): string {
  const id = ctx.params[0] ?? '';
  if (!RUN_ID_RE.test(id)) throw new CcgError('ERR_RUN_NOT_FOUND', `no run with id ${id.slice(0, 40)}`);
  return id;
}

/** The `from` query parameter of a stored-output stream: a chunk seq, 1 when absent. */
export function fromParam(query: URLSearchParams): number {
  const raw = query.get('from') ?? '1';
  if (!/^[1-9][0-9]{0,15}$/.test(raw)) throw new CcgError('ERR_BAD_REQUEST', 'from must be a positive integer');
  return Number(raw);
}

export interface StoredStream {
  runId: string;
  from: number;
  /** The last seq to send: what was committed when the request came, so the response ends. */
  until: number;
  /** Sent as x-ccg-run-status. */
  status: string;
  contentType: string;
  /** Writes what a chunk contributes (possibly nothing) through `write`. */
  emit(chunk: StoredChunk, write: (data: RecognizedString) => void): void;
}

/**
 * Streams a run's stored chunks `from`…`until` as the response body, read from the store 512
 * chunks (1 MiB) at a time, with uWS backpressure: when the socket is full it waits for it to
 * drain before reading more (runs can be gigabytes). Headers: x-ccg-last-seq = `until`.
 */
export function streamStoredChunks(ctx: Ctx, store: RunStore, s: StoredStream): { streamed: true } {
  const res = ctx.res;
  if (ctx.aborted()) return { streamed: true };
  let next = s.from;
  let writable = true;
  const write = (data: RecognizedString) => {
    writable = res.write(data) && writable;
  };
  res.cork(() => {
    res.writeStatus(statusLine(200));
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.writeHeader(k, v);
    res.writeHeader('content-type', s.contentType);
    res.writeHeader('x-ccg-last-seq', String(s.until));
    res.writeHeader('x-ccg-run-status', s.status);
  });
  const pump = async (): Promise<void> => {
    while (!ctx.aborted()) {
      if (next > s.until) {
        res.cork(() => res.end());
        return;
      }
      const chunks = await store.readChunks(s.runId, next, { limit: 512, maxBytes: 1024 * 1024 });
      if (ctx.aborted()) return;
      if (chunks.length === 0) {
        next = s.until + 1;
        continue;
      }
      writable = true;
      res.cork(() => {
        for (const c of chunks) {
          if (c.seq > s.until) break;
          next = c.seq + 1;
          s.emit(c, write);
        }
      });
      if (!writable) {
        // uWS buffered it all; wait for the socket to drain before reading more from the store.
        res.onWritable(() => {
          setImmediate(start);
          return true;
        });
        return;
      }
    }
  };
  // A store read that fails ends the response early (the client sees a short body and x-ccg-last-seq).
  const start = (): void => {
    pump().catch(() => {
      if (!ctx.aborted()) res.cork(() => res.close());
    });
  };
  start();
  return { streamed: true };
}

import { headers } from '@nats-io/transport-node';
import { CcgError } from '../../../protocol/errors.js';
import type { Logger } from '../../log.js';
import type { StoredChunk } from '../types.js';
import { chunkSubject, RESOURCES } from './keys.js';
import type { NatsLink } from './nats-link.js';

/** Gets in flight at once while reading a range of chunks (the window doubles from 4 up to this). */
const MAX_WINDOW = 64;
/**
 * Publishes awaiting their ack at once, per node; the rest wait their turn in order. Without a
 * cap, 100 runners with 256 unacknowledged chunks each put 25,600 publishes in flight, their acks
 * timed out and ingest stalled completely (the cluster bench).
 */
export const MAX_PUBLISHES_IN_FLIGHT = 512;

/**
 * Run output on the `CCG_OUT` stream: one message per chunk on `ccg.out.<runId>.<seq>`, the
 * body its bytes, its stream and gateway time in headers. The stream keeps one message per
 * subject and refuses a second (`discard_new_per_subject`), so a seq once stored is never
 * replaced, whichever node writes it and however late; the message id `<runId>:<seq>` lets
 * JetStream answer a resend within its dedupe window without even that check.
 *
 * A run's seqs are contiguous from 1 (the gateway refuses a gap), so every read asks for the
 * exact subjects it wants, asked of the stream's leader (no consumer per viewer): a range is a
 * window of gets in flight, and the end of a run is found by reading up from the run record's
 * lastSeq (exact once a run ended; at most a second behind while it runs) to the first hole. Not direct gets:
 * a replica may answer those before it has what the leader acknowledged.
 */
export class JsChunks {
  constructor(
    private readonly link: NatsLink,
    private readonly log: Logger,
    /** The run record's lastSeq: where the search for a run's end starts. */
    private readonly hint: (runId: string) => number,
  ) {}

  private inFlight = 0;
  private readonly queued: (() => void)[] = [];

  /** Waits for one of the MAX_PUBLISHES_IN_FLIGHT slots (first come, first served). */
  private async slot(): Promise<void> {
    if (this.inFlight < MAX_PUBLISHES_IN_FLIGHT) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.queued.push(resolve));
  }

  /** Hands the slot to the next publish waiting, if any. */
  private release(): void {
    const next = this.queued.shift();
    if (next) next();
    else this.inFlight--;
  }

  /** Publishes in flight and waiting (for tests and the bench). */
  get pending(): { inFlight: number; queued: number } {
    return { inFlight: this.inFlight, queued: this.queued.length };
  }

  /** Resolves once the chunk is stored on a quorum (or was already, byte for byte). */
  async append(runId: string, chunk: StoredChunk): Promise<void> {
    this.link.mustBeUp();
    await this.slot();
    try {
      await this.publish(runId, chunk);
    } finally {
      this.release();
    }
  }

  private async publish(runId: string, chunk: StoredChunk): Promise<void> {
    this.link.mustBeUp();
    const h = headers();
    h.set('Ccg-Stream', String(chunk.stream));
    h.set('Ccg-Time', String(chunk.time));
    try {
      const ack = await this.link.js.publish(chunkSubject(runId, chunk.seq), chunk.data, { msgID: `${runId}:${chunk.seq}`, headers: h, expect: { streamName: RESOURCES.out } });
      if (ack.duplicate) await this.sameAsStored(runId, chunk);
    } catch (err) {
      // The subject already holds this seq (written before, past the dedupe window).
      if (isSubjectTaken(err)) return this.sameAsStored(runId, chunk);
      throw this.link.storageError(err, 'write of output');
    }
  }

  /** A resent seq counts as durable only if what is stored is the same bytes. */
  private async sameAsStored(runId: string, chunk: StoredChunk): Promise<void> {
    const stored = await this.get(runId, chunk.seq);
    if (stored && stored.stream === chunk.stream && Buffer.compare(stored.data, chunk.data) === 0) return;
    this.log.warn('chunk.conflict', { run: runId, seq: chunk.seq, stored: stored ? stored.data.length : -1, sent: chunk.data.length });
    throw new CcgError('ERR_CONFLICT', `run ${runId} already holds different output at seq ${chunk.seq}`);
  }

  /** One chunk, or undefined when the run has none at that seq. */
  async get(runId: string, seq: number): Promise<StoredChunk | undefined> {
    let m;
    try {
      // From the stream's leader: a direct get may be answered by a replica that is behind, and
      // a read must see every chunk acknowledged before it (found by the three-server test).
      m = await this.link.jsm.streams.getMessage(RESOURCES.out, { last_by_subj: chunkSubject(runId, seq) });
    } catch (err) {
      throw this.link.storageError(err, 'read of output');
    }
    if (!m) return undefined;
    return { seq, stream: Number(m.header.get('Ccg-Stream')) || 0, time: Number(m.header.get('Ccg-Time')) || m.time.getTime(), data: Buffer.from(m.data) };
  }

  /** Chunks from `from` upwards, in order, until the run's end, `limit` chunks or `maxBytes`. */
  async read(runId: string, from: number, opts: { limit: number; maxBytes: number }): Promise<StoredChunk[]> {
    return this.walk(runId, from, 1, opts);
  }

  /** Chunks below `before`, read downwards, returned in ascending order. */
  async readBefore(runId: string, before: number, opts: { limit: number; maxBytes: number }): Promise<StoredChunk[]> {
    // Below the record's lastSeq every chunk is stored; past it, find the end first.
    const start = before - 1 <= this.hint(runId) ? before - 1 : Math.min(before - 1, await this.lastSeq(runId));
    if (start < 1) return [];
    return (await this.walk(runId, start, -1, { ...opts, limit: Math.min(opts.limit, start) })).reverse();
  }

  private async walk(runId: string, from: number, dir: 1 | -1, opts: { limit: number; maxBytes: number }): Promise<StoredChunk[]> {
    const out: StoredChunk[] = [];
    let bytes = 0;
    let seq = from;
    let window = 4;
    while (out.length < opts.limit && seq >= 1) {
      const n = Math.min(window, opts.limit - out.length, dir < 0 ? seq : Number.MAX_SAFE_INTEGER);
      const got = await Promise.all(Array.from({ length: n }, (_, i) => this.get(runId, seq + dir * i)));
      for (const [i, found] of got.entries()) {
        const c = found ?? (await this.stored(runId, seq + dir * i));
        if (!c) return out;
        out.push(c);
        bytes += c.data.length;
        if (bytes >= opts.maxBytes) return out;
      }
      seq += dir * n;
      window = Math.min(MAX_WINDOW, window * 2);
    }
    return out;
  }

  /**
   * A seq a first get did not find: the end of the run, unless the run record says it is stored
   * (its lastSeq is exact once the run ended, at most a second behind while it runs). Then it is
   * asked again for a while: right after a NATS server restart a get was seen answering "none"
   * for a chunk acknowledged long before (`runs logs` came back with 46 KB of 349 KB). Still
   * missing after 2 s, the read ends there, logged (`chunk.missing`).
   */
  private async stored(runId: string, seq: number): Promise<StoredChunk | undefined> {
    if (seq > this.hint(runId)) return undefined;
    for (let attempt = 0; attempt < 40; attempt++) {
      await new Promise((r) => setTimeout(r, 50));
      const c = await this.get(runId, seq);
      if (c) return c;
    }
    this.log.warn('chunk.missing', { run: runId, seq, recorded: this.hint(runId) });
    return undefined;
  }

  /**
   * The end of the run's output stored without a hole: up from the record's lastSeq (every seq
   * up to it is stored: it is written from the committed seq, which never passes a hole) to the
   * first seq missing, a window of gets at a time. Not a search by halving: a later chunk can be
   * stored while an earlier one is not (its publish failed with its NATS server), and a node that
   * took the runner on past that hole would lose the earlier chunk for ever (it would acknowledge
   * the later ones, and the runner drop the earlier from its spool).
   */
  async lastSeq(runId: string): Promise<number> {
    let end = Math.max(0, Math.floor(this.hint(runId)));
    if (end > 0 && !(await this.get(runId, end))) end = 0; // the record ahead of the output: start over
    for (let window = 1; ; window = Math.min(MAX_WINDOW, window * 2)) {
      const got = await Promise.all(Array.from({ length: window }, (_, i) => this.get(runId, end + 1 + i)));
      const missing = got.findIndex((c) => !c);
      if (missing >= 0) return end + missing;
      end += window;
    }
  }
}

/** The publish was refused because the chunk's subject already holds a message. */
function isSubjectTaken(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string } | null;
  return e?.api_error?.err_code === 10077 || /maximum messages per subject exceeded/i.test(String(e?.message ?? ''));
}

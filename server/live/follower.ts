import type { StoredChunk } from '../store/types.js';
import { toLiveChunk, type EventBus, type LiveChunk } from './bus.js';

/** Where a follower reads: the committed end of a run, its stored chunks, its live chunks. */
export interface FollowSource {
  committedSeq(runId: string): number;
  readChunks(runId: string, from: number, opts: { limit: number; maxBytes: number }): Promise<StoredChunk[]>;
  /** Chunks after the committed end, already fanned out but not yet committed, from `from` on. */
  pendingChunks(runId: string, from: number): readonly LiveChunk[];
  bus: Pick<EventBus, 'onChunk'>;
}

/** The transport a follower writes to: an operator socket's subscription, a page's event stream. */
export interface FollowSink {
  /**
   * Sends chunks, in order. False when the transport is backed up: the follower waits for
   * `resume()`. The array is the follower's, reused: a sink reads it now and keeps no reference.
   */
  deliver(chunks: readonly LiveChunk[]): boolean;
  /** True when the transport cannot take a live chunk now: the follower falls back to the store. */
  congested(): boolean;
  /** The follower has everything up to `seq` (the committed end, or past it: chunks in flight) and takes live chunks from here (again after each fallback). */
  caughtUp?(seq: number): void;
}

/** One catch-up read from the store. */
export const FOLLOW_BATCH = { limit: 256, maxBytes: 512 * 1024 };

/**
 * Follows one run's committed output from a seq, for one viewer: reads the store until it has
 * caught up, then takes chunks live from the bus. Whenever a live chunk is out of order (one was
 * missed) or the viewer's transport backs up, it falls back to the store and reads from exactly
 * the seq it needs once the transport drains (`resume()`). A slow viewer therefore never slows
 * the run or anyone else, and never gets a chunk twice or out of order.
 */
export class Follower {
  private next: number;
  private live = false;
  private waiting = false;
  private closed = false;
  /** A store read is under way (reads are asynchronous): one pump at a time. */
  private pumping = false;
  /** pump() was asked for while one ran: it goes round once more before it stops. */
  private again = false;
  private readonly off: () => void;
  /** The array a live chunk is delivered in (one per follower, not one per line). */
  private readonly one: LiveChunk[] = [];

  constructor(
    private readonly src: FollowSource,
    private readonly runId: string,
    from: number,
    private readonly sink: FollowSink,
    private readonly batch = FOLLOW_BATCH,
  ) {
    this.next = from;
    this.off = src.bus.onChunk(runId, (c) => this.onLive(c));
  }

  /** The next seq this viewer needs. */
  get nextSeq(): number {
    return this.next;
  }

  /** True while chunks come straight from the bus. */
  get isLive(): boolean {
    return this.live;
  }

  /** The transport drained: continue from the store where it stopped. */
  resume(): void {
    this.waiting = false;
    if (!this.live) this.pump();
  }

  close(): void {
    this.closed = true;
    this.off();
  }

  /**
   * Reads from the store until caught up, the transport backs up, or the follower closes. Store
   * reads are asynchronous; live chunks that arrive meanwhile are ignored (the follower is not
   * live), and the switch to live happens synchronously with the last look at the in-flight
   * chunks, so nothing falls between the store and the bus.
   */
  pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    this.again = false;
    this.pumpLoop()
      .catch(() => {
        // A failed store read: try again shortly, unless closed (the viewer sees no gap, only a delay).
        if (!this.closed) setTimeout(() => this.pump(), 500).unref();
      })
      .finally(() => {
        this.pumping = false;
        if (this.again && !this.closed && !this.live) this.pump();
      });
  }

  private async pumpLoop(): Promise<void> {
    while (!this.closed && !this.waiting) {
      if (this.sink.congested()) {
        this.waiting = true; // resume() on drain
        return;
      }
      let committed = this.src.committedSeq(this.runId);
      let chunks: StoredChunk[] = [];
      if (this.next <= committed) {
        const from = this.next;
        chunks = (await this.src.readChunks(this.runId, from, this.batch)).filter((c) => c.seq <= committed);
        if (this.closed) return;
        committed = this.src.committedSeq(this.runId);
      }
      if (chunks.length === 0) {
        // Past the commit: the chunks in flight (fanned out before their commit) come from memory.
        const pending = this.src.pendingChunks(this.runId, this.next);
        if (pending.length > 0 && pending[0]!.seq === this.next) {
          this.next = pending.at(-1)!.seq + 1;
          if (!this.sink.deliver(pending)) this.waiting = true;
          continue;
        }
        if (!this.live) {
          this.live = true;
          this.again = false;
          const end = Math.max(committed, this.src.pendingChunks(this.runId, committed + 1).at(-1)?.seq ?? 0);
          this.sink.caughtUp?.(Math.min(this.next - 1, end));
        }
        return;
      }
      this.next = chunks.at(-1)!.seq + 1;
      if (!this.sink.deliver(chunks.map((c) => toLiveChunk(c)))) this.waiting = true;
    }
  }

  private onLive(chunk: LiveChunk): void {
    if (!this.live || this.closed || chunk.seq < this.next) return;
    if (chunk.seq > this.next || this.waiting || this.sink.congested()) {
      // Fall back to the store; a missed chunk is read now, a backed-up transport resumes on drain.
      this.live = false;
      if (chunk.seq > this.next && !this.waiting) this.pump();
      return;
    }
    this.next = chunk.seq + 1;
    this.one[0] = chunk;
    const sent = this.sink.deliver(this.one);
    this.one.length = 0; // not holding the chunk's bytes until the next one
    if (!sent) {
      this.live = false;
      this.waiting = true;
    }
  }
}

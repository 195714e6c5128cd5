/** When a batch of gathered writes may start. */
export interface BatchTiming {
  /** At most one batch starts per this many ms while writes keep coming. */
  intervalMs: number;
  /** Writes nobody waits for (see `add`) wait up to this long, gathered with the ones that follow… */
  lingerMs: number;
  /** …unless nothing more came for this long (the stream paused: gathering longer gains nothing)… */
  quietMs: number;
  /** …or this many bytes of them wait. */
  maxBytes: number;
}

/** The batcher's clock and delays (tests drive them by hand). */
export interface BatchClock {
  now(): number;
  /** Calls `fn` after `ms`; the function returned cancels it. */
  after(ms: number, fn: () => void): () => void;
}

const noop = () => undefined;

const realClock: BatchClock = {
  now: () => performance.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/**
 * Gathers writes into fewer transactions. Each transaction costs about the same whatever it holds
 * (a commit on lmdb-js's write thread and its flush to disk), and with many runs interleaved each
 * one's chunk lands on its own B-tree page, so a transaction of a few lines from each of a hundred
 * runs writes a hundred pages. A write someone waits for (`soon`) starts at the end of its
 * event-loop turn after a quiet spell, and at most one batch starts per `intervalMs` while writes
 * keep coming. A write only an ack waits for (a chunk of output: viewers get it before its commit,
 * docs/ARCHITECTURE.md, "Fan-out before the commit") lingers up to `lingerMs`, gathered with what
 * follows, unless the stream pauses, enough bytes wait, or a `soon` write or `hurry` takes it along.
 */
export class WriteBatcher<T> {
  private queue: T[] = [];
  /** The promise every write of the waiting batch gets (one per batch, not one per write: a line is one write). */
  private settle: { done: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | null = null;
  private queuedBytes = 0;
  /** Whether something waiting must go at the earliest start allowed. */
  private soon = false;
  private firstAt = 0;
  private lastAddAt = 0;
  /** Cancels the armed timer (an immediate or a delay). */
  private timer: (() => void) | null = null;
  /** When the armed timer fires (Infinity: none). */
  private timerAt = Number.POSITIVE_INFINITY;
  private lastStart = Number.NEGATIVE_INFINITY;
  /** The last batch started, finished (committed or failed). */
  private lastBatch: Promise<void> = Promise.resolve();

  constructor(
    /** Starts every write of the batch in this turn (one transaction) and resolves once they are committed. */
    private readonly write: (items: readonly T[]) => Promise<void>,
    private readonly timing: BatchTiming,
    private readonly clock: BatchClock = realClock,
  ) {}

  /**
   * Resolves once `item` is committed, with the rest of its batch (every write of a batch gets the
   * same promise). `soon`: someone waits for it (an API answer, an event chunk's viewers);
   * otherwise it may linger (`BatchTiming`).
   */
  add(item: T, bytes = 0, soon = true): Promise<void> {
    const now = this.clock.now();
    if (this.queue.length === 0) this.firstAt = now;
    this.queue.push(item);
    this.lastAddAt = now;
    this.queuedBytes += bytes;
    if (soon || this.queuedBytes >= this.timing.maxBytes) this.soon = true;
    if (!this.settle) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.settle = { done, resolve, reject };
    }
    this.arm(now);
    return this.settle.done;
  }

  /** What waits goes at the earliest start allowed (someone waits for all of a run's writes: its exit). */
  hurry(): void {
    if (this.queue.length === 0 || this.soon) return;
    this.soon = true;
    this.arm(this.clock.now());
  }

  /**
   * Resolves once every write added so far has finished, committed or failed (never rejects):
   * a write that must not be durable before them (a screen snapshot of the output) waits for it.
   * Hurries nothing: lazy writes still linger.
   */
  settled(): Promise<void> {
    return this.settle ? this.settle.done.then(noop, noop) : this.lastBatch;
  }

  /** Starts the waiting writes now (before the store closes). */
  flush(): void {
    this.disarm();
    const batch = this.queue;
    const settle = this.settle;
    if (batch.length === 0 || !settle) return;
    this.queue = [];
    this.settle = null;
    this.queuedBytes = 0;
    this.soon = false;
    this.lastStart = this.clock.now();
    let done: Promise<void>;
    try {
      done = this.write(batch);
    } catch (err) {
      done = Promise.reject(err);
    }
    done.then(settle.resolve, settle.reject);
    // Batches commit in order: the last one finished means every one did.
    this.lastBatch = done.then(noop, noop);
  }

  /** When the waiting writes may start. */
  private due(): number {
    const earliest = this.lastStart + this.timing.intervalMs;
    if (this.soon) return earliest;
    return Math.max(earliest, Math.min(this.firstAt + this.timing.lingerMs, this.lastAddAt + this.timing.quietMs));
  }

  /** Makes sure a timer fires by the time the batch is due (a later add only moves it later, or to the earliest start). */
  private arm(now: number): void {
    const at = this.due();
    if (this.timer) {
      if (at >= this.timerAt) return; // it fires first and looks again
      this.disarm();
    }
    const wait = at - now;
    if (wait <= 0) {
      this.timerAt = Number.NEGATIVE_INFINITY; // nothing goes sooner: later writes of this turn keep it
      const t = setImmediate(() => this.fire());
      this.timer = () => clearImmediate(t);
    } else {
      this.timerAt = at;
      this.timer = this.clock.after(Math.ceil(wait), () => this.fire());
    }
  }

  private fire(): void {
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.queue.length === 0) return;
    const now = this.clock.now();
    // A delay may end a fraction of a ms before `due` by this clock (libuv's is in whole ms).
    if (this.due() - now > 1) this.arm(now);
    else this.flush();
  }

  private disarm(): void {
    if (!this.timer) return;
    this.timer();
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}

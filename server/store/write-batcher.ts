/**
 * Gathers writes into fewer transactions under load. Each transaction costs the same whatever it
 * holds (a commit on lmdb-js's write thread and its flush to disk): at 20,000 lines/s from 1,000
 * trickling runners, one per line was most of the gateway's storage CPU. A write that arrives
 * after a quiet spell goes out at the end of the event-loop turn, as before; while writes keep
 * coming, at most one batch starts per `intervalMs`. Only the acks wait for it: viewers get a
 * chunk before its commit (docs/ARCHITECTURE.md, "Fan-out before the commit").
 */
export class WriteBatcher<T> {
  private queue: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private immediate = false;
  private lastStart = Number.NEGATIVE_INFINITY;

  constructor(
    /** Starts every write of the batch in this turn (one transaction) and resolves once they are committed. */
    private readonly write: (items: readonly T[]) => Promise<void>,
    private readonly intervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Resolves once `item` is committed (with the rest of its batch). */
  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.timer) return;
      const wait = this.lastStart + this.intervalMs - this.now();
      if (wait <= 0) {
        this.immediate = true;
        this.timer = setImmediate(() => this.flush());
      } else {
        this.immediate = false;
        this.timer = setTimeout(() => this.flush(), Math.ceil(wait));
      }
    });
  }

  /** Starts the waiting writes now (before the store closes). */
  flush(): void {
    if (this.timer) {
      if (this.immediate) clearImmediate(this.timer as NodeJS.Immediate);
      else clearTimeout(this.timer as NodeJS.Timeout);
      this.timer = null;
    }
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.lastStart = this.now();
    let done: Promise<void>;
    try {
      done = this.write(batch.map((p) => p.item));
    } catch (err) {
      done = Promise.reject(err);
    }
    done.then(
      () => {
        for (const p of batch) p.resolve();
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err);
      },
    );
  }
}

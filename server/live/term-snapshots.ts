import { STREAM_EVENT, STREAM_STDOUT } from '../../protocol/frames.js';
import { isFinal, type RunSummary } from '../../protocol/run.js';
import { TerminalClamp } from '../../protocol/terminal-clamp.js';
import { newScreen, serializeScreen, writeScreen, type Screen } from '../../protocol/terminal-screen.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/types.js';
import type { EventBus, LiveChunk } from './bus.js';
import { Follower, type FollowSource } from './follower.js';

/** When to take a snapshot: after this many bytes of screen output, or this long after the first unsnapshotted byte. */
export interface SnapshotPolicy {
  bytes: number;
  ms: number;
}

export const DEFAULT_SNAPSHOT_POLICY: SnapshotPolicy = { bytes: 32 * 1024, ms: 3000 };

/** The default terminal size until the runner reports one (`pty_resized`). */
export const DEFAULT_TERM_SIZE = { cols: 80, rows: 24 };

/** Parsed but not yet applied output above this makes the follower wait (and read the store later). */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

export interface TermSnapshotOptions {
  store: Pick<Store, 'readChunks' | 'putTermSnapshot' | 'latestTermSnapshot'>;
  runs: Pick<FollowSource, 'committedSeq' | 'pendingChunks'> & { summaryOf(runId: string): RunSummary | undefined };
  bus: Pick<EventBus, 'onChunk'>;
  log: Logger;
  now: () => number;
  policy?: SnapshotPolicy;
}

/** The size changes in an event chunk, in order. */
export function resizesOf(chunk: LiveChunk): { cols: number; rows: number }[] {
  if (chunk.stream !== STREAM_EVENT) return [];
  const out: { cols: number; rows: number }[] = [];
  for (const i of chunk.items) if (i.event.type === 'pty_resized') out.push({ cols: i.event.cols, rows: i.event.rows });
  return out;
}

/**
 * Keeps a headless terminal per active `--pty` run, fed the run's committed output in seq order
 * (the same Follower a viewer uses: store until caught up, then the bus), and stores its screen
 * (`TermSnapshot`) every `policy.bytes` of output or `policy.ms` after output, and once more when
 * the run ends. A viewer then opens a pty run from the latest snapshot plus the chunks after it:
 * O(screen), whatever the history. After a gateway restart the terminal is rebuilt from the
 * latest snapshot and the chunks after it.
 */
export class TermSnapshots {
  private readonly tracked = new Map<string, RunScreen>();
  private readonly policy: SnapshotPolicy;

  constructor(private readonly o: TermSnapshotOptions) {
    this.policy = o.policy ?? DEFAULT_SNAPSHOT_POLICY;
  }

  /** A run changed (bus `run`): start following a pty run's screen; a finished one ends its follower once caught up. */
  onRun(run: RunSummary): void {
    const t = this.tracked.get(run.id);
    if (t) return t.check();
    if (!run.runner?.pty || isFinal(run.status)) return;
    const rs = new RunScreen(this.o, this.policy, run.id, () => this.tracked.delete(run.id));
    this.tracked.set(run.id, rs);
    rs.start();
  }

  /** Waits until every followed run has applied what is committed (tests, shutdown). */
  async settled(runId: string): Promise<void> {
    await this.tracked.get(runId)?.idle();
  }

  close(): void {
    for (const t of [...this.tracked.values()]) t.close();
    this.tracked.clear();
  }
}

class RunScreen {
  private screen: Screen | null = null;
  private follower: Follower | null = null;
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private applied = 0;
  private cols = DEFAULT_TERM_SIZE.cols;
  private rows = DEFAULT_TERM_SIZE.rows;
  private sinceSnapshot = 0;
  private snappedSeq = 0;
  /**
   * What the last snapshot cost: its length, and how long serializing took. A runner picks its
   * screen's size (up to 1000×500) and content: a screen of differently coloured cells is 17 MB
   * and 670 ms of the gateway's one thread to serialize, and one changed cell per 32 KiB kept the
   * gateway stalled (health checks took 0.8–1.6 s). So the next snapshot waits for at least as
   * much output as the last one was long (a viewer replaying that output from the snapshot before
   * does no more work than a new snapshot would save it), and for 20 times the time the last one
   * took (at most a twentieth of the thread). The run's last snapshot, when it ends, waits for
   * neither.
   */
  private lastCost = { bytes: 0, ms: 0, at: 0 };
  /** The size changed since the last snapshot. */
  private resized = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Runner output is hostile: sequences that would stall the emulator are clamped first. */
  private readonly clamp = new TerminalClamp();

  constructor(
    private readonly o: TermSnapshotOptions,
    private readonly policy: SnapshotPolicy,
    private readonly runId: string,
    private readonly onClosed: () => void,
  ) {}

  start(): void {
    const snap = this.o.store.latestTermSnapshot(this.runId);
    if (snap) {
      this.cols = snap.cols;
      this.rows = snap.rows;
      this.applied = this.snappedSeq = snap.seq;
    }
    const screen = (this.screen = newScreen(this.cols, this.rows));
    if (snap) this.enqueue(0, () => writeScreen(screen, snap.data));
    this.follower = new Follower({ committedSeq: (r) => this.o.runs.committedSeq(r), pendingChunks: (r, from) => this.o.runs.pendingChunks(r, from), readChunks: this.o.store.readChunks.bind(this.o.store), bus: this.o.bus }, this.runId, this.applied + 1, {
      deliver: (chunks) => {
        for (const c of chunks) this.apply(c);
        return this.queued < MAX_QUEUED_BYTES;
      },
      congested: () => this.queued >= MAX_QUEUED_BYTES,
      caughtUp: () => this.check(),
    });
    this.follower.pump();
  }

  /** Resolves once everything handed over so far is applied. */
  idle(): Promise<void> {
    return this.chain;
  }

  private enqueue(bytes: number, step: () => Promise<void> | void): void {
    this.queued += bytes;
    this.chain = this.chain
      .then(step)
      .catch((err: unknown) => this.o.log.warn('term.apply_failed', { runId: this.runId, err: String(err) }))
      .finally(() => {
        this.queued -= bytes;
      });
  }

  private apply(c: LiveChunk): void {
    const screen = this.screen!;
    if (c.stream === STREAM_STDOUT) {
      const text = this.clamp.push(c.data);
      this.enqueue(c.data.length, async () => {
        await writeScreen(screen, text);
        this.applied = c.seq;
        this.sinceSnapshot += c.data.length;
        this.afterWrite();
      });
      return;
    }
    const sizes = resizesOf(c);
    this.enqueue(0, () => {
      for (const s of sizes) {
        this.cols = s.cols;
        this.rows = s.rows;
        screen.term.resize(s.cols, s.rows);
        // A new size changes the screen: the next snapshot is due even without output.
        this.resized = true;
      }
      this.applied = c.seq;
      this.afterWrite();
    });
  }

  private afterWrite(): void {
    if (this.closed) return;
    const due = this.resized || this.sinceSnapshot >= Math.max(this.policy.bytes, this.lastCost.bytes);
    if (due && this.o.now() >= this.lastCost.at + 20 * this.lastCost.ms) this.snapshot();
    else if (this.sinceSnapshot > 0 || this.resized) this.timer ??= setTimeout(() => {
      this.timer = null;
      // Taken between chunks, so the screen is exactly that of `applied`.
      this.enqueue(0, () => this.snapshot());
    }, Math.max(this.policy.ms, this.lastCost.at + 20 * this.lastCost.ms - this.o.now()));
    // Also after a snapshot: a follower that waited for the queue to drain resumes (it returned
    // early here, and a follower that waited through a burst of large chunks waited for ever).
    if (this.follower?.isLive === false && this.queued < MAX_QUEUED_BYTES / 2) this.follower.resume();
  }

  /** Stores the screen as of `applied`; `final`: the run ended, whatever the last one cost. */
  private snapshot(final = false): void {
    if (this.closed || !this.screen || this.applied <= this.snappedSeq) return;
    // Not worth it yet (see lastCost): less output since the last one than it was long, which a
    // viewer replays for less than a new snapshot would cost. A later write tries again.
    if (!final && !this.resized && this.sinceSnapshot < Math.max(1, this.lastCost.bytes)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const started = performance.now();
    const snap = { seq: this.applied, cols: this.cols, rows: this.rows, data: serializeScreen(this.screen), at: this.o.now() };
    this.lastCost = { bytes: snap.data.length, ms: performance.now() - started, at: this.o.now() };
    this.snappedSeq = snap.seq;
    this.sinceSnapshot = 0;
    this.resized = false;
    this.o.store.putTermSnapshot(this.runId, snap).catch((err: unknown) => this.o.log.warn('term.snapshot_failed', { runId: this.runId, err: String(err) }));
  }

  /** A finished run whose output is all applied gets its last snapshot, and is no longer followed. */
  check(): void {
    const run = this.o.runs.summaryOf(this.runId);
    if (!run || !isFinal(run.status) || !this.follower || this.follower.nextSeq <= run.lastSeq) return;
    this.enqueue(0, () => {
      this.snapshot(true);
      this.close();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.follower?.close();
    this.screen?.term.dispose();
    this.screen = null;
    this.onClosed();
  }
}

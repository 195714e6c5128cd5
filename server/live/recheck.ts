import type { Logger } from '../log.js';
import type { EventBus } from './bus.js';

/** Every open connection's credentials are checked at least this often (sessions expire; a cluster peer's change may be missed). */
export const RECHECK_MS = 15_000;

/**
 * Checks the credentials of long-lived connections again: at once on any change of a token,
 * user or session (the bus's `auth`, from this gateway or another), and every RECHECK_MS. Each
 * connection registers its own check, which ends the connection (or updates its role) as needed.
 * Checks run from a macrotask, never inside a store commit's continuation, where writing to a
 * socket is unsafe.
 */
export class CredentialWatch {
  private readonly checks = new Set<() => void>();
  private soon: NodeJS.Immediate | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly offAuth: () => void;

  constructor(
    bus: Pick<EventBus, 'on'>,
    private readonly log: Logger,
    intervalMs = RECHECK_MS,
  ) {
    this.offAuth = bus.on(
      'auth',
      () => {
        this.soon ??= setImmediate(() => {
          this.soon = null;
          this.runAll();
        });
      },
      { keep: true },
    );
    this.timer = setInterval(() => this.runAll(), intervalMs);
    this.timer.unref();
  }

  /** Registers a connection's check; the returned function removes it (call it when the connection closes). */
  add(check: () => void): () => void {
    this.checks.add(check);
    return () => this.checks.delete(check);
  }

  close(): void {
    clearInterval(this.timer);
    if (this.soon) clearImmediate(this.soon);
    this.offAuth();
    this.checks.clear();
  }

  private runAll(): void {
    // One connection's failing check must not spare the others (nor end the process from a timer).
    for (const check of [...this.checks]) {
      try {
        check();
      } catch (err) {
        this.log.error('auth.recheck_failed', { err: String(err).slice(0, 300) });
      }
    }
  }
}

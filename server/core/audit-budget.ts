import type { Logger } from '../log.js';
import type { AuditEntry, AuthStore } from '../store/types.js';

export interface AuditBudgetLimits {
  /** Entries older than this are deleted. */
  retentionMs: number;
  /** The audit log's pages on disk are kept below this; the oldest entries go first. */
  maxBytes: number;
}

/** 180 days and 256 MiB (docs/OPERATIONS.md): a year of a busy team's sign-ins fits many times. */
export const DEFAULT_AUDIT_BUDGET: AuditBudgetLimits = { retentionMs: 180 * 24 * 3600_000, maxBytes: 256 * 1024 * 1024 };

/** Entries deleted per transaction: a few milliseconds each, with the event loop free in between. */
export const AUDIT_TRIM_BATCH = 2000;

export interface AuditBudgetDeps {
  store: Pick<AuthStore, 'auditUsage' | 'trimAudit' | 'appendAudit'>;
  log: Logger;
  now: () => number;
  limits: AuditBudgetLimits;
  /** How often the budget is checked (a check is one stats read; default a minute). */
  everyMs?: number;
}

/**
 * Keeps the audit log within its retention and size budget. Checked once a minute (and at
 * start): entries past the retention go, then, while the log's pages exceed the budget, the
 * oldest entries until it is back under 90% of it. Deletes in batches of AUDIT_TRIM_BATCH with
 * a macrotask between them, so trimming a large log never holds the event loop for long. Each
 * trim that deletes something leaves one `audit.trimmed` entry saying how many and why.
 */
export class AuditBudget {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(private readonly d: AuditBudgetDeps) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.enforce().catch((err: unknown) => this.d.log.warn('audit.trim_failed', { err: String(err) })), this.d.everyMs ?? 60_000);
    this.timer.unref();
    setImmediate(() => void this.enforce().catch((err: unknown) => this.d.log.warn('audit.trim_failed', { err: String(err) })));
  }

  /** Stops the checks; resolves once a trim under way has finished (before the store closes). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** Runs one trim (or joins the one running); resolves with how many entries it deleted. */
  enforce(): Promise<number> {
    return (this.running ??= this.trim().finally(() => {
      this.running = null;
    }));
  }

  private async trim(): Promise<number> {
    const { retentionMs, maxBytes } = this.d.limits;
    const before = this.d.now() - retentionMs;
    let removed = 0;
    let overBudget = false;
    for (;;) {
      const use = this.d.store.auditUsage();
      let atLeast = 0;
      if (use.bytes > maxBytes && use.entries > 0) {
        overBudget = true;
        const perEntry = use.bytes / use.entries;
        atLeast = Math.min(AUDIT_TRIM_BATCH, Math.ceil((use.bytes - 0.9 * maxBytes) / perEntry));
      }
      const n = await this.d.store.trimAudit({ before, atLeast, limit: AUDIT_TRIM_BATCH });
      removed += n;
      if (n < AUDIT_TRIM_BATCH && atLeast < AUDIT_TRIM_BATCH) break;
      // Let everything else run before the next batch.
      await new Promise<void>((r) => setImmediate(r));
    }
    if (removed > 0) {
      const entry: AuditEntry = { at: this.d.now(), actor: 'gateway', action: 'audit.trimmed', target: null, from: null, detail: { removed, retentionDays: Math.round(retentionMs / 86_400_000), maxBytes, overBudget } };
      await this.d.store.appendAudit(entry);
      this.d.log.info('audit.trimmed', { removed, overBudget });
    }
    return removed;
  }
}

import type { AuditEntry } from '../store/types.js';

/**
 * Failures anyone can cause without signing in, and as often as they like: one entry each would
 * let an outsider grow the audit log without bound (20,000 bad logins were 20,000 entries).
 */
export const AGGREGATED_ACTIONS: ReadonlySet<string> = new Set(['login.failed', 'login.throttled', 'login.code_failed', 'login.access_mismatch', 'setup.code_failed']);

/** How long repeats of one failure from one address are gathered into one entry. */
export const AUDIT_WINDOW_MS = 60_000;

interface Window {
  since: number;
  count: number;
  names: Set<string>;
  last: AuditEntry;
  timer: NodeJS.Timeout;
}

export interface AuditAggregatorOptions {
  write: (entry: AuditEntry) => Promise<void>;
  now: () => number;
  windowMs?: number;
  /** Windows open at once; past this the oldest is written out early (memory stays bounded). */
  maxWindows?: number;
}

/** How many occurrences an audit entry stands for: 1, or the `repeated` count of a summary. */
export function auditCount(e: AuditEntry): number {
  const n = e.detail?.['repeated'];
  return typeof n === 'number' ? n : 1;
}

/**
 * Gathers repeated failures per action and address. The first of a window is written at once,
 * as itself (an admin sees an attack start); the repeats that follow within the window become
 * one summary entry when it closes: the same action, `detail.repeated` = how many, `since`,
 * and up to eight of the names tried. So one address costs at most two entries a minute per
 * action, however fast it sends.
 */
export class AuditAggregator {
  private readonly windows = new Map<string, Window>();
  private readonly windowMs: number;
  private readonly maxWindows: number;

  constructor(private readonly o: AuditAggregatorOptions) {
    this.windowMs = o.windowMs ?? AUDIT_WINDOW_MS;
    this.maxWindows = o.maxWindows ?? 10_000;
  }

  /** Records one occurrence; resolves once whatever it wrote is stored (usually nothing). */
  add(entry: AuditEntry): Promise<void> {
    const key = `${entry.action}\n${entry.from ?? ''}`;
    const w = this.windows.get(key);
    if (w) {
      w.count++;
      if (w.names.size < 8) w.names.add(entry.actor);
      w.last = entry;
      return Promise.resolve();
    }
    const first = this.windows.keys().next();
    if (this.windows.size >= this.maxWindows && !first.done) void this.close(first.value);
    const timer = setTimeout(() => void this.close(key), this.windowMs);
    timer.unref();
    this.windows.set(key, { since: entry.at, count: 0, names: new Set(), last: entry, timer });
    return this.o.write(entry);
  }

  private async close(key: string): Promise<void> {
    const w = this.windows.get(key);
    if (!w) return;
    this.windows.delete(key);
    clearTimeout(w.timer);
    if (w.count === 0) return;
    const names = [...w.names];
    await this.o.write({
      at: Math.max(this.o.now(), w.last.at),
      actor: names.length === 1 ? names[0]! : `(${names.length}${w.names.size >= 8 ? '+' : ''} names)`,
      action: w.last.action,
      target: w.last.target,
      from: w.last.from,
      detail: { ...w.last.detail, repeated: w.count, since: w.since, names: names.join(', ').slice(0, 300) },
    });
  }

  /** Writes every open window's summary now (at shutdown, and in tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.windows.keys()].map((k) => this.close(k)));
  }
}

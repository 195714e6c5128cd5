import { addressGroup } from './throttle.js';
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
  /** Distinct names tried (the unknown-names window only), up to NAMES_KEPT of them. */
  names: Set<string>;
  /** How many distinct names were seen, kept or not. */
  distinct: number;
  /** How many of the repeats gave each reason (`detail.reason`). */
  reasons: Map<string, number>;
  last: AuditEntry;
  timer: NodeJS.Timeout;
}

const NAMES_KEPT = 8;
/** The one window all names that are no account share (per action and address). */
const UNKNOWN = '\u0000unknown';

export interface AuditAggregatorOptions {
  write: (entry: AuditEntry) => Promise<void>;
  now: () => number;
  /**
   * Whether a name is an account. Each account tried gets its own window, so an attack on one
   * is never folded into a summary of made-up names; the names that are no account share one.
   */
  isAccount?: (name: string) => boolean;
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
 * Gathers repeated failures per action, address (an IPv6 address as its /64) and account tried
 * (every name that is no account in one shared window). The first of a window is written at
 * once, as itself (an admin sees an attack start); the repeats that follow within the window
 * become one summary entry when it closes: the same action, the account as actor,
 * `detail.repeated` = how many, `since`, `reasons` = how many repeats gave each reason, and
 * for the unknown names up to eight of them and how many there were. So one address costs at
 * most two entries a minute per action and account (plus two for all unknown names), however
 * fast it sends, and an attack on an account is always written under that account's name.
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
    // Without isAccount, the entry's own reason tells ("unknown user"); anything else is kept apart.
    const isAccount = this.o.isAccount ? this.o.isAccount(entry.actor) : entry.detail?.['reason'] !== 'unknown user';
    const account = isAccount ? entry.actor : UNKNOWN;
    const key = `${entry.action}\n${entry.from === null ? '' : addressGroup(entry.from)}\n${account}`;
    const w = this.windows.get(key);
    if (w) {
      w.count++;
      if (!w.names.has(entry.actor)) {
        w.distinct++;
        if (w.names.size < NAMES_KEPT) w.names.add(entry.actor);
      }
      const reason = entry.detail?.['reason'];
      if (typeof reason === 'string') w.reasons.set(reason, (w.reasons.get(reason) ?? 0) + 1);
      w.last = entry;
      return Promise.resolve();
    }
    const first = this.windows.keys().next();
    if (this.windows.size >= this.maxWindows && !first.done) void this.close(first.value);
    const timer = setTimeout(() => void this.close(key), this.windowMs);
    timer.unref();
    this.windows.set(key, { since: entry.at, count: 0, names: new Set([entry.actor]), distinct: 1, reasons: new Map(), last: entry, timer });
    return this.o.write(entry);
  }

  private async close(key: string): Promise<void> {
    const w = this.windows.get(key);
    if (!w) return;
    this.windows.delete(key);
    clearTimeout(w.timer);
    if (w.count === 0) return;
    const names = [...w.names];
    const unknown = key.endsWith(UNKNOWN);
    const { reason: _lastReason, ...rest } = w.last.detail ?? {};
    await this.o.write({
      at: Math.max(this.o.now(), w.last.at),
      actor: unknown ? `(${w.distinct} unknown name${w.distinct === 1 ? '' : 's'})` : w.last.actor,
      action: w.last.action,
      target: w.last.target,
      from: w.last.from,
      detail: {
        ...rest,
        repeated: w.count,
        since: w.since,
        ...(w.reasons.size > 0 ? { reasons: [...w.reasons].map(([r, n]) => `${r}: ${n}`).join(', ').slice(0, 300) } : {}),
        ...(unknown ? { names: names.join(', ').slice(0, 300) + (w.distinct > names.length ? ', …' : ''), distinctNames: w.distinct } : {}),
      },
    });
  }
  /** Writes every open window's summary now (at shutdown, and in tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.windows.keys()].map((k) => this.close(k)));
  }
}

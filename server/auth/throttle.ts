/**
 * Login throttling: a growing delay after repeated failures, per account and per address.
 *
 * A key (an account name, an address) gets `free` failures; after that each further failure
 * doubles the wait before the next attempt is even looked at (1 s, 2 s, 4 s … up to `maxMs`).
 * Attempts during the wait are refused without checking the password, so a guesser gets no
 * answers and burns no Argon2 time. Unknown account names are tracked exactly like real ones,
 * so the throttle says nothing about which accounts exist. State is in memory and bounded.
 */
export interface ThrottleOptions {
  now: () => number;
  /** Failures allowed per account before delays start. */
  accountFree?: number;
  /** Per address (higher: many people can share one address, e.g. behind a tunnel or NAT). */
  addressFree?: number;
  baseMs?: number;
  maxMs?: number;
  /** A key with no failure for this long starts over. */
  forgetMs?: number;
  maxKeys?: number;
}

interface Entry {
  failures: number;
  last: number;
  until: number;
}

export type ThrottleVerdict = { ok: true } | { ok: false; retryAfterS: number };

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly o: Required<ThrottleOptions>;

  constructor(opts: ThrottleOptions) {
    this.o = { accountFree: 4, addressFree: 20, baseMs: 1000, maxMs: 15 * 60_000, forgetMs: 60 * 60_000, maxKeys: 50_000, ...opts };
  }

  static accountKey(name: string): string {
    return `acct:${name.trim().toLowerCase().slice(0, 64)}`;
  }

  static addressKey(remote: string): string {
    return `addr:${remote.slice(0, 64)}`;
  }

  /** Refuses while any of the keys is inside its wait. */
  check(keys: string[]): ThrottleVerdict {
    const now = this.o.now();
    let wait = 0;
    for (const k of keys) {
      const e = this.live(k, now);
      if (e && e.until > now) wait = Math.max(wait, e.until - now);
    }
    return wait > 0 ? { ok: false, retryAfterS: Math.ceil(wait / 1000) } : { ok: true };
  }

  fail(keys: string[]): void {
    const now = this.o.now();
    for (const k of keys) {
      const e = this.live(k, now) ?? { failures: 0, last: now, until: 0 };
      e.failures++;
      e.last = now;
      const free = k.startsWith('addr:') ? this.o.addressFree : this.o.accountFree;
      const over = e.failures - free;
      e.until = over > 0 ? now + Math.min(this.o.maxMs, this.o.baseMs * 2 ** Math.min(over - 1, 30)) : 0;
      this.entries.delete(k); // re-insert: the map's order is least recently failed first
      this.entries.set(k, e);
    }
    while (this.entries.size > this.o.maxKeys) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /** A success clears the account's count (never the address's: one good login must not unlock guessing at others). */
  succeed(accountKey: string): void {
    this.entries.delete(accountKey);
  }

  private live(k: string, now: number): Entry | undefined {
    const e = this.entries.get(k);
    if (e && now - e.last > this.o.forgetMs && e.until <= now) {
      this.entries.delete(k);
      return undefined;
    }
    return e;
  }
}

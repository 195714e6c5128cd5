import { isIPv4, isIPv6 } from 'node:net';

/**
 * Login throttling: a growing delay after repeated failures, per account and address, per
 * account across all addresses, and per address. An IPv6 address counts as its /64: one
 * subscriber or host is handed a whole /64 and can use any address in it.
 *
 * A key (an account name, an address) gets `free` failures; after that each further failure
 * doubles the wait before the next attempt is even looked at (1 s, 2 s, 4 s … up to `maxMs`).
 * Attempts during the wait are refused without checking the password, so a guesser gets no
 * answers and burns no Argon2 time. Unknown account names are tracked exactly like real ones,
 * so the throttle says nothing about which accounts exist. State is in memory and bounded.
 */
export interface ThrottleOptions {
  now: () => number;
  /** Failures allowed per account and address before delays start. */
  accountFree?: number;
  /**
   * Per account over every address (larger: it only has to stop guessing spread over many
   * addresses, and it can lock the real user out; see `accountKey`).
   */
  accountAllFree?: number;
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

/** An attempt counted by `begin`: `undo` takes it back when it turns out to be a success (or was never tried). */
export interface ThrottleAttempt {
  undo(): void;
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly o: Required<ThrottleOptions>;

  constructor(opts: ThrottleOptions) {
    this.o = { accountFree: 4, accountAllFree: 20, addressFree: 20, baseMs: 1000, maxMs: 15 * 60_000, forgetMs: 60 * 60_000, maxKeys: 50_000, ...opts };
  }

  /**
   * An account's key; with `remote`, the account as tried from that address (its /64 for
   * IPv6). Guesses from one address must not lock the real user out from another, so each
   * address gets its own few tries; the key without `remote` counts the account's failures
   * from every address together, with a larger allowance, so rotating addresses (a /64 holds
   * 2^64 of them, a botnet many) does not give unlimited guesses either. The login leaves that
   * key out for a browser that signed in to the account before (a device cookie,
   * server/auth/device-cookie.ts), so the real user is not locked out by it.
   */
  static accountKey(name: string, remote?: string): string {
    const account = `acct:${name.trim().toLowerCase().slice(0, 64)}`;
    return remote === undefined ? account : `${account}@${addressGroup(remote)}`;
  }

  static addressKey(remote: string): string {
    return `addr:${addressGroup(remote)}`;
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

  /**
   * Checks and counts an attempt in one step, before the slow check it guards (Argon2) starts:
   * the attempt counts as a failure from now on, so attempts made while earlier ones are still
   * being checked see it. (Checking first and counting after the await let any number of
   * concurrent guesses through.) Call `undo()` on the result when the attempt succeeded.
   */
  begin(keys: string[]): ({ ok: true } & ThrottleAttempt) | { ok: false; retryAfterS: number } {
    const verdict = this.check(keys);
    if (!verdict.ok) return verdict;
    this.fail(keys);
    let undone = false;
    return {
      ok: true,
      undo: () => {
        if (undone) return;
        undone = true;
        for (const k of keys) {
          const e = this.entries.get(k);
          if (!e) continue;
          e.failures = Math.max(0, e.failures - 1);
          // Back within the free failures: no wait. Otherwise the current wait stays (it may be
          // the one this attempt started: erring on the side of the wait).
          if (e.failures <= this.free(k)) e.until = 0;
        }
      },
    };
  }

  fail(keys: string[]): void {
    const now = this.o.now();
    for (const k of keys) {
      const e = this.live(k, now) ?? { failures: 0, last: now, until: 0 };
      e.failures++;
      e.last = now;
      const over = e.failures - this.free(k);
      e.until = over > 0 ? now + Math.min(this.o.maxMs, this.o.baseMs * 2 ** Math.min(over - 1, 30)) : 0;
      this.entries.delete(k); // re-insert: the map's order is least recently failed first
      this.entries.set(k, e);
    }
    this.evict(now);
  }

  private free(k: string): number {
    if (k.startsWith('addr:')) return this.o.addressFree;
    return k.includes('@') ? this.o.accountFree : this.o.accountAllFree;
  }

  /**
   * Keeps the map within maxKeys, least recently failed first, but never an entry that is
   * waiting out a delay: flooding the map with new keys (many addresses, made-up names) must
   * not unlock an account under attack. Only if every entry were waiting (more locked keys than
   * the Argon2 limit lets anyone make) would the oldest go anyway.
   */
  private evict(now: number): void {
    while (this.entries.size > this.o.maxKeys) {
      let victim: string | undefined;
      for (const [k, e] of this.entries) {
        if (e.until <= now) {
          victim = k;
          break;
        }
      }
      victim ??= this.entries.keys().next().value;
      if (victim === undefined) break;
      this.entries.delete(victim);
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

/**
 * The unit an address is throttled (and its audit repeats gathered) by: an IPv4 address as
 * itself, an IPv6 address as its /64 (`2001:db8:0:0::/64`), an IPv4-mapped IPv6 address as
 * the IPv4 address. Anything else (not an address) is kept as given, cut to 64 characters.
 */
export function addressGroup(remote: string): string {
  const a = remote.trim().toLowerCase().replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (!isIPv6(a)) return a.slice(0, 64);
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail (::1.2.3.4) sits in the last 64 bits: it never changes the /64.
  const width = (parts: string[]) => parts.reduce((n, p) => n + (p.includes('.') ? 2 : 1), 0);
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - width(left) - width(right)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

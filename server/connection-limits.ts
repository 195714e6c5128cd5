import { readFileSync } from 'node:fs';
import { CcgError } from '../protocol/errors.js';

/**
 * Caps on the gateway's long-lived connections (runner and operator WebSockets, live page
 * streams): per client address, and in total below the process's descriptor limit, with a share
 * of the total kept for signed runners so that viewers (or anyone) filling the gateway cannot
 * keep runners out. Each connection takes a slot when it is accepted and gives it back when it
 * ends.
 */
export interface ConnectionLimitOptions {
  /** Long-lived connections one address may hold (0: no cap). */
  perAddress: number;
  /**
   * The same for loopback peers (0: no cap). Behind a tunnel on the same host every client is a
   * loopback peer, so by default they are capped only by the total.
   */
  perLoopback: number;
  /** Long-lived connections in all. */
  total: number;
  /** Of `total`, this many are only for signed runners. */
  runnerReserve: number;
}

/** Room left for everything that is not a long-lived connection (files, LMDB, short requests, idle sockets). */
const DESCRIPTOR_HEADROOM = 0.2;

/** The soft limit on open files (Linux: /proc/self/limits); 1024 when it cannot be read. */
export function descriptorLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return m[1] === 'unlimited' ? 1 << 20 : Number(m[1]);
  } catch {
    // not Linux
  }
  return 1024;
}

/** The defaults: 256 per address, loopback uncapped; in total 80 % of the descriptor limit, a tenth of it for runners. */
export function defaultConnectionLimits(limit = descriptorLimit()): ConnectionLimitOptions {
  const total = Math.max(32, Math.floor(limit * (1 - DESCRIPTOR_HEADROOM)));
  return { perAddress: 256, perLoopback: 0, total, runnerReserve: Math.max(8, Math.floor(total / 10)) };
}

const LOOPBACK = /^(127\.|::1$|0*:0*:0*:0*:0*:0*:0*:0*1$|::ffff:127\.|0000:0000:0000:0000:0000:ffff:7f)/i;

export class ConnectionLimiter {
  private readonly byAddress = new Map<string, number>();
  private open = 0;

  constructor(readonly o: ConnectionLimitOptions) {}

  get count(): number {
    return this.open;
  }

  /** Refuses early (before any work) when `address` already holds its share. */
  check(address: string): void {
    const cap = LOOPBACK.test(address) ? this.o.perLoopback : this.o.perAddress;
    if (cap > 0 && (this.byAddress.get(address) ?? 0) >= cap) {
      throw new CcgError('ERR_TOO_MANY_CONNECTIONS', `this address already holds ${cap} connections`);
    }
  }

  /**
   * Takes a slot for a connection from `address`, or throws ERR_TOO_MANY_CONNECTIONS. Runners
   * may use the reserve; others stop short of it. Returns the release function (idempotent).
   */
  acquire(address: string, kind: 'runner' | 'other'): () => void {
    this.check(address);
    const cap = kind === 'runner' ? this.o.total : this.o.total - this.o.runnerReserve;
    if (this.open >= cap) throw new CcgError('ERR_TOO_MANY_CONNECTIONS', `the gateway holds its maximum of ${cap} ${kind === 'runner' ? '' : 'non-runner '}connections`);
    this.open++;
    this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
      const n = (this.byAddress.get(address) ?? 1) - 1;
      if (n <= 0) this.byAddress.delete(address);
      else this.byAddress.set(address, n);
    };
  }
}

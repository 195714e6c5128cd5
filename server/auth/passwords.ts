import { randomBytes } from 'node:crypto';
// hash-wasm is loaded at the first password check, not at start: an idle gateway does not pay for it.
let hashWasm: Promise<typeof import('hash-wasm')> | undefined;
const argon2 = () => (hashWasm ??= import('hash-wasm'));
import { PASSWORD_MAX_BYTES } from '../../protocol/accounts.js';
import { CcgError } from '../../protocol/errors.js';

/**
 * Argon2id parameters: OWASP's first recommended configuration (m = 19 MiB, t = 2, p = 1).
 * Hashing takes about 50–100 ms of one core here; login throttling keeps that from being a lever.
 */
export const ARGON2_PARAMS = { memorySize: 19_456, iterations: 2, parallelism: 1, hashLength: 32 } as const;

/**
 * A bound on concurrent work: at most `maxActive` jobs run at once, at most `maxQueued` wait
 * for a turn, and anything beyond that is refused at once (ERR_BUSY, 503) rather than queued
 * without bound.
 */
export class WorkLimiter {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  /** The most jobs ever running at once (tests, diagnostics). */
  peak = 0;

  constructor(readonly maxActive: number, readonly maxQueued: number) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.active >= this.maxActive) {
      if (this.queue.length >= this.maxQueued) throw new CcgError('ERR_BUSY');
      await new Promise<void>((resolve) => this.queue.push(resolve));
    } else {
      this.active++;
    }
    this.peak = Math.max(this.peak, this.active);
    try {
      return await job();
    } finally {
      // Hand the slot straight to the next waiter (active stays the same), or free it.
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/**
 * Every Argon2 computation of the gateway goes through this: each one holds its own 19 MiB of
 * WebAssembly memory and about 60-100 ms of one core, so without a bound a burst of sign-in
 * requests (from any number of addresses) could stack up gigabytes. Two at a time (the
 * computation is synchronous WebAssembly: more would not finish sooner), sixteen waiting
 * (about a second and a half of work); more at once get 503 ERR_BUSY with Retry-After: 1.
 */
export const argon2Limiter = new WorkLimiter(2, 16);

const ENCODED_RE = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/** Refused before hashing: hashing megabytes would let anyone burn the gateway's CPU. */
export function passwordTooLong(password: string): boolean {
  return Buffer.byteLength(password) > PASSWORD_MAX_BYTES;
}

/**
 * Hashes a password with Argon2id and a random 16-byte salt, as the standard encoded string.
 *
 * @example
 * const h = await hashPassword('correct horse battery'); // "$argon2id$v=19$m=19456,t=2,p=1$…$…"
 */
export async function hashPassword(password: string): Promise<string> {
  if (passwordTooLong(password)) throw new Error('password too long');
  return argon2Limiter.run(async () => (await argon2()).argon2id({ password, salt: randomBytes(16), ...ARGON2_PARAMS, outputType: 'encoded' }));
}

/**
 * Constant-time check (inside hash-wasm) of a password against an encoded Argon2id hash.
 * Throws ERR_BUSY when too many checks are already waiting (see argon2Limiter).
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  if (passwordTooLong(password) || !ENCODED_RE.test(encoded)) return false;
  return argon2Limiter.run(async () => {
    try {
      return await (await argon2()).argon2Verify({ password, hash: encoded });
    } catch {
      return false;
    }
  });
}

/** True when a stored hash used weaker parameters than today's: it is replaced at the next login. */
export function needsRehash(encoded: string): boolean {
  const m = ENCODED_RE.exec(encoded);
  if (!m) return true;
  return Number(m[1]) < ARGON2_PARAMS.memorySize || Number(m[2]) < ARGON2_PARAMS.iterations || Number(m[3]) < ARGON2_PARAMS.parallelism;
}

let dummy: Promise<string> | undefined;

/**
 * Spends the same work as a real check, for a username that does not exist, so that the answer
 * (and its timing) is the same as for a wrong password.
 */
export async function burnPasswordCheck(password: string): Promise<false> {
  // Made once, outside the limiter's count of waiting checks (a failure is retried next time).
  dummy ??= argon2().then(({ argon2id }) => argon2id({ password: randomBytes(12).toString('base64'), salt: randomBytes(16), ...ARGON2_PARAMS, outputType: 'encoded' })).catch((err: unknown) => {
    dummy = undefined;
    throw err;
  });
  await verifyPassword(password, await dummy);
  return false;
}

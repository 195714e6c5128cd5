import { randomBytes } from 'node:crypto';
import { argon2Verify, argon2id } from 'hash-wasm';
import { PASSWORD_MAX_BYTES } from '../../protocol/accounts.js';

/**
 * Argon2id parameters: OWASP's first recommended configuration (m = 19 MiB, t = 2, p = 1).
 * Hashing takes about 50–100 ms of one core here; login throttling keeps that from being a lever.
 */
export const ARGON2_PARAMS = { memorySize: 19_456, iterations: 2, parallelism: 1, hashLength: 32 } as const;

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
  return argon2id({ password, salt: randomBytes(16), ...ARGON2_PARAMS, outputType: 'encoded' });
}

/** Constant-time check (inside hash-wasm) of a password against an encoded Argon2id hash. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  if (passwordTooLong(password) || !ENCODED_RE.test(encoded)) return false;
  try {
    return await argon2Verify({ password, hash: encoded });
  } catch {
    return false;
  }
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
  dummy ??= hashPassword(randomBytes(12).toString('base64'));
  await verifyPassword(password, await dummy);
  return false;
}

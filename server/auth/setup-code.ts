import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuthStore } from '../store/types.js';

const ALPHABET = '23456789ABCDEFGHJKMNPQRSTVWXYZ';
const META_KEY = 'setup-code-sha256';
export const ADMIN_EXISTS_KEY = 'admin-exists';

function digest(code: string): string {
  return createHash('sha256').update(code.toUpperCase().replace(/[^0-9A-Z]/g, '')).digest('hex');
}

/**
 * The one-time code that lets the first visitor of /setup create the admin. Printed at start and
 * kept in `<data>/setup.code` (0600) until an admin exists; the database holds only its hash.
 * Returns undefined once an admin exists.
 */
export async function ensureSetupCode(store: AuthStore, dataDir: string): Promise<string | undefined> {
  const file = join(dataDir, 'setup.code');
  if (store.getMeta<boolean>(ADMIN_EXISTS_KEY)) {
    rmSync(file, { force: true });
    return undefined;
  }
  if (existsSync(file)) {
    const code = readFileSync(file, 'utf8').trim();
    if (store.getMeta<string>(META_KEY) === digest(code)) return code;
  }
  const groups = Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => ALPHABET[randomInt(ALPHABET.length)]).join(''));
  const code = groups.join('-');
  await store.putMeta(META_KEY, digest(code));
  writeFileSync(file, code + '\n', { mode: 0o600 });
  return code;
}

/** Constant-time check of a presented setup code. */
export function checkSetupCode(store: AuthStore, presented: string): boolean {
  const want = store.getMeta<string>(META_KEY);
  if (!want || store.getMeta<boolean>(ADMIN_EXISTS_KEY)) return false;
  return timingSafeEqual(Buffer.from(digest(presented), 'hex'), Buffer.from(want, 'hex'));
}

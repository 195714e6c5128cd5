import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { API_TOKEN_RE, newApiToken } from '../../protocol/ids.js';
import type { ApiTokenRecord, AuthStore } from '../store/types.js';

/** API tokens are 256 random bits, so a plain SHA-256 is a safe at-rest form (no slow hash needed). */
export function hashApiToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export async function createApiToken(
  store: AuthStore,
  // A user's token must say which credential generation it was made under (see credGenOf).
  opts: { name: string; role: ApiTokenRecord['role']; now: number } & ({ userId: null; credGen?: number } | { userId: string; credGen: number }),
): Promise<{ token: string; record: ApiTokenRecord }> {
  const token = newApiToken();
  const record: ApiTokenRecord = {
    id: randomBytes(6).toString('hex'),
    name: opts.name,
    role: opts.role,
    userId: opts.userId,
    createdAt: opts.now,
    revokedAt: null,
    ...(opts.userId !== null ? { credGen: opts.credGen } : {}),
  };
  await store.putApiToken(hashApiToken(token), record);
  return { token, record };
}

/** The token record for a presented bearer token, or undefined when unknown, malformed or revoked. */
export function verifyApiToken(store: AuthStore, token: string | undefined): ApiTokenRecord | undefined {
  if (!token || !API_TOKEN_RE.test(token)) return undefined;
  const rec = store.getApiToken(hashApiToken(token));
  if (!rec || rec.revokedAt !== null) return undefined;
  return rec;
}

/** The tokens of one user (or every token, for admins), newest first; hashes stay inside. */
export function listApiTokens(store: AuthStore, opts: { userId?: string } = {}): ApiTokenRecord[] {
  return store
    .listApiTokens()
    .map((t) => t.record)
    .filter((r) => opts.userId === undefined || r.userId === opts.userId)
    .sort((a, b) => b.createdAt - a.createdAt);
}

/**
 * Revokes a token by its public id. `owner` limits it to that user's tokens (undefined: any).
 * Resolves with the revoked record, or undefined when there is no such live token.
 */
export async function revokeApiToken(store: AuthStore, id: string, now: number, owner?: string): Promise<ApiTokenRecord | undefined> {
  const found = store.listApiTokens().find((t) => t.record.id === id && (owner === undefined || t.record.userId === owner));
  if (!found) return undefined;
  return store.updateApiToken(found.hash, (rec) => (rec.revokedAt === null ? { ...rec, revokedAt: now } : undefined));
}

/** Revokes every token of a user (the user was deleted). */
export async function revokeUserTokens(store: AuthStore, userId: string, now: number): Promise<number> {
  let n = 0;
  for (const t of store.listApiTokens()) {
    if (t.record.userId !== userId || t.record.revokedAt !== null) continue;
    if (await store.updateApiToken(t.hash, (rec) => (rec.revokedAt === null ? { ...rec, revokedAt: now } : undefined))) n++;
  }
  return n;
}

/**
 * `<data>/operator.token`: an admin API token for CLI use on the gateway host, written 0600.
 * Kept across restarts while it is still valid; replaced when missing, malformed or revoked.
 */
export async function ensureOperatorToken(store: AuthStore, dataDir: string, now: number): Promise<string> {
  const file = join(dataDir, 'operator.token');
  if (existsSync(file)) {
    const existing = readFileSync(file, 'utf8').trim();
    if (verifyApiToken(store, existing)) {
      chmodSync(file, 0o600);
      return file;
    }
  }
  const { token } = await createApiToken(store, { name: 'operator.token (bootstrap)', role: 'admin', userId: null, now });
  writeFileSync(file, token + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

import { CcgError } from '../../protocol/errors.js';
import { atLeast, minRole, type Role } from '../../protocol/roles.js';
import { verifyApiToken } from './api-tokens.js';
import type { AuthStore } from '../store/types.js';

export type { Role };

/** Who is asking: resolved from an API token (CLI, TUI, CI) or, later, a browser session. */
export interface Principal {
  name: string;
  role: Role;
  via: 'token' | 'session';
  tokenId: string | null;
  /** The user behind a session or a user's token; null for the bootstrap token (operator.token). */
  userId?: string | null;
  /** The user's credential generation the token or session was made under. */
  credGen?: number;
}


/** Reads `Authorization: Bearer ccgo_…`. Throws ERR_UNAUTHORIZED for missing, unknown or revoked tokens. */
export function authenticateBearer(store: AuthStore, headers: Record<string, string>): Principal {
  const auth = headers['authorization'] ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(auth);
  if (m) store.assertCredentialsCurrent?.();
  const rec = verifyApiToken(store, m?.[1]);
  if (!rec) {
    throw new CcgError('ERR_UNAUTHORIZED', m ? 'API token is unknown or revoked' : 'missing Authorization: Bearer <API token>');
  }
  if (rec.userId !== null) {
    // A user's token acts as that user, with the user's current role (capped by the token's),
    // and stops working the moment the user is disabled or deleted, or the password changes
    // (an older credential generation: also a token made by a login that checked the old
    // password and finished after the change).
    const user = store.getUser(rec.userId);
    if (!user || user.disabled || (rec.credGen ?? 0) < (user.credGen ?? 0)) throw new CcgError('ERR_UNAUTHORIZED', 'API token is unknown or revoked');
    return { name: user.name, role: minRole(rec.role, user.role), via: 'token', tokenId: rec.id, userId: user.id, credGen: rec.credGen ?? 0 };
  }
  return { name: rec.name, role: rec.role, via: 'token', tokenId: rec.id, userId: null };
}

/** Throws ERR_FORBIDDEN unless the principal has `role` or a higher one (the table is protocol/roles.ts). */
export function requireRole(p: Principal | null, role: Role): void {
  if (!atLeast(p?.role, role)) throw new CcgError('ERR_FORBIDDEN', `this needs the ${role} role${p ? `; you are ${p.role}` : ''}`);
}

/** Operators and admins: they may act on runs (answer, send input, run commands, assist). */
export function canOperate(p: Principal | null | undefined): boolean {
  return atLeast(p?.role, 'operator');
}

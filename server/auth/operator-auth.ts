import { CcgError } from '../../protocol/errors.js';
import { verifyApiToken } from './api-tokens.js';
import type { AuthStore } from '../store/types.js';

export type Role = 'admin' | 'operator' | 'viewer';

/** Who is asking: resolved from an API token (CLI, TUI, CI) or, later, a browser session. */
export interface Principal {
  name: string;
  role: Role;
  via: 'token' | 'session';
  tokenId: string | null;
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Reads `Authorization: Bearer ccgo_…`. Throws ERR_UNAUTHORIZED for missing, unknown or revoked tokens. */
export function authenticateBearer(store: AuthStore, headers: Record<string, string>): Principal {
  const auth = headers['authorization'] ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(auth);
  const rec = verifyApiToken(store, m?.[1]);
  if (!rec) {
    throw new CcgError('ERR_UNAUTHORIZED', m ? 'API token is unknown or revoked' : 'missing Authorization: Bearer <API token>');
  }
  return { name: rec.name, role: rec.role, via: 'token', tokenId: rec.id };
}

export function requireRole(p: Principal, role: Role): void {
  if (RANK[p.role] < RANK[role]) throw new CcgError('ERR_FORBIDDEN', `this needs the ${role} role; you are ${p.role}`);
}

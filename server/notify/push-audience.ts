import { atLeast } from '../../protocol/roles.js';
import type { AuthStore, PushSubscriptionRecord } from '../store/types.js';

/** Who owns a new subscription: the user behind the caller, and the token it was made with (if any). */
export interface PushOwner {
  userId: string | null;
  tokenId: string | null;
  /** The user's credential generation the caller's token or session carries. */
  credGen?: number;
}

/**
 * Whether a subscription's owner may still get notifications, checked at send time and by the
 * sweep after every account change: the user exists under the same name, is not disabled and
 * has a role that may see runs, and has not changed the password since (its credential
 * generation is not newer than the subscription's); a subscription made with a token (a user's
 * or operator.token) needs that token unrevoked. Notifications carry approval details: the phone
 * of a deleted or disabled user, or of whoever stole a token or a password, must not keep
 * getting them. (One made with a page session stays when that session ends: the phone the user
 * signed in on is meant to keep getting them; a password change ends it.)
 */
export function pushAudience(store: Pick<AuthStore, 'getUser' | 'getUserByName' | 'listApiTokens'>): (rec: PushSubscriptionRecord) => boolean {
  const userMay = (u: { name: string; disabled: boolean; role: 'admin' | 'operator' | 'viewer' } | undefined, name: string) =>
    u !== undefined && !u.disabled && u.name === name && atLeast(u.role, 'viewer');
  const liveToken = (match: (r: { id: string; name: string; userId: string | null }) => boolean) =>
    store.listApiTokens().some(({ record: r }) => r.userId === null && r.revokedAt === null && atLeast(r.role, 'viewer') && match(r));
  const liveUserToken = (id: string, userId: string) => store.listApiTokens().some(({ record: r }) => r.id === id && r.userId === userId && r.revokedAt === null);
  return (rec) => {
    if (rec.userId) {
      const u = store.getUser(rec.userId);
      if (!userMay(u, rec.user) || (rec.credGen ?? 0) < (u!.credGen ?? 0)) return false;
      return !rec.tokenId || liveUserToken(rec.tokenId, rec.userId);
    }
    if (rec.tokenId) return liveToken((r) => r.id === rec.tokenId);
    // Stored before owners were recorded: by name, a user first, else a live bootstrap token.
    const byName = store.getUserByName(rec.user);
    return byName ? userMay(byName, rec.user) : liveToken((r) => r.name === rec.user);
  };
}

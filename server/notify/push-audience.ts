import { atLeast } from '../../protocol/roles.js';
import type { AuthStore, PushSubscriptionRecord } from '../store/types.js';

/** Who owns a new subscription: the user behind the caller, or (the bootstrap token) the token. */
export interface PushOwner {
  userId: string | null;
  tokenId: string | null;
}

/**
 * Whether a subscription's owner may still get notifications, checked at send time and by the
 * sweep after every account change: the user exists under the same name, is not disabled and
 * has a role that may see runs; a subscription made with a token that belongs to no user
 * (operator.token) needs that token unrevoked. Notifications carry approval details: a deleted
 * or disabled user's phone must not keep getting them.
 */
export function pushAudience(store: Pick<AuthStore, 'getUser' | 'getUserByName' | 'listApiTokens'>): (rec: PushSubscriptionRecord) => boolean {
  const userMay = (u: { name: string; disabled: boolean; role: 'admin' | 'operator' | 'viewer' } | undefined, name: string) =>
    u !== undefined && !u.disabled && u.name === name && atLeast(u.role, 'viewer');
  const liveToken = (match: (r: { id: string; name: string; userId: string | null }) => boolean) =>
    store.listApiTokens().some(({ record: r }) => r.userId === null && r.revokedAt === null && atLeast(r.role, 'viewer') && match(r));
  return (rec) => {
    if (rec.userId) return userMay(store.getUser(rec.userId), rec.user);
    if (rec.tokenId) return liveToken((r) => r.id === rec.tokenId);
    // Stored before owners were recorded: by name, a user first, else a live bootstrap token.
    const byName = store.getUserByName(rec.user);
    return byName ? userMay(byName, rec.user) : liveToken((r) => r.name === rec.user);
  };
}

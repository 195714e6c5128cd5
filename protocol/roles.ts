import { z } from 'zod';

/**
 * The one role table of ccg. Every check of "may this person do that" compares ranks here: the
 * gateway's API, operator socket and pages, and the TUI when it decides which keys to offer.
 *
 * - viewer: watches runs, reads output, timelines and artifacts.
 * - operator: also creates and cancels runs, answers approvals, sends input, runs commands,
 *   collects artifacts and opens assist sessions.
 * - admin: also manages users, tokens, the command policy and the audit log.
 */
export const ROLES = ['admin', 'operator', 'viewer'] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

const RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };

/**
 * True when `role` is `needed` or above it.
 *
 * @example
 * atLeast('admin', 'operator') // true
 * atLeast('viewer', 'operator') // false
 */
export function atLeast(role: string | null | undefined, needed: Role): boolean {
  // An unknown role (an older or newer gateway's) ranks below every known one.
  const rank = role == null ? undefined : (RANK as Record<string, number>)[role];
  return rank !== undefined && rank >= RANK[needed];
}

/** The lower of two roles: a user's token never acts above its cap or above the user's current role. */
export function minRole(a: Role, b: Role): Role {
  return RANK[a] <= RANK[b] ? a : b;
}

import type { SecretBox } from './secret-box.js';
import { cookieHeader, readCookie } from './sessions.js';

/**
 * The "this browser signed in to this account before" cookie. Set at every full page login,
 * sealed with the gateway key (so it cannot be made up or moved to another account) and bound to
 * the account's credential generation (a password change retires it). A login that presents it
 * skips the account-wide throttle key (server/auth/throttle.ts `accountKey`): guessing spread over
 * many addresses can then lock strangers out of an account, but not the browsers that already
 * use it. It grants nothing else: the password (and code) are still checked, and the per-address
 * keys still apply.
 */
export const DEVICE_COOKIE = '__Host-ccg-dev';
const CONTEXT = 'device-cookie';
/** How long a device stays known without signing in again. */
export const DEVICE_MAX_AGE_MS = 180 * 24 * 3600_000;

export interface KnownDevice {
  userId: string;
  credGen: number;
}

/** The Set-Cookie value marking this browser as one that signed in to `userId`. */
export function deviceCookie(box: SecretBox, userId: string, credGen: number, now: number): string {
  return cookieHeader(DEVICE_COOKIE, box.seal(JSON.stringify({ u: userId, g: credGen, at: now }), CONTEXT), DEVICE_MAX_AGE_MS / 1000);
}

/** The account the request's device cookie vouches for, or undefined (none, forged, expired). */
export function readDeviceCookie(box: SecretBox, cookies: string | undefined, now: number): KnownDevice | undefined {
  const raw = readCookie(cookies, DEVICE_COOKIE);
  if (!raw || raw.length > 512) return undefined;
  const plain = box.open(raw, CONTEXT);
  if (!plain) return undefined;
  try {
    const v = JSON.parse(plain) as { u?: unknown; g?: unknown; at?: unknown };
    if (typeof v.u !== 'string' || typeof v.g !== 'number' || typeof v.at !== 'number') return undefined;
    if (now - v.at > DEVICE_MAX_AGE_MS) return undefined;
    return { userId: v.u, credGen: v.g };
  } catch {
    return undefined;
  }
}

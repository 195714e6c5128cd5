import { z } from 'zod';
import { Role } from './roles.js';

/**
 * Accounts: users, roles, passwords, two-factor codes and the login API (`POST /api/v1/login`,
 * used by `ccg login`). The browser pages post the same fields as forms.
 */

export { ROLES } from './roles.js';
/** A user's role (roles.ts has the table). */
export const UserRole = Role;
export type UserRole = Role;

/** Lowercase letters, digits, dot, dash, underscore; starts with a letter or digit; at most 32. */
export const USERNAME_RE = /^[a-z0-9][a-z0-9._-]{0,31}$/;
/**
 * Names a run's timeline gives the runner's own doings (`runner`, `timeout`, `claude`): a user so
 * named would read as them, and they as that user.
 */
export const RESERVED_USERNAMES: ReadonlySet<string> = new Set(['runner', 'timeout', 'claude']);
export const Username = z
  .string()
  .trim()
  .toLowerCase()
  .regex(USERNAME_RE, 'a username is 1 to 32 lowercase letters, digits, dots, dashes or underscores')
  .refine((u) => !RESERVED_USERNAMES.has(u), 'runner, timeout and claude are how a run\'s timeline names the runner\'s own doings: choose another username');

export const PASSWORD_MIN = 10;
/** Longer passwords are refused before hashing: Argon2 over megabytes would be a free DoS. */
export const PASSWORD_MAX_BYTES = 1024;
export const Password = z
  .string()
  .min(PASSWORD_MIN, `a password needs at least ${PASSWORD_MIN} characters`)
  .refine((s) => Buffer.byteLength(s) <= PASSWORD_MAX_BYTES, `a password may have at most ${PASSWORD_MAX_BYTES} bytes`);

export const Email = z.string().trim().toLowerCase().max(254).email('not an email address');

/** A TOTP code (6 digits) or a recovery code (groups of base32, dashes optional). */
export const TOTP_CODE_RE = /^\d{6}$/;
export const RECOVERY_CODE_RE = /^[0-9a-z]{4}-?[0-9a-z]{4}-?[0-9a-z]{4}$/i;
export const SecondFactor = z
  .string()
  .trim()
  .transform((s) => s.replace(/\s+/g, ''))
  .refine((s) => TOTP_CODE_RE.test(s) || RECOVERY_CODE_RE.test(s), 'a two-factor code is 6 digits (or a recovery code like abcd-efgh-jkmn)');

/** `POST /api/v1/login`. Field sizes are capped; the username is not format-checked (same answer for any wrong one). */
export const LoginRequest = z
  .object({
    username: z.string().max(256),
    password: z.string().max(64 * 1024),
    totp: z.string().max(64).optional(),
    /** A label for the API token, e.g. "ccg login on laptop". */
    name: z.string().trim().min(1).max(80).refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'no control characters').optional(),
  })
  .strict();
export type LoginRequest = z.infer<typeof LoginRequest>;

export const LoginResponse = z.object({
  /** An API token (`ccgo_…`) bound to the user: shown once, stored only hashed. */
  token: z.string(),
  user: z.object({ name: z.string(), role: UserRole }),
});
export type LoginResponse = z.infer<typeof LoginResponse>;

/** `POST /api/v1/logout`: the token the request was made with is revoked. */
export const LogoutResponse = z.object({ revoked: z.literal(true) });
export type LogoutResponse = z.infer<typeof LogoutResponse>;

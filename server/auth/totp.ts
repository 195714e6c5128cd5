import { createHash, randomInt } from 'node:crypto';
import { createRequire } from 'node:module';

// otpauth is required at the first two-factor operation, not at gateway start.
let otpauthModule: typeof import('otpauth') | undefined;
const otp = () => (otpauthModule ??= createRequire(import.meta.url)('otpauth') as typeof import('otpauth'));
import { RECOVERY_CODE_RE, TOTP_CODE_RE } from '../../protocol/accounts.js';

/** RFC 6238 as every authenticator app does it: SHA-1, 6 digits, 30 s steps. */
export const TOTP_PERIOD_S = 30;
const TOTP = { algorithm: 'SHA1', digits: 6, period: TOTP_PERIOD_S } as const;
/** One step either side: a phone clock 30 s off, or a code typed just as it rolled over. */
export const TOTP_WINDOW = 1;

/** A new random 160-bit secret, base32 (what the manual-entry field of an app wants). */
export function newTotpSecret(): string {
  return new (otp().Secret)({ size: 20 }).base32;
}

/** The `otpauth://totp/…` URI an authenticator app scans. */
export function totpUri(secretBase32: string, account: string, issuer: string): string {
  return new (otp().TOTP)({ ...TOTP, issuer, label: account, secret: otp().Secret.fromBase32(secretBase32) }).toString();
}

/** The code for a given time (tests, and nothing else). */
export function totpCodeAt(secretBase32: string, timestampMs: number): string {
  return otp().TOTP.generate({ ...TOTP, secret: otp().Secret.fromBase32(secretBase32), timestamp: timestampMs });
}

/**
 * The 30 s step a code belongs to, when it is valid within ±1 step of `nowMs`; null otherwise.
 * The caller must refuse any step not greater than the last one it accepted (no reuse).
 */
export function totpStep(secretBase32: string, code: string, nowMs: number): number | null {
  if (!TOTP_CODE_RE.test(code)) return null;
  const delta = otp().TOTP.validate({ ...TOTP, token: code, secret: otp().Secret.fromBase32(secretBase32), timestamp: nowMs, window: TOTP_WINDOW });
  if (delta === null) return null;
  return otp().TOTP.counter({ period: TOTP_PERIOD_S, timestamp: nowMs }) + delta;
}

const RECOVERY_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Ten single-use recovery codes (60 random bits each), shown once. */
export function newRecoveryCodes(n = 10): string[] {
  return Array.from({ length: n }, () => {
    let s = '';
    for (let i = 0; i < 12; i++) s += RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)];
    return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8)}`;
  });
}

export function isRecoveryCode(code: string): boolean {
  return RECOVERY_CODE_RE.test(code);
}

/** Recovery codes are random (60 bits), so a plain SHA-256 is a sound at-rest form. */
export function hashRecoveryCode(code: string): string {
  return createHash('sha256').update(code.toLowerCase().replace(/-/g, '')).digest('hex');
}

import { randomBytes, randomInt } from 'node:crypto';

/** Lowercase base32 without i, l, o, u: easy to read aloud and to type on a phone. */
const ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export const RUN_ID_RE = /^[0-9a-hjkmnp-tv-z]{12}$/;
export const RUN_TOKEN_RE = /^ccgr_[A-Za-z0-9_-]{43}$/;
export const API_TOKEN_RE = /^ccgo_[A-Za-z0-9_-]{43}$/;
export const NONCE_RE = /^[A-Za-z0-9_-]{16,64}$/;
/** An approval id. Never starts with '-' or '_': operators type it as an argument (`ccg runs
 *  approve RUN ID`), and a leading '-' would read as an option. */
export const APPROVAL_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{15,63}$/;

/** A new run id: 12 characters, 60 random bits. */
export function newRunId(): string {
  let id = '';
  for (let i = 0; i < 12; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

/** A run token: the secret a runner signs with. Shown once, stored only encrypted. */
export function newRunToken(): string {
  return `ccgr_${randomBytes(32).toString('base64url')}`;
}

/** An operator API token for the CLI, TUI and CI. Stored only as a SHA-256 hash. */
export function newApiToken(): string {
  return `ccgo_${randomBytes(32).toString('base64url')}`;
}

export function newNonce(): string {
  return randomBytes(18).toString('base64url');
}

export function isRunId(value: string): boolean {
  return RUN_ID_RE.test(value);
}

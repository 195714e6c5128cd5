import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { NONCE_RE, RUN_ID_RE, newNonce } from './ids.js';
import type { ErrorCode } from './errors.js';

/**
 * HMAC-SHA256 request signing, used by the runner to sign its WebSocket upgrade and HTTP requests
 * and by the gateway to verify them. docs/PROTOCOL.md specifies it byte for byte.
 *
 * canonical = "CCG1-HMAC-SHA256\n" + METHOD + "\n" + target + "\n" + runId + "\n"
 *           + timestamp + "\n" + nonce + "\n" + hex(sha256(body))
 * signature = hex(HMAC-SHA256(key = UTF-8 bytes of the run token, canonical))
 */
export const SIGNING_SCHEME = 'CCG1-HMAC-SHA256';
/** Allowed clock difference between runner and gateway, in seconds, either way. */
export const SIGNATURE_WINDOW_S = 300;

export const HEADER_RUN_ID = 'x-ccg-run-id';
export const HEADER_TIMESTAMP = 'x-ccg-timestamp';
export const HEADER_NONCE = 'x-ccg-nonce';
export const HEADER_SIGNATURE = 'x-ccg-signature';
export const HEADER_PROTOCOL = 'x-ccg-protocol';
/** Artifact uploads: the body's SHA-256, so the signature is checked before the body is read. */
export const HEADER_CONTENT_SHA256 = 'x-ccg-content-sha256';

export const EMPTY_BODY_SHA256 = createHash('sha256').update('').digest('hex');

export interface SignInput {
  method: string;
  /** Path plus `?query` exactly as sent on the request line. */
  target: string;
  runId: string;
  /** Unix time in whole seconds. */
  timestamp: number;
  nonce: string;
  body?: Uint8Array | string;
  /**
   * The lowercase hex SHA-256 of the body, when the body is not at hand (a streamed upload:
   * the runner declares it in `x-ccg-content-sha256`, the gateway checks it after reading).
   */
  bodySha256?: string;
}

export function bodyHash(body: Uint8Array | string | undefined): string {
  if (body === undefined || body.length === 0) return EMPTY_BODY_SHA256;
  return createHash('sha256').update(body).digest('hex');
}

export function canonicalString(input: SignInput): string {
  return [
    SIGNING_SCHEME,
    input.method.toUpperCase(),
    input.target,
    input.runId,
    String(input.timestamp),
    input.nonce,
    input.bodySha256 ?? bodyHash(input.body),
  ].join('\n');
}

export function signature(token: string, input: SignInput): string {
  return createHmac('sha256', token).update(canonicalString(input)).digest('hex');
}

/**
 * The four headers a runner adds to a request. A fresh nonce and the current time are used
 * unless given (tests and the worked example pass them).
 */
export function signRequest(
  token: string,
  req: { method: string; target: string; runId: string; body?: Uint8Array | string; bodySha256?: string },
  opts: { now?: number; nonce?: string } = {},
): Record<string, string> {
  const timestamp = Math.floor((opts.now ?? Date.now()) / 1000);
  const nonce = opts.nonce ?? newNonce();
  const sig = signature(token, { ...req, timestamp, nonce });
  return {
    [HEADER_RUN_ID]: req.runId,
    [HEADER_TIMESTAMP]: String(timestamp),
    [HEADER_NONCE]: nonce,
    [HEADER_SIGNATURE]: sig,
  };
}

export interface SignedHeaders {
  runId: string;
  timestamp: string;
  nonce: string;
  signature: string;
}

export type Verdict = { ok: true } | { ok: false; code: ErrorCode; message: string };

/**
 * Checks the shape of the signed headers and the clock window: everything that needs no secret.
 * Cheap, so it runs before any store lookup.
 */
export function checkSignedHeaders(h: Partial<SignedHeaders>, nowMs: number): Verdict {
  if (!h.runId && !h.timestamp && !h.nonce && !h.signature) {
    return { ok: false, code: 'ERR_SIGNATURE_MISSING', message: 'missing x-ccg-* signature headers' };
  }
  if (!h.runId || !RUN_ID_RE.test(h.runId)) {
    return { ok: false, code: 'ERR_SIGNATURE_INVALID', message: 'missing or malformed x-ccg-run-id' };
  }
  // One spelling per time: a leading zero (or sign, space, exponent) is refused, not normalised,
  // so the header signed is the header checked.
  if (!h.timestamp || !/^(0|[1-9][0-9]{0,11})$/.test(h.timestamp)) {
    return { ok: false, code: 'ERR_SIGNATURE_INVALID', message: 'missing or malformed x-ccg-timestamp' };
  }
  if (!h.nonce || !NONCE_RE.test(h.nonce)) {
    return { ok: false, code: 'ERR_SIGNATURE_INVALID', message: 'missing or malformed x-ccg-nonce' };
  }
  if (!h.signature || !/^[0-9a-f]{64}$/.test(h.signature)) {
    return { ok: false, code: 'ERR_SIGNATURE_INVALID', message: 'missing or malformed x-ccg-signature' };
  }
  const skew = Math.abs(Number(h.timestamp) - nowMs / 1000);
  if (!(skew <= SIGNATURE_WINDOW_S)) {
    return {
      ok: false,
      code: 'ERR_SIGNATURE_STALE',
      // Never rounded down into the window: 300.4 s reads as "more than 300 s".
      message: `timestamp is ${skew < SIGNATURE_WINDOW_S + 1 ? `more than ${SIGNATURE_WINDOW_S}` : Math.round(skew)} s away from the gateway clock (window ±${SIGNATURE_WINDOW_S} s)`,
    };
  }
  return { ok: true };
}

/** Constant-time comparison of the presented signature with the one computed from the token. */
export function signatureMatches(
  token: string,
  h: SignedHeaders,
  req: { method: string; target: string; body?: Uint8Array | string; bodySha256?: string },
): boolean {
  const expected = Buffer.from(
    signature(token, {
      method: req.method,
      target: req.target,
      runId: h.runId,
      timestamp: Number(h.timestamp),
      nonce: h.nonce,
      body: req.body,
      ...(req.bodySha256 !== undefined ? { bodySha256: req.bodySha256 } : {}),
    }),
    'hex',
  );
  const given = Buffer.from(h.signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

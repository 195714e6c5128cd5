/**
 * Every error ccg puts on the wire, in one table: the stable code, the HTTP status used when it
 * answers a request, and the WebSocket close code used when it ends a socket. Clients switch on
 * `code`; people read `message`.
 */
export const ERRORS = {
  ERR_BAD_REQUEST: { http: 400, ws: 4400, message: 'bad request' },
  ERR_BAD_FRAME: { http: 400, ws: 4400, message: 'malformed frame' },
  ERR_UNKNOWN_TYPE: { http: 400, ws: 4400, message: 'unknown message type' },
  ERR_NOT_READY: { http: 400, ws: 4400, message: 'hello must be the first message' },
  ERR_UNAUTHORIZED: { http: 401, ws: 4401, message: 'missing or invalid credentials' },
  ERR_SIGNATURE_MISSING: { http: 401, ws: 4401, message: 'request is not signed' },
  ERR_SIGNATURE_INVALID: { http: 401, ws: 4401, message: 'signature does not match' },
  ERR_SIGNATURE_STALE: { http: 401, ws: 4401, message: 'timestamp outside the allowed window' },
  ERR_NONCE_REPLAY: { http: 401, ws: 4401, message: 'nonce already used' },
  ERR_TOKEN_IN_URL: { http: 400, ws: 4400, message: 'credentials are never accepted in the URL' },
  ERR_LOGIN_FAILED: { http: 401, ws: 4401, message: 'wrong username or password' },
  ERR_TOTP_REQUIRED: { http: 401, ws: 4401, message: 'this account needs a two-factor code' },
  ERR_TOTP_INVALID: { http: 401, ws: 4401, message: 'the two-factor code is wrong or was already used' },
  ERR_FORBIDDEN: { http: 403, ws: 4403, message: 'not allowed' },
  ERR_CSRF: { http: 403, ws: 4403, message: 'cross-site request refused (missing or wrong CSRF token, or foreign origin)' },
  ERR_ACCESS_DENIED: { http: 403, ws: 4403, message: 'Cloudflare Access assertion missing, invalid or not mapped to a user' },
  ERR_NOT_FOUND: { http: 404, ws: 4404, message: 'not found' },
  ERR_RUN_NOT_FOUND: { http: 404, ws: 4404, message: 'unknown run' },
  ERR_METHOD: { http: 405, ws: 4400, message: 'method not allowed' },
  ERR_SEQ_GAP: { http: 409, ws: 4409, message: 'output sequence gap' },
  ERR_RUN_FINISHED: { http: 409, ws: 4410, message: 'run already finished' },
  ERR_TOO_LARGE: { http: 413, ws: 1009, message: 'payload too large' },
  ERR_FRAME_TOO_LARGE: { http: 413, ws: 1009, message: 'frame too large' },
  ERR_OUTPUT_LIMIT: { http: 413, ws: 4413, message: 'run output limit reached' },
  ERR_RUN_LIMIT: { http: 429, ws: 4429, message: 'too many runs' },
  ERR_VERSION: { http: 426, ws: 4426, message: 'unsupported protocol version' },
  ERR_RATE_LIMIT: { http: 429, ws: 4429, message: 'message rate limit exceeded' },
  ERR_THROTTLED: { http: 429, ws: 4429, message: 'too many failed attempts; wait before trying again' },
  ERR_TOO_MANY_CONNECTIONS: { http: 503, ws: 1013, message: 'too many connections; try again later' },
  ERR_BUSY: { http: 503, ws: 1013, message: 'the gateway is busy checking other sign-ins; try again in 1 s' },
  ERR_RUNNER_AWAY: { http: 409, ws: 4409, message: 'the runner is not connected' },
  ERR_CONFLICT: { http: 409, ws: 4409, message: 'changed by someone else meanwhile; reload and retry' },
  ERR_NOT_ENABLED: { http: 409, ws: 4409, message: 'the runner does not allow this' },
  ERR_APPROVAL_NOT_FOUND: { http: 404, ws: 4404, message: 'unknown approval' },
  ERR_APPROVAL_RESOLVED: { http: 409, ws: 4409, message: 'this approval was already answered' },
  ERR_INPUT_UNSUPPORTED: { http: 409, ws: 4409, message: 'this run does not take input' },
  ERR_RUN_REVOKED: { http: 401, ws: 4401, message: 'the run token was revoked' },
  ERR_REPLACED: { http: 409, ws: 4001, message: 'another runner connection took over this run' },
  ERR_SLOW_CONSUMER: { http: 503, ws: 4008, message: 'viewer too slow; resume from the store' },
  ERR_MACHINE_NOT_FOUND: { http: 404, ws: 4404, message: 'unknown machine' },
  ERR_MACHINE_OFFLINE: { http: 409, ws: 4409, message: 'the machine is not connected' },
  ERR_MACHINE_REFUSED: { http: 409, ws: 4409, message: 'the machine refused to start the run' },
  ERR_MACHINE_REVOKED: { http: 401, ws: 4401, message: 'the machine token was revoked' },
  ERR_STORAGE: { http: 503, ws: 1011, message: 'storage error' },
  ERR_SHUTDOWN: { http: 503, ws: 1001, message: 'gateway shutting down' },
  ERR_INTERNAL: { http: 500, ws: 1011, message: 'internal error' },
} as const satisfies Record<string, { http: number; ws: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** The JSON body of every HTTP error and every `error` WebSocket message. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** An error that knows how it travels: thrown inside the gateway, rendered at the boundary. */
export class CcgError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string) {
    super(message ?? ERRORS[code].message);
    this.code = code;
    this.name = 'CcgError';
  }
  get http(): number {
    return ERRORS[this.code].http;
  }
  get ws(): number {
    return ERRORS[this.code].ws;
  }
  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

/** WebSocket close reasons are limited to 123 bytes; keep ours short and ASCII. */
export function closeReason(code: ErrorCode, message?: string): string {
  const text = `${code}: ${message ?? ERRORS[code].message}`;
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
}

/** The reverse of `closeReason`: the error code a close reason names, if any. */
export function parseCloseReason(reason: string): { code: ErrorCode | undefined; message: string } {
  const m = /^([A-Z_]+): (.*)$/s.exec(reason);
  if (m && isErrorCode(m[1])) return { code: m[1], message: m[2] ?? '' };
  return { code: undefined, message: reason };
}

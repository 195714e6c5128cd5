import { isErrorCode, type ErrorCode } from '../protocol/errors.js';

/**
 * Stable exit codes of every `ccg` command (documented in `ccg --help` and docs/CI.md).
 * `ccg runs wait` and `ccg runner start` exit with the run's own code instead when it has one.
 */
export const EXIT = {
  OK: 0,
  /** Any other error, bad usage included. */
  ERROR: 1,
  /** `runs answer` / `runs plan` without an answer: the questions or the plan shown, nothing sent. */
  SHOWN: 2,
  /** The run or other thing asked for does not exist. */
  NOT_FOUND: 66,
  /** The gateway could not be reached (DNS, refused, reset, TLS handshake). */
  UNREACHABLE: 69,
  /** `ccg serve`: the port or the data directory belongs to another running gateway. */
  IN_USE: 75,
  /** The gateway's certificate did not match --fingerprint. */
  PIN_MISMATCH: 76,
  /** Authentication or authorisation failed (bad, revoked or under-privileged token). */
  AUTH: 77,
  /** --timeout ran out. */
  TIMEOUT: 124,
  /** A program ccg needs is not installed (cloudflared for `ccg tunnel`), as a shell says 127. */
  NOT_INSTALLED: 127,
  /** The run was cancelled. */
  CANCELLED: 130,
} as const;

export const EXIT_CODES_HELP = [
  'Exit codes: 0 ok; 1 error or bad usage; 2 `runs answer`/`runs plan` showed, sent nothing;',
  '66 not found; 69 gateway unreachable;',
  '75 `serve`: port or data directory in use by another gateway (its pid in the message);',
  '76 certificate does not match --fingerprint; 77 authentication/permission refused; 124 timeout;',
  '127 a program ccg needs is not installed (cloudflared for `ccg tunnel`);',
  '`runs wait` and `runner start` exit with the run\'s own exit code (130 when cancelled).',
  'With --json: one JSON document on stdout (JSON lines for streams); errors are one line on',
  'stderr, {"error":{"code":…,"message":…,"exit":…}}. Recipes for pipelines: docs/CI.md.',
].join('\n');

/** A failure a command reports: one line for people, a code for scripts, an exit status. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exit: number = EXIT.ERROR,
    readonly code: string = 'ERR_CLI',
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Exit status for a gateway error code. */
export function exitForCode(code: ErrorCode | string): number {
  if (!isErrorCode(code)) return EXIT.ERROR;
  switch (code) {
    case 'ERR_UNAUTHORIZED':
    case 'ERR_FORBIDDEN':
    case 'ERR_SIGNATURE_INVALID':
    case 'ERR_SIGNATURE_MISSING':
    case 'ERR_SIGNATURE_STALE':
    case 'ERR_NONCE_REPLAY':
    case 'ERR_LOGIN_FAILED':
    case 'ERR_TOTP_REQUIRED':
    case 'ERR_TOTP_INVALID':
    case 'ERR_THROTTLED':
    case 'ERR_MACHINE_REVOKED':
    case 'ERR_RUN_REVOKED':
      return EXIT.AUTH;
    case 'ERR_NOT_FOUND':
    case 'ERR_RUN_NOT_FOUND':
    case 'ERR_APPROVAL_NOT_FOUND':
    case 'ERR_MACHINE_NOT_FOUND':
      return EXIT.NOT_FOUND;
    default:
      return EXIT.ERROR;
  }
}

/**
 * A gateway answer that is not what the protocol says it is (not JSON, wrong shape, too large):
 * a plain error (exit 1), never a crash further in. `detail` quotes the gateway, so it is capped
 * and stripped of control characters.
 * @example unexpectedResponse('GET', '/api/v1/runs/x', 'run.status: Invalid option')
 */
export function unexpectedResponse(method: string, path: string, detail: string): CliError {
  const where = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  // Keys and zod's wording quote the gateway: no control character survives, whoever shows the message.
  const plain = detail.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  const what = plain.length > 300 ? `${plain.slice(0, 300)}…` : plain;
  return new CliError(`gateway sent an unexpected response to ${method} ${where}: ${what}`, EXIT.ERROR, 'ERR_BAD_RESPONSE');
}

/** Maps a network-level error (ECONNREFUSED, pin mismatch…) to a CliError. */
export function networkError(err: unknown, gateway: string): CliError {
  const e = err as { code?: string; message?: string };
  if (e.code === 'ERR_PIN_MISMATCH') return new CliError(e.message ?? 'certificate mismatch', EXIT.PIN_MISMATCH, 'ERR_PIN_MISMATCH');
  if (e.code && /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_HAS_EXPIRED|ERR_TLS_CERT_ALTNAME_INVALID)$/.test(e.code)) {
    return new CliError(
      `cannot verify ${gateway}'s certificate (${e.code}); pass --fingerprint sha256:… (printed by \`ccg serve\`) to pin it`,
      EXIT.PIN_MISMATCH,
      'ERR_TLS',
    );
  }
  return new CliError(`cannot reach the gateway at ${gateway}: ${e.code ?? e.message ?? String(err)}`, EXIT.UNREACHABLE, 'ERR_UNREACHABLE');
}

/**
 * A response cut off in the middle (the gateway went away, the network broke) as the same
 * ERR_UNREACHABLE (69) a failed connection is: Node calls it "aborted" or ECONNRESET, and it read
 * `ccg: aborted`, exit 1, where --json's streaming path said 69.
 */
export function brokenOff(err: unknown): CliError | null {
  const e = err as { code?: string; message?: string } | null;
  if (e?.message !== 'aborted' && e?.code !== 'ECONNRESET') return null;
  return new CliError(`the connection to the gateway broke off before the answer was whole (${e.code ?? e.message}); nothing more arrived`, EXIT.UNREACHABLE, 'ERR_UNREACHABLE');
}

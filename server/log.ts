import { Redaction } from '../protocol/redaction.js';

/**
 * The gateway's log: one line per event, `time level event key=value…`, to stderr by default.
 * Callers pass only what is safe to log; as a second line of defence every line is scrubbed
 * (`scrubLogValue`): fields named like credentials lose their value, and tokens, cookies,
 * bearer headers and signatures inside any value are replaced, so none ever reaches a log file.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

/** Field names whose value is a credential whatever it looks like. */
const SECRET_FIELD = /(token|secret|passw|cookie|signature|^sig$|authorization|credential|api_?key|nonce|csrf|otp|totp)/i;
const KNOWN_FORMATS = new Redaction();
/** name=value pairs of session-like cookies, and signature headers, inside free text. */
const COOKIE_PAIR = /((?:^|[\s;,])(?:(?:__Host-|__Secure-)[A-Za-z0-9_.-]*|[A-Za-z0-9_.-]*(?:sess|sid|auth|token|csrf)[A-Za-z0-9_.-]*)=)[^;\s,]+/gi;
const HEADER_VALUE = /((?:cookie|set-cookie|x-ccg-signature|x-ccg-nonce)\s*[:=]\s*)[^\r\n]+/gi;

/** A log field value with every credential in it replaced by `[REDACTED…]`. */
export function scrubLogValue(key: string, value: string): string {
  if (SECRET_FIELD.test(key)) return '[REDACTED]';
  return KNOWN_FORMATS.apply(value).replace(HEADER_VALUE, '$1[REDACTED]').replace(COOKIE_PAIR, '$1[REDACTED]');
}

function fmt(v: string | number | boolean | null): string {
  const s = String(v);
  return /^[\w.:/@+-]*$/.test(s) && s.length > 0 ? s : JSON.stringify(s);
}

export function createLogger(opts: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const log = (level: LogLevel) => (event: string, fields: LogFields = {}) => {
    if (ORDER[level] < min) return;
    let line = `${new Date().toISOString()} ${level} ${event}`;
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${fmt(typeof v === 'string' || SECRET_FIELD.test(k) ? scrubLogValue(k, String(v)) : v)}`;
    write(line + '\n');
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

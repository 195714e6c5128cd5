/**
 * The gateway's log: one line per event, `time level event key=value…`, to stderr by default.
 * Callers pass only what is safe to log: never a token, a cookie or a signature.
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
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${fmt(v)}`;
    write(line + '\n');
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

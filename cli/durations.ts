import { CliError } from './exit-codes.js';

/** Parses a duration like 90, 90s, 5m, 2h, 180d, 500ms into milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new CliError(`${flag} "${text}" is not a duration (examples: 30s, 5m, 2h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!);
}

/** The longest delay a timer takes (2^31 − 1 ms, about 24.8 days): Node fires a longer one after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A duration something waits for (a timeout, a grace, a heartbeat): at most MAX_TIMER_MS. A
 * `--timeout 30d` meant as "forever" gave up at once with "still not finished".
 */
export function parseWait(text: string, flag: string): number {
  const ms = parseDuration(text, flag);
  if (ms > MAX_TIMER_MS) throw new CliError(`${flag} "${text}" is too long: at most 24d (leave it out to wait without a limit, where the option allows)`);
  return ms;
}

import type { RunSummary } from '../../protocol/run.js';
import { displayWidth, plainText } from './sanitize.js';

/** Colours only when the terminal may have them (NO_COLOR unset); everything reads without them too. */
export interface Theme {
  color: boolean;
}

/** The colour of a run's state in the list. */
export function statusColor(run: RunSummary): string | undefined {
  if (!run.runnerConnected && ['connected', 'running', 'waiting'].includes(run.status)) return 'yellow';
  switch (run.status) {
    case 'created':
    case 'connected':
      return 'cyan';
    case 'running':
      return 'green';
    case 'waiting':
      return 'yellow';
    case 'exited':
      return run.exitCode === 0 ? 'green' : 'red';
    case 'failed':
      return 'red';
    case 'cancelled':
      return 'magenta';
    case 'revoked':
      return 'red';
  }
}

/** A short state word that carries the meaning without colour: "running", "exit 0", "away"… */
export function statusWord(run: RunSummary): string {
  if (run.status === 'exited') return `exit ${run.exitCode ?? '?'}`;
  if (!run.runnerConnected && ['connected', 'running', 'waiting'].includes(run.status)) return `${run.status === 'running' ? 'run' : run.status}·${run.runnerLostAt != null ? 'lost' : 'away'}`;
  if (run.claude?.retrying && !['exited', 'failed', 'cancelled'].includes(run.status)) return 'retrying';
  return run.status;
}

/** Any text a runner or a user could have chosen (names, hostnames, reasons), made safe to print. */
export function clean(text: string | null | undefined, max = 200): string {
  return plainText(String(text ?? '').slice(0, max * 4)).slice(0, max);
}

export function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/**
 * Pads or cuts to exactly `n` terminal columns, by display width (a CJK character is two, a
 * combining mark none): a cut text ends in `…`.
 *
 * @example
 * fit('build', 8) // 'build   '
 * fit('日本語のラン', 6) // '日本… ' (a wide character that does not fit leaves a padded column)
 */
export function fit(text: string, n: number): string {
  if (n <= 0) return '';
  const w = displayWidth(text);
  if (w <= n) return text + ' '.repeat(n - w);
  const room = n > 1 ? n - 1 : n;
  let out = '';
  let used = 0;
  for (const ch of text) {
    const cw = displayWidth(ch);
    if (used + cw > room) break;
    out += ch;
    used += cw;
  }
  // A wide character that did not fit leaves a column: padded, so the width is exactly n.
  return (n > 1 ? `${out}…` : out) + ' '.repeat(room - used);
}

/**
 * Word-wraps plain text into rows: the first at most `first` columns wide, the others `rest`. A
 * word longer than a row is cut where the row ends.
 *
 * @example
 * wrapText('one two three', 8) // ['one two', 'three']
 */
export function wrapText(text: string, first: number, rest = first): string[] {
  const rows: string[] = [];
  let row = '';
  let used = 0;
  const room = () => Math.max(1, rows.length === 0 ? first : rest);
  const flush = () => {
    rows.push(row.trimEnd());
    row = '';
    used = 0;
  };
  for (const word of text.split(/(?<= )/)) {
    const w = displayWidth(word.trimEnd());
    if (used > 0 && used + w > room()) flush();
    for (const ch of used === 0 ? word.trimStart() : word) {
      const cw = displayWidth(ch);
      if (used > 0 && used + cw > room() && ch !== ' ') flush();
      row += ch;
      used += cw;
    }
  }
  if (row.trim() || rows.length === 0) flush();
  return rows;
}

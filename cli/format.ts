import type { RunSummary } from '../protocol/run.js';
import { showInvisible } from '../protocol/terminal-escapes.js';

/** How a run's state reads to a person: "exited 0", "running (runner away)"… */
export function statusText(run: RunSummary): string {
  let s: string = run.status;
  if (run.status === 'exited') s = `exited ${run.exitCode ?? '?'}`;
  if (!run.runnerConnected && ['connected', 'running', 'waiting'].includes(run.status)) s += run.runnerLostAt != null ? ' (runner lost)' : ' (runner away)';
  else if (run.claude?.retrying && !['exited', 'failed', 'cancelled'].includes(run.status)) s += ' (Claude retrying)';
  if (run.claude?.stopped === 'budget') s += ' (budget reached)';
  return s;
}

/** A run's cost so far ("$0.0123"; "-" when unknown), for the runs list. */
export function costText(run: RunSummary): string {
  const usd = run.claude?.costUsd;
  return usd == null ? '-' : usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function age(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Strips terminal control sequences from text a runner supplied, before it reaches our terminal; bidi controls are shown as U+FFFD. */
export function safe(text: string): string {
  return showInvisible(text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '?'));
}

/**
 * One JSON line for stdout. JSON.stringify escapes C0 controls (ESC included) but writes DEL, the
 * C1 controls (U+0080–U+009F, which some terminals obey as ESC [, ESC ] …) and the bidi and
 * other invisible controls as they are: here they become `\uXXXX` escapes too, which read back
 * as the same string, so `--json` output is as inert on a terminal as the human one.
 */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb]|\udb40[\udc00-\udc7f]/g, (c) => c.split('').map(jsonEscape).join('')) + '\n';
}

const jsonEscape = (unit: string) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`;

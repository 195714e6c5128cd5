import type { Key } from 'ink';

/** Ctrl-] (as telnet and ssh do): leaves keys mode; every other key goes to the run's terminal. */
export const LEAVE_KEYS = '\x1d';

/**
 * The bytes a terminal would send for a key Ink reported, for typing into a `--pty` run.
 * Ink strips the escape prefix of sequences and reports named keys as flags; this puts them back.
 *
 * @example
 * keyBytes('', { upArrow: true, … }) // '\x1b[A'
 * keyBytes('c', { ctrl: true, … })   // '\x03'
 * keyBytes('', { upArrow: true, … }, { appCursor: true }) // '\x1bOA'
 */
export function keyBytes(input: string, key: Key, modes: { appCursor?: boolean } = {}): string {
  // In application cursor mode (less, vim, Claude Code turn it on) a terminal sends ESC O x.
  const csi = modes.appCursor ? '\x1bO' : '\x1b[';
  if (key.upArrow) return `${csi}A`;
  if (key.downArrow) return `${csi}B`;
  if (key.rightArrow) return `${csi}C`;
  if (key.leftArrow) return `${csi}D`;
  if (key.home) return `${csi}H`;
  if (key.end) return `${csi}F`;
  if (key.pageUp) return '\x1b[5~';
  if (key.pageDown) return '\x1b[6~';
  if (key.return) return '\r';
  if (key.tab) return key.shift ? '\x1b[Z' : '\t';
  // Terminals send DEL for the Backspace key; Ink calls it "delete".
  if (key.backspace || key.delete) return '\x7f';
  if (key.escape) return '\x1b';
  if (key.ctrl && /^[a-z]$/i.test(input)) return String.fromCharCode(input.toLowerCase().charCodeAt(0) & 0x1f);
  if (key.meta && input) return `\x1b${input}`;
  return input;
}

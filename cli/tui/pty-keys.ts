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
 */
export function keyBytes(input: string, key: Key): string {
  if (key.upArrow) return '\x1b[A';
  if (key.downArrow) return '\x1b[B';
  if (key.rightArrow) return '\x1b[C';
  if (key.leftArrow) return '\x1b[D';
  if (key.home) return '\x1b[H';
  if (key.end) return '\x1b[F';
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

import { EscapeScanner } from './terminal-escapes.js';

/** The largest number any CSI parameter keeps: a cursor position or mode past it means the same clamped. */
export const CSI_PARAM_MAX = 9999;
/**
 * The largest count of the CSIs that loop once per unit in xterm.js (scroll, insert or delete
 * lines, tab stops, repeat, insert/delete/erase characters). Unclamped, one `CSI 99999999 S`
 * keeps xterm.js busy for minutes, and `CSI 999999999 b` allocates gigabytes.
 */
export const CSI_COUNT_MAX = 256;
/** An unfinished control sequence carried to the next chunk; longer ones are dropped (no real program sends them). */
const MAX_CARRY = 64;

const COUNTED = new Set([...'STLMIZb'].map((c) => c.charCodeAt(0)));
const isStringStart = (s: string, i: number) => {
  const c = s.charCodeAt(i);
  if (c === 0x9d || c === 0x90 || c === 0x98 || c === 0x9e || c === 0x9f) return true;
  const d = s.charCodeAt(i + 1);
  return c === 0x1b && (d === 0x5d || d === 0x50 || d === 0x58 || d === 0x5e || d === 0x5f);
};

/**
 * Makes a pty byte stream safe to feed to a terminal emulator (xterm.js on the phone,
 * @xterm/headless in the gateway and the TUI), chunk by chunk: the bytes as UTF-8 text, with
 * every CSI's numeric parameters clamped (CSI_PARAM_MAX, CSI_COUNT_MAX for the looping ones)
 * and every CSI the one escape scanner calls aborted dropped (a terminal would execute a C0
 * control inside it and go on, so `ESC [ 9 LF 99999999 S` is one huge scroll to xterm.js; dropped,
 * both read it the same way). Everything else passes unchanged, so real programs render exactly.
 *
 * @example
 * const clamp = new TerminalClamp();
 * term.write(clamp.push(chunk1)); term.write(clamp.push(chunk2));
 */
export class TerminalClamp {
  private readonly decoder = new TextDecoder('utf-8');
  private carry = '';

  /** The next bytes of the stream, as clamped text (an unfinished sequence at the end waits for the next call). */
  push(bytes: Uint8Array): string {
    return this.text(this.decoder.decode(bytes, { stream: true }));
  }

  /** The same for text already decoded. */
  text(chunk: string): string {
    const s = this.carry + chunk;
    this.carry = '';
    const sc = new EscapeScanner(s, true);
    let out = '';
    let last = 0;
    while (sc.next()) {
      if (sc.kind === 'open') {
        out += s.slice(last, sc.start);
        last = s.length;
        // A string (OSC, DCS…) passes as it comes: a terminal ends it at the next ESC, as the scanner does.
        if (isStringStart(s, sc.start)) out += s.slice(sc.start);
        else if (s.length - sc.start <= MAX_CARRY) this.carry = s.slice(sc.start);
        break;
      }
      if (sc.kind !== 'csi') continue;
      if (sc.final < 0) {
        out += s.slice(last, sc.start);
        last = sc.end;
        continue;
      }
      const body = s.slice(sc.bodyStart, sc.end - 1);
      if (!/\d{3}/.test(body)) continue;
      const max = COUNTED.has(sc.final) ? CSI_COUNT_MAX : CSI_PARAM_MAX;
      out += s.slice(last, sc.bodyStart) + body.replace(/\d+/g, (m) => (Number(m) > max ? String(max) : m));
      last = sc.end - 1;
    }
    return out + s.slice(last);
  }
}

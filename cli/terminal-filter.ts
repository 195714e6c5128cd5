import { EscapeScanner, INVISIBLE_REPLACEMENT, safeSgrParams } from '../protocol/terminal-escapes.js';

/** An escape sequence still open after this many characters is not one: its introducer is dropped. */
const MAX_PENDING = 4096;

/**
 * A run's output made safe for the operator's own terminal, as a stream: text, newlines, tabs,
 * carriage returns, backspaces and colours (SGR, only what `safeSgrParams` keeps: nothing that
 * hides text) pass; every other escape sequence (OSC 52
 * clipboard writes, titles, screen clears, cursor moves, DCS…) and control character is dropped,
 * in 7-bit and 8-bit (C1) forms alike, and bidi controls show as U+FFFD. Built on the one escape
 * scanner (protocol/terminal-escapes.ts), linear in its input; a sequence split across chunks is
 * held for the next one.
 */
export class TerminalFilter {
  private readonly decoder = new TextDecoder('utf-8');
  private readonly scanner = new EscapeScanner();
  private pending = '';
  private pendingScanned = 0;

  /** The next bytes of the stream, as the text to write. */
  write(data: Uint8Array): string {
    const s = this.pending + this.decoder.decode(data, { stream: true });
    const n = s.length;
    const sc = this.scanner.reset(s, true, this.pending.length > 0 ? this.pendingScanned : 0);
    this.pending = '';
    this.pendingScanned = 0;
    let out = '';
    while (sc.next()) {
      switch (sc.kind) {
        case 'text':
          out += s.slice(sc.start, sc.end);
          break;
        case 'invisible':
          out += INVISIBLE_REPLACEMENT;
          break;
        case 'csi': {
          // Colours, in the 7-bit form, with only what cannot hide text (safeSgrParams: no
          // background, inverse or conceal).
          const params = sc.sgrParams();
          const kept = params === null ? [] : safeSgrParams(params);
          if (kept.length > 0) out += `\u001b[${kept.join(';')}m`;
          break;
        }
        case 'control': {
          const c = s.charCodeAt(sc.start);
          if (c === 0x0a || c === 0x09 || c === 0x0d || c === 0x08) out += s[sc.start];
          break;
        }
        case 'open':
          if (n - sc.start > MAX_PENDING) sc.seek(sc.bodyStart);
          else {
            this.pending = s.slice(sc.start);
            this.pendingScanned = sc.scanned - sc.start;
          }
          break;
        default: // a complete escape or string sequence: dropped whole
      }
    }
    return out;
  }
}

/** True when `stream` is a terminal (a person is watching), where a run's bytes must be filtered. */
export function isTerminal(stream: unknown): boolean {
  return Boolean((stream as { isTTY?: boolean }).isTTY);
}

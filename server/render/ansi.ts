/**
 * Terminal output → safe HTML. Runner output is hostile input: every character of text is
 * HTML-escaped, the only markup produced is `<span class="…">` with class names from a fixed
 * list, and every escape sequence other than SGR colours is dropped whole — OSC 8 hyperlinks
 * (the link text stays, the URL goes), window-title sets, DCS/APC/PM strings, cursor movement,
 * C0/C1 controls. Bidirectional-override characters are made visible as U+FFFD, so output
 * cannot reorder what is shown around it. The sequences are read by protocol/terminal-escapes.ts,
 * as the timeline and the TUI read them.
 *
 * Streaming: a renderer keeps its colour state, a partial UTF-8 character and a partial escape
 * sequence between calls, so a chunk boundary can fall anywhere.
 */

import { EscapeScanner, INVISIBLE_REPLACEMENT } from '../../protocol/terminal-escapes.js';
import { escapeHtml, raw, type SafeHtml } from './html.js';

interface Sgr {
  fg: number | null;
  bg: number | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  inverse: boolean;
  strike: boolean;
}

const plain = (): Sgr => ({ fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false, strike: false });

/** An escape sequence longer than this is not a real one: its start is dropped and the rest shown as text. */
const MAX_PENDING = 8192;

// The 16 colours as RGB, to map 256-colour and true-colour requests to the nearest class.
const BASE16: [number, number, number][] = [
  [0, 0, 0], [205, 0, 0], [0, 205, 0], [205, 205, 0], [0, 0, 238], [205, 0, 205], [0, 205, 205], [229, 229, 229],
  [127, 127, 127], [255, 0, 0], [0, 255, 0], [255, 255, 0], [92, 92, 255], [255, 0, 255], [0, 255, 255], [255, 255, 255],
];

function nearest16(r: number, g: number, b: number): number {
  let best = 0;
  let bestD = Infinity;
  BASE16.forEach(([R, G, B], i) => {
    const d = (R - r) ** 2 + (G - g) ** 2 + (B - b) ** 2;
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  });
  return best;
}

function from256(n: number): number {
  if (n < 16) return n;
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return nearest16(v, v, v);
  }
  const i = n - 16;
  const level = (x: number) => (x === 0 ? 0 : 55 + x * 40);
  return nearest16(level(Math.floor(i / 36)), level(Math.floor(i / 6) % 6), level(i % 6));
}

function clampByte(v: number | undefined): number {
  return Math.max(0, Math.min(255, v ?? 0));
}

function applySgr(st: Sgr, paramText: string): void {
  // Only digits and separators are SGR parameters; anything else (private markers) is ignored.
  if (!/^[0-9;:]*$/.test(paramText)) return;
  const p = paramText === '' ? [0] : paramText.split(/[;:]/).map((x) => (x === '' ? 0 : Math.min(Number(x), 65535)));
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === 0) Object.assign(st, plain());
    else if (c === 1) st.bold = true;
    else if (c === 2) st.dim = true;
    else if (c === 3) st.italic = true;
    else if (c === 4) st.underline = true;
    else if (c === 7) st.inverse = true;
    else if (c === 9) st.strike = true;
    else if (c === 22) st.bold = st.dim = false;
    else if (c === 23) st.italic = false;
    else if (c === 24) st.underline = false;
    else if (c === 27) st.inverse = false;
    else if (c === 29) st.strike = false;
    else if (c >= 30 && c <= 37) st.fg = c - 30;
    else if (c === 39) st.fg = null;
    else if (c >= 40 && c <= 47) st.bg = c - 40;
    else if (c === 49) st.bg = null;
    else if (c >= 90 && c <= 97) st.fg = c - 90 + 8;
    else if (c >= 100 && c <= 107) st.bg = c - 100 + 8;
    else if (c === 38 || c === 48) {
      let colour: number | null = null;
      if (p[i + 1] === 5) {
        colour = from256(clampByte(p[i + 2]));
        i += 2;
      } else if (p[i + 1] === 2) {
        colour = nearest16(clampByte(p[i + 2]), clampByte(p[i + 3]), clampByte(p[i + 4]));
        i += 4;
      }
      if (colour !== null) {
        if (c === 38) st.fg = colour;
        else st.bg = colour;
      }
    }
  }
}

function classesOf(st: Sgr): string {
  const cls: string[] = [];
  let fg = st.fg;
  let bg = st.bg;
  if (st.inverse) {
    if (fg === null && bg === null) cls.push('a-inv');
    else {
      cls.push(bg === null ? 'a-fbg' : `a-f${bg}`, fg === null ? 'a-bfg' : `a-b${fg}`);
    }
    fg = bg = null;
  }
  if (bg !== null) cls.push(`a-b${bg}`);
  if (fg !== null) cls.push(`a-f${fg}`);
  if (st.bold) cls.push('a-bo');
  if (st.dim) cls.push('a-di');
  if (st.italic) cls.push('a-it');
  if (st.underline) cls.push('a-un');
  if (st.strike) cls.push('a-st');
  return cls.join(' ');
}

/**
 * A streaming renderer for one output stream.
 *
 * Linear in its input, whatever the input: the shared EscapeScanner looks at every character a
 * bounded number of times and nothing recurses. (Output made of thousands of unterminated
 * introducers, e.g. `ESC ]` repeated, once cost quadratic time and overflowed the stack: a runner
 * could take the gateway down that way.) A sequence still open at the end of a chunk is held for
 * the next one, with how far it was scanned, so it is not scanned again; one open for more than
 * MAX_PENDING characters is given up on the spot (its introducer dropped, the rest shown as text).
 */
export class AnsiHtml {
  private readonly decoder = new TextDecoder('utf-8');
  private readonly scanner = new EscapeScanner();
  private st: Sgr = plain();
  private pending = '';
  /** How much of `pending` the scanner already looked at (see EscapeScanner's `resume`). */
  private pendingScanned = 0;

  /** Renders the next bytes of the stream as HTML. */
  render(data: Uint8Array): SafeHtml {
    return this.feed(this.decoder.decode(data, { stream: true }), true);
  }

  /** Advances the colour state over bytes that are not shown (the output before a resume point). */
  prime(data: Uint8Array): void {
    this.feed(this.decoder.decode(data, { stream: true }), false);
  }

  private feed(text: string, emit: boolean): SafeHtml {
    const s = this.pending + text;
    const n = s.length;
    const sc = this.scanner.reset(s, true, this.pending.length > 0 ? this.pendingScanned : 0);
    this.pending = '';
    this.pendingScanned = 0;
    let out = '';
    let run = '';
    let runClass = classesOf(this.st);
    const flush = () => {
      if (!run) return;
      if (emit) {
        const html = escapeHtml(run);
        out += runClass ? `<span class="${runClass}">${html}</span>` : html;
      }
      run = '';
    };
    while (sc.next()) {
      switch (sc.kind) {
        case 'text':
          run += s.slice(sc.start, sc.end);
          break;
        case 'invisible':
          run += INVISIBLE_REPLACEMENT;
          break;
        case 'csi': {
          const params = sc.sgrParams();
          if (params === null) break;
          applySgr(this.st, params);
          const next = classesOf(this.st);
          if (next !== runClass) {
            flush();
            runClass = next;
          }
          break;
        }
        case 'control': {
          const c = s.charCodeAt(sc.start);
          if (c === 0x0a || c === 0x09) run += s[sc.start];
          else if (c === 0x0d) {
            if (sc.end >= n) this.pending = '\r'; // maybe the CR of a CRLF split across chunks
            else if (s.charCodeAt(sc.end) !== 0x0a) run += '\n'; // a bare CR (progress bars) starts a new line
          }
          break;
        }
        case 'open':
          // Held for the next chunk, unless already too long to be a real sequence: then its
          // introducer is dropped and the rest read as text.
          if (n - sc.start > MAX_PENDING) sc.seek(sc.bodyStart);
          else {
            this.pending = s.slice(sc.start);
            this.pendingScanned = sc.scanned - sc.start;
          }
          break;
        default: // a complete escape or string sequence: dropped whole
      }
    }
    flush();
    return raw(out); // escaped text in spans whose classes come from classesOf's fixed list
  }
}

/** Renders a complete piece of output (no carried state). */
export function ansiToHtml(data: Uint8Array | string): SafeHtml {
  const r = new AnsiHtml();
  return raw(r.render(typeof data === 'string' ? Buffer.from(data) : data) + r.render(new Uint8Array(0)));
}

/** Plain text with every escape sequence and control character removed (for one-line previews). */
export function ansiToText(data: Uint8Array | string): string {
  const html = ansiToHtml(data);
  return html
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

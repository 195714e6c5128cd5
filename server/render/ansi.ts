/**
 * Terminal output → safe HTML. Runner output is hostile input: every character of text is
 * HTML-escaped, the only markup produced is `<span class="…">` with class names from a fixed
 * list, and every escape sequence other than SGR colours is dropped whole — OSC 8 hyperlinks
 * (the link text stays, the URL goes), window-title sets, DCS/APC/PM strings, cursor movement,
 * C0/C1 controls. Bidirectional-override characters are made visible as U+FFFD, so output
 * cannot reorder what is shown around it.
 *
 * Streaming: a renderer keeps its colour state, a partial UTF-8 character and a partial escape
 * sequence between calls, so a chunk boundary can fall anywhere.
 */

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

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

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

const BIDI = /[\u202a-\u202e\u2066-\u2069]/g;

/** True for the characters that start an escape sequence: ESC, and the 8-bit C1 introducers CSI, OSC, DCS, PM, APC, SOS. */
function isIntroducer(c: number): boolean {
  return c === 0x1b || c === 0x9b || c === 0x9d || c === 0x90 || c === 0x9e || c === 0x9f || c === 0x98;
}

/**
 * A streaming renderer for one output stream.
 *
 * Linear in its input, whatever the input: every character is looked at a bounded number of
 * times, and nothing recurses. (Output made of thousands of unterminated introducers, e.g.
 * `ESC ]` repeated, once cost quadratic time and overflowed the stack: a runner could take the
 * gateway down that way.) Two things make that so: a string sequence (OSC, DCS…) that is still
 * open when more than MAX_PENDING characters follow it is given up on the spot (its introducer
 * dropped, the rest shown as text), and the renderer remembers how far it has already searched
 * for a terminator, so the next open introducer does not search the same characters again.
 */
export class AnsiHtml {
  private readonly decoder = new TextDecoder('utf-8');
  private st: Sgr = plain();
  private pending = '';
  /**
   * How much of `pending` is already known: for a CSI, the parameter bytes scanned; for a string
   * sequence, the prefix in which no terminator starts. The next call resumes from there.
   */
  private pendingScanned = 0;

  /** Renders the next bytes of the stream as HTML. */
  render(data: Uint8Array): string {
    return this.feed(this.decoder.decode(data, { stream: true }), true);
  }

  /** Advances the colour state over bytes that are not shown (the output before a resume point). */
  prime(data: Uint8Array): void {
    this.feed(this.decoder.decode(data, { stream: true }), false);
  }

  private feed(text: string, emit: boolean): string {
    const s = this.pending + text;
    const n = s.length;
    // Positions in [cleanFrom, cleanTo) are known not to start a string terminator (BEL, ST, ESC \).
    let cleanFrom = 0;
    let cleanTo = this.pending.length > 0 ? this.pendingScanned : 0;
    const csiResume = cleanTo;
    this.pending = '';
    this.pendingScanned = 0;
    let out = '';
    let run = '';
    let runClass = classesOf(this.st);
    const flush = () => {
      if (!run) return;
      if (emit) {
        const html = escapeHtml(run.replace(BIDI, '\ufffd'));
        out += runClass ? `<span class="${runClass}">${html}</span>` : html;
      }
      run = '';
    };
    const setState = () => {
      const next = classesOf(this.st);
      if (next !== runClass) {
        flush();
        runClass = next;
      }
    };
    // The index after a string sequence's terminator (BEL, ESC \ or ST) searching from `from`,
    // or -1 if it has not ended yet. Skips what an earlier search already found clean, and
    // records what this one finds, so a run of open introducers costs O(n) in all.
    const stringEnd = (from: number): number => {
      let j = from >= cleanFrom && from < cleanTo ? cleanTo : from;
      for (; j < n; j++) {
        const c = s.charCodeAt(j);
        if (c === 0x07 || c === 0x9c) return j + 1;
        if (c === 0x1b) {
          if (j + 1 >= n) break; // ESC at the very end: maybe the start of ESC \ in the next chunk
          if (s.charCodeAt(j + 1) === 0x5c) return j + 2;
        }
      }
      // Nothing from `from` to j starts a terminator.
      if (from <= cleanTo && from >= cleanFrom) cleanTo = Math.max(cleanTo, j);
      else {
        cleanFrom = from;
        cleanTo = j;
      }
      return -1;
    };
    // An escape sequence still open at the end of the input: kept for the next call, unless it is
    // already too long to be a real one. Returns false when it is given up on (the caller then
    // drops its introducer and goes on, showing the rest as text).
    const hold = (i: number, scannedTo: number): boolean => {
      if (n - i > MAX_PENDING) return false;
      this.pending = s.slice(i);
      this.pendingScanned = Math.max(0, scannedTo - i);
      return true;
    };
    let i = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (isIntroducer(c)) {
        // Introducer: ESC x, or its 8-bit C1 form.
        let kind: string;
        let body: number;
        if (c === 0x1b) {
          if (i + 1 >= n) {
            this.pending = s.slice(i);
            break;
          }
          kind = s[i + 1]!;
          body = i + 2;
        } else {
          kind = c === 0x9b ? '[' : c === 0x9d ? ']' : c === 0x90 ? 'P' : c === 0x9e ? '^' : c === 0x9f ? '_' : 'X';
          body = i + 1;
        }
        if (kind === '[') {
          let j = i === 0 && csiResume > body ? csiResume : body;
          while (j < n && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) <= 0x3f) j++;
          if (j >= n) {
            if (hold(i, j)) break;
            i = body; // not a real CSI: drop the introducer, show the rest
            continue;
          }
          const fin = s.charCodeAt(j);
          if (fin >= 0x40 && fin <= 0x7e) {
            if (fin === 0x6d /* m */) {
              applySgr(this.st, s.slice(body, j));
              setState();
            }
            i = j + 1;
          } else {
            i = j; // malformed: drop the introducer and what it held, resume at the odd byte
          }
          continue;
        }
        if (kind === ']' || kind === 'P' || kind === '^' || kind === '_' || kind === 'X') {
          const end = stringEnd(body);
          if (end < 0) {
            if (hold(i, cleanTo)) break;
            i = body; // never ends sensibly: drop the introducer, show the rest as text
            continue;
          }
          i = end;
          continue;
        }
        // Character-set designations take one more character; any other escape is two characters.
        i = '()*+-./'.includes(kind) ? Math.min(n, body + 1) : body;
        continue;
      }
      if (c === 0x0d) {
        if (i + 1 >= n) {
          this.pending = '\r';
          break;
        }
        if (s.charCodeAt(i + 1) !== 0x0a) run += '\n'; // a bare CR (progress bars) starts a new line
        i++;
        continue;
      }
      if ((c < 0x20 && c !== 0x0a && c !== 0x09) || c === 0x7f || (c >= 0x80 && c <= 0x9f)) {
        i++;
        continue;
      }
      // Plain text up to the next character that needs a look of its own, in one slice.
      let j = i + 1;
      while (j < n) {
        const d = s.charCodeAt(j);
        if (d < 0x20 || (d >= 0x7f && d <= 0x9f)) break;
        j++;
      }
      run += s.slice(i, j);
      i = j;
    }
    flush();
    return out;
  }
}

/** Renders a complete piece of output (no carried state). */
export function ansiToHtml(data: Uint8Array | string): string {
  const r = new AnsiHtml();
  return r.render(typeof data === 'string' ? Buffer.from(data) : data) + r.render(new Uint8Array(0));
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

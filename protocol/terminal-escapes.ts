/**
 * The one reader of terminal escape sequences. Every consumer of hostile text (the phone's raw
 * output renderer, the phone timeline, the diff view, the timeline text, the TUI) splits it with
 * this scanner, so a sequence means the same everywhere: what one shows as text, all show as text;
 * what one drops whole, all drop whole.
 *
 * The grammar is ECMA-48 as terminals actually parse it (the DEC/vt100.net state machine):
 * - CSI: `ESC [` or U+009B, parameter and intermediate bytes (0x20–0x3F), a final byte
 *   (0x40–0x7E). Any other character aborts it: the sequence so far is dropped and that
 *   character is read normally.
 * - Strings: OSC (`ESC ]`, U+009D), DCS (`ESC P`, U+0090), SOS (`ESC X`, U+0098), PM (`ESC ^`,
 *   U+009E), APC (`ESC _`, U+009F). They end at BEL, ST (`ESC \` or U+009C), and — as in a
 *   terminal — at any other ESC, CAN, SUB or C1 control, which then starts or is read on its own.
 *   So an open introducer can never swallow the sequences after it, and a flood of them costs
 *   one look per character.
 * - Other escapes: ESC, intermediates (0x20–0x2F), a final (0x30–0x7E). ESC followed by anything
 *   else is dropped alone.
 *
 * Linear, non-recursive, no regular expression: each character is looked at a bounded number of
 * times whatever the input. Hostile texts come from runners and from Claude.
 */

/** What a token is. `open` only when the input may continue (`final: false`): an unfinished sequence at its end. */
export type TokenKind = 'text' | 'csi' | 'string' | 'escape' | 'control' | 'invisible' | 'open';

/**
 * The "dangerous invisible" characters that are not controls, each shown as
 * INVISIBLE_REPLACEMENT by every consumer:
 * - bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F,
 *   U+202A–U+202E, U+2066–U+2069): they reorder what is shown around them ("Trojan Source");
 * - characters that show nothing, so text can hide behind them or in them: the zero-width space
 *   (U+200B), the soft hyphen (U+00AD), the word joiner and invisible operators (U+2060–U+2064),
 *   the deprecated format characters (U+206A–U+206F), the byte order mark (U+FEFF), the Mongolian
 *   vowel separator (U+180E), the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0), the
 *   interlinear annotation marks (U+FFF9–U+FFFB), and the tag characters (U+E0000–U+E007F, ASCII
 *   no one sees). A terminal UI laid a run of them out wider than it measured them and cut the
 *   rest of the line off: `ls -la` + 40 × U+200B + `; curl … | sh` showed as `ls -la`.
 * The zero-width joiner and non-joiner (U+200C, U+200D) stay: emoji sequences and several scripts
 * need them, and they join to the character before them.
 *
 * `c` is a UTF-16 code unit: a tag character is the pair U+DB40 U+DC00–U+DC7F (see `isTagPair`).
 */
export function isInvisible(c: number): boolean {
  if (c < 0x2000) return c === 0x00ad || c === 0x061c || c === 0x115f || c === 0x1160 || c === 0x180e;
  if (c <= 0x206f) return c === 0x200b || c === 0x200e || c === 0x200f || (c >= 0x202a && c <= 0x202e) || c >= 0x2060;
  return c === 0x3164 || c === 0xfeff || c === 0xffa0 || (c >= 0xfff9 && c <= 0xfffb);
}

/** The code units at `i` are a tag character (U+E0000–U+E007F). */
function isTagPair(s: string, i: number): boolean {
  const low = s.charCodeAt(i + 1);
  return s.charCodeAt(i) === 0xdb40 && low >= 0xdc00 && low <= 0xdc7f;
}

/** What a dangerous invisible character is shown as: visible, so the trick shows instead of working. */
export const INVISIBLE_REPLACEMENT = '\ufffd';

const INVISIBLE = /[\u00ad\u061c\u115f\u1160\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb]|\udb40[\udc00-\udc7f]/g;

/** Shows every dangerous invisible character as INVISIBLE_REPLACEMENT (for labels whose controls are handled apart). */
export function showInvisible(s: string): string {
  return s.replace(INVISIBLE, INVISIBLE_REPLACEMENT);
}

/** True for a C0 control, DEL or a C1 control: never shown as itself. */
export function isControl(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

const isStringIntroducer = (c: number) => c === 0x9d || c === 0x90 || c === 0x98 || c === 0x9e || c === 0x9f;
const isStringEscape = (c: number) => c === 0x5d /* ] */ || c === 0x50 /* P */ || c === 0x58 /* X */ || c === 0x5e /* ^ */ || c === 0x5f; /* _ */

/**
 * A cursor over one text, yielding tokens in order with `next()`. Allocation-free: the current
 * token is in the scanner's fields.
 *
 * @example
 * const sc = new EscapeScanner('a\x1b[31mred');
 * while (sc.next()) if (sc.kind === 'text') out += sc.text();
 */
export class EscapeScanner {
  /** The current token's kind. */
  kind: TokenKind = 'text';
  /** The current token: `[start, end)` of the text. */
  start = 0;
  end = 0;
  /** After the introducer: a CSI's parameters, a string's body, an open sequence's rest. */
  bodyStart = 0;
  /** A CSI's final byte, or -1 when it was aborted or is unfinished. */
  final = -1;
  /** For an `open` token: how far it was scanned (pass it back as `resume` with more input). */
  scanned = 0;
  private s = '';
  private n = 0;
  private pos = 0;
  private more = false;
  private resume = 0;

  /**
   * @param s the text.
   * @param more true when the text may continue (a stream chunk): an unfinished sequence at the
   *   end is returned as `open` rather than as the sequence cut short.
   * @param resume with `more` input appended to an `open` token that starts `s`: its `scanned`,
   *   so the characters already looked at are not looked at again.
   */
  constructor(s = '', more = false, resume = 0) {
    this.reset(s, more, resume);
  }

  /** Starts over on another text (see the constructor). */
  reset(s: string, more = false, resume = 0): this {
    this.s = s;
    this.n = s.length;
    this.pos = 0;
    this.more = more;
    this.resume = resume;
    return this;
  }

  /** Continues from index `i` (e.g. the `bodyStart` of an introducer given up on). */
  seek(i: number): void {
    this.pos = i;
  }

  /** The current token's characters. */
  text(): string {
    return this.s.slice(this.start, this.end);
  }

  /** The parameters of a plain SGR (`CSI params m`, parameters only digits, `;` and `:`), else null. */
  sgrParams(): string | null {
    if (this.kind !== 'csi' || this.final !== 0x6d) return null;
    const s = this.s;
    for (let i = this.bodyStart; i < this.end - 1; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x3b) return null; // a private marker or an intermediate: not a colour
    }
    return s.slice(this.bodyStart, this.end - 1);
  }

  /** Reads the next token; false at the end of the text. */
  next(): boolean {
    const s = this.s;
    const i = this.pos;
    if (i >= this.n) return false;
    this.start = i;
    this.final = -1;
    const c = s.charCodeAt(i);
    if (c === 0x1b) this.escape(i);
    else if (c === 0x9b) this.csi(i + 1);
    else if (isStringIntroducer(c)) this.string(i + 1);
    else if (isControl(c)) this.one('control');
    else if (isInvisible(c)) this.one('invisible');
    else if (c === 0xdb40 && isTagPair(s, i)) this.done('invisible', i + 2);
    else {
      let j = i + 1;
      for (const n = this.n; j < n; j++) {
        const d = s.charCodeAt(j);
        if (d < 0x7f ? d < 0x20 : d <= 0x9f || isInvisible(d) || (d === 0xdb40 && isTagPair(s, j))) break;
      }
      this.done('text', j);
    }
    this.resume = 0;
    return true;
  }

  private one(kind: TokenKind): void {
    this.done(kind, this.start + 1);
  }

  private done(kind: TokenKind, end: number): void {
    this.kind = kind;
    this.end = end;
    this.pos = end;
  }

  /** The input ends inside a sequence: `open` for a stream, else the sequence runs to the end. */
  private unfinished(kind: TokenKind, scanned: number): void {
    this.scanned = scanned;
    this.done(this.more ? 'open' : kind, this.n);
  }

  /** Where scanning a body may start: past what an earlier call already scanned of the same sequence. */
  private from(body: number): number {
    return this.start === 0 && this.resume > body ? this.resume : body;
  }

  private escape(i: number): void {
    const s = this.s;
    this.bodyStart = i + 1;
    if (i + 1 >= this.n) return this.unfinished('escape', i + 1);
    const d = s.charCodeAt(i + 1);
    if (d === 0x5b /* [ */) return this.csi(i + 2);
    if (isStringEscape(d)) return this.string(i + 2);
    let j = this.from(i + 1);
    while (j < this.n && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) <= 0x2f) j++;
    if (j >= this.n) return this.unfinished('escape', j);
    const f = s.charCodeAt(j);
    this.done('escape', f >= 0x30 && f <= 0x7e ? j + 1 : j);
  }

  private csi(body: number): void {
    const s = this.s;
    this.bodyStart = body;
    let j = this.from(body);
    while (j < this.n && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) <= 0x3f) j++;
    if (j >= this.n) return this.unfinished('csi', j);
    const f = s.charCodeAt(j);
    if (f >= 0x40 && f <= 0x7e) {
      this.final = f;
      return this.done('csi', j + 1);
    }
    this.done('csi', j); // aborted: the character that broke it is read on its own
  }

  private string(body: number): void {
    const s = this.s;
    this.bodyStart = body;
    for (let j = this.from(body); j < this.n; j++) {
      const c = s.charCodeAt(j);
      if (c === 0x07 || c === 0x9c) return this.done('string', j + 1);
      if (c === 0x1b) {
        if (j + 1 >= this.n) return this.unfinished('string', j); // maybe `ESC \` split across chunks
        return this.done('string', s.charCodeAt(j + 1) === 0x5c ? j + 2 : j);
      }
      if (c === 0x18 || c === 0x1a || (c >= 0x80 && c <= 0x9f)) return this.done('string', j);
    }
    this.unfinished('string', this.n);
  }
}

/**
 * The SGR parameters of a run's colours that may reach a person's terminal (the TUI and
 * `ccg runs logs` alike): reset, bold, dim, italic, underline, their resets, and the 16
 * foreground colours, black and white as bright black, gray (black text vanishes on a dark
 * terminal, white on a light one). Dropped:
 * backgrounds (text the colour of its background is hidden), inverse, conceal, blink, and
 * extended colours, whose numbers are consumed so they are never misread as others, and any
 * parameter with sub-parameters. An empty list: nothing to apply.
 *
 * @example
 * safeSgrParams('1;30;47;8') // [1, 90]
 * safeSgrParams('97') // [90]
 * safeSgrParams('') // [0]
 */
export function safeSgrParams(params: string): number[] {
  const parts = params === '' ? ['0'] : params.split(';');
  const kept: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.includes(':')) continue;
    const n = p === '' ? 0 : Number(p);
    if (!Number.isInteger(n)) continue;
    if (n === 38 || n === 48 || n === 58) {
      if (parts[i + 1] === '5') i += 2;
      else if (parts[i + 1] === '2') i += 4;
      continue;
    }
    if (n === 30 || n === 37 || n === 97) kept.push(90);
    else if (n === 0 || (n >= 1 && n <= 4) || (n >= 22 && n <= 24) || (n >= 31 && n <= 37) || n === 39 || (n >= 90 && n <= 97)) kept.push(n);
  }
  return kept;
}

/** How a consumer that keeps no styles shows the layout controls. Newlines always stay. */
export interface VisibleOptions {
  /** What a tab becomes (default: a tab). */
  tab?: string;
  /** A carriage return: `newline` (CRLF and a bare CR become one newline, as progress bars redraw) or `drop` (default). */
  cr?: 'newline' | 'drop';
}

/**
 * The visible text of hostile terminal text: every escape sequence dropped whole, every control
 * but newline (and tab, as `opts.tab` says) dropped, every dangerous invisible character shown as
 * INVISIBLE_REPLACEMENT. An unfinished sequence at the end is dropped.
 *
 * @example
 * visibleText('a\u009b31mred\u200e \x1b]8;;https://x\x07link\x1b]8;;\x07') // 'ared\ufffd link'
 */
export function visibleText(s: string, opts: VisibleOptions = {}): string {
  const tab = opts.tab ?? '\t';
  const crNewline = opts.cr === 'newline';
  const sc = new EscapeScanner(s);
  let out = '';
  while (sc.next()) {
    if (sc.kind === 'text') out += s.slice(sc.start, sc.end);
    else if (sc.kind === 'invisible') out += INVISIBLE_REPLACEMENT;
    else if (sc.kind === 'control') {
      const c = s.charCodeAt(sc.start);
      if (c === 0x0a) out += '\n';
      else if (c === 0x09) out += tab;
      else if (c === 0x0d && crNewline && s.charCodeAt(sc.end) !== 0x0a) out += '\n';
    }
  }
  return out;
}

import { EscapeScanner, INVISIBLE_REPLACEMENT, safeSgrParams } from '../../protocol/terminal-escapes.js';
import { displayWidth } from '../render/columns.js';

/**
 * Runner output is hostile: it may try to move the cursor, clear the screen, retitle the
 * terminal, write to the clipboard (OSC 52), smuggle hyperlinks or reorder text with bidi
 * controls. Before any of it reaches the operator's terminal it is parsed here into plain text
 * segments with a small, fixed set of styles. Colour and bold survive as *data* (Ink renders
 * them with its own escape codes); every byte of the runner's own escape sequences is dropped.
 * The sequences are read by protocol/terminal-escapes.ts, as every other consumer reads them;
 * bidi controls are shown as U+FFFD there and here.
 */

export interface Style {
  color?: string | undefined;
  bold?: boolean | undefined;
  dim?: boolean | undefined;
  italic?: boolean | undefined;
  underline?: boolean | undefined;
  /** A background colour and inverse video: only the terminal pane of a pty run (term-rows.ts) sets them. */
  bg?: string | undefined;
  inverse?: boolean | undefined;
}

export interface Segment extends Style {
  text: string;
}

export interface SanitizedLine {
  segments: Segment[];
  /** Columns the line takes in a terminal. */
  width: number;
  /** The SGR state after the line: a colour left on carries over to the next line, as in a terminal. */
  end: Style;
}

// Black text is invisible on most dark terminals: shown as gray instead.
const BASIC = ['gray', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];
const BRIGHT = ['gray', 'redBright', 'greenBright', 'yellowBright', 'blueBright', 'magentaBright', 'cyanBright', 'whiteBright'];

/**
 * Applies the parameters of one SGR sequence (`ESC [ params m`) to a style: only those
 * `safeSgrParams` keeps (as `ccg runs logs` does), so nothing can hide text.
 */
export function applySgr(style: Style, params: string): Style {
  const next: Style = { ...style };
  for (const n of safeSgrParams(params)) {
    if (n === 0) {
      for (const k of Object.keys(next) as (keyof Style)[]) delete next[k];
    } else if (n === 1) next.bold = true;
    else if (n === 2) next.dim = true;
    else if (n === 3) next.italic = true;
    else if (n === 4) next.underline = true;
    else if (n === 22) {
      delete next.bold;
      delete next.dim;
    } else if (n === 23) delete next.italic;
    else if (n === 24) delete next.underline;
    else if (n >= 30 && n <= 37) next.color = BASIC[n - 30];
    else if (n >= 90 && n <= 97) next.color = BRIGHT[n - 90];
    else if (n === 39) delete next.color;
  }
  return next;
}

/**
 * Turns one line of runner text (no `\n`) into safe segments, starting from the style the
 * previous line left on.
 *
 * @example
 * sanitizeLine('\x1b[31mred\x1b[0m \x1b]0;pwned\x07ok\x1b[2J', {}).segments
 * // [{ text: 'red', color: 'red' }, { text: ' ok' }]
 */
export function sanitizeLine(raw: string, start: Style = {}): SanitizedLine {
  let style: Style = start;
  let segments: Segment[] = [];
  let current: Segment | null = null;
  let column = 0;
  const push = (text: string) => {
    if (!current) {
      current = { ...style, text: '' };
      segments.push(current);
    }
    current.text += text;
    column += text.length;
  };
  const restyle = (next: Style) => {
    style = next;
    current = null;
  };
  const sc = new EscapeScanner(raw);
  while (sc.next()) {
    switch (sc.kind) {
      case 'text':
        push(sc.text());
        break;
      case 'invisible':
        push(INVISIBLE_REPLACEMENT);
        break;
      case 'csi': {
        const params = sc.sgrParams();
        if (params !== null) restyle(applySgr(style, params));
        break;
      }
      case 'control': {
        const c = raw.charCodeAt(sc.start);
        if (c === 0x09) push(' '.repeat(8 - (column % 8)));
        else if (c === 0x0d && sc.end < raw.length) {
          // A carriage return redraws the line (progress bars): keep what comes after the last one.
          segments = [];
          current = null;
          column = 0;
        } else if (c === 0x08) {
          const cur = current as Segment | null;
          if (cur && cur.text.length > 0) {
            cur.text = cur.text.slice(0, -1);
            column--;
          }
        }
        break;
      }
      default: // escape sequences and strings: every byte dropped
    }
  }
  segments = segments.filter((s) => s.text.length > 0);
  return { segments, width: segments.reduce((w, s) => w + displayWidth(s.text), 0), end: style };
}

/** Terminal columns of a text (in cli/render/columns.ts, shared with the terminal's approval lines). */
export { displayWidth };

/** Plain text of a line of runner output with every control sequence removed (titles, headers). */
export function plainText(raw: string): string {
  return sanitizeLine(raw.replace(/\n/g, ' ')).segments.map((s) => s.text).join('');
}

import type { Terminal as HeadlessTerminal, IBufferCell } from '@xterm/headless';
import { INVISIBLE_REPLACEMENT, showInvisible } from '../../protocol/terminal-escapes.js';
import type { Segment } from './sanitize.js';
import type { ViewRow } from './viewport.js';

// The 16 palette colours by the names Ink takes; black is shown as gray (invisible on dark terminals, as in sanitize.ts).
const NAMES = ['gray', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white', 'gray', 'redBright', 'greenBright', 'yellowBright', 'blueBright', 'magentaBright', 'cyanBright', 'whiteBright'];
const BG_NAMES = ['black', ...NAMES.slice(1, 8), 'gray', ...NAMES.slice(9)];

function colour(mode: 'fg' | 'bg', cell: IBufferCell): string | undefined {
  const rgb = mode === 'fg' ? cell.isFgRGB() : cell.isBgRGB();
  const palette = mode === 'fg' ? cell.isFgPalette() : cell.isBgPalette();
  const c = mode === 'fg' ? cell.getFgColor() : cell.getBgColor();
  if (rgb) return `#${c.toString(16).padStart(6, '0')}`;
  if (palette) return c < 16 ? (mode === 'fg' ? NAMES : BG_NAMES)[c] : `ansi256(${c})`;
  return undefined;
}

const same = (a: Segment, b: Segment) =>
  a.color === b.color && a.bg === b.bg && a.bold === b.bold && a.dim === b.dim && a.italic === b.italic && a.underline === b.underline && a.inverse === b.inverse;

/**
 * The screen of a headless terminal as rows of styled segments for Ink (at most `height`: a taller
 * screen shows the part with the cursor) (colours, bold, dim,
 * italic, underline, inverse; the cursor as an inverse cell). Only the characters the emulator
 * put in cells are shown, dangerous invisible ones (bidi controls) as U+FFFD: no byte of the
 * runner's reaches the operator's terminal.
 */
export function screenRows(term: HeadlessTerminal, width: number, height: number, showCursor = true): ViewRow[] {
  const buf = term.buffer.active;
  const rows: ViewRow[] = [];
  const cell = buf.getNullCell();
  // A screen taller than the pane: the rows from the top, or down to the cursor's row when it is lower.
  const first = buf.baseY + (buf.cursorY < height ? 0 : Math.min(term.rows - height, buf.cursorY - height + 1));
  for (let y = first; y < Math.min(first + height, buf.baseY + term.rows); y++) {
    const line = buf.getLine(y);
    const segments: Segment[] = [];
    if (line) {
      for (let x = 0; x < Math.min(term.cols, width); x++) {
        line.getCell(x, cell);
        if (cell.getWidth() === 0) continue; // the right half of a wide character
        const cursor = showCursor && y === buf.baseY + buf.cursorY && x === buf.cursorX;
        const seg: Segment = {
          text: cellText(cell.getChars()),
          color: colour('fg', cell),
          bg: colour('bg', cell),
          bold: cell.isBold() !== 0 || undefined,
          dim: cell.isDim() !== 0 || undefined,
          italic: cell.isItalic() !== 0 || undefined,
          underline: cell.isUnderline() !== 0 || undefined,
          inverse: (cell.isInverse() !== 0) !== cursor || undefined,
        };
        const last = segments.at(-1);
        if (last && same(last, seg)) last.text += seg.text;
        else segments.push(seg);
      }
      const last = segments.at(-1);
      // Trailing blanks without a background are not drawn (the pane is cleared anyway).
      if (last && !last.bg && !last.inverse) last.text = last.text.replace(/ +$/, '');
      if (last && !last.text) segments.pop();
    }
    rows.push({ key: `t${y}`, segments });
  }
  return rows;
}

/**
 * A cell's characters as one column (two for a wide one). The emulator keeps zero-width
 * characters in the cell before them; each shown as U+FFFD made one cell many columns wide (a
 * runner's `x` + 40 × U+200B pushed the rest of the row off the pane). They are dropped instead,
 * as a terminal shows them (as nothing), and never reach the console's own terminal, where a bidi
 * control would reorder the row; a cell of nothing else shows U+FFFD.
 */
function cellText(chars: string): string {
  if (!chars) return ' ';
  const shown = showInvisible(chars);
  if (shown === chars) return chars;
  const visible = shown.replaceAll(INVISIBLE_REPLACEMENT, '');
  return visible || INVISIBLE_REPLACEMENT;
}

import stringWidth from 'string-width';

const MARK = /\p{M}/u;

/**
 * Terminal columns of `text`, in one linear pass. string-width itself is super-linear on long
 * runs of combining marks (a hostile line of 'a\u0301' × 80k took 15 s), so it only ever sees
 * one code point at a time here; marks are zero-width, ASCII and Latin are one column.
 */
export function displayWidth(text: string): number {
  let w = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x300) w += c >= 0x20 && c !== 0x7f ? 1 : 0;
    else if (MARK.test(ch)) continue;
    else w += stringWidth(ch);
  }
  return w;
}

/**
 * `line` in pieces of at most `width` terminal columns (a wide character is never split, and
 * one wider than `width` is a piece of its own): a long line wraps, so no part of it goes unseen
 * and no piece is wider than the screen that would cut it.
 *
 * @example
 * wrapColumns('日本語', 4) // ['日本', '語']
 */
export function wrapColumns(line: string, width: number): string[] {
  const out: string[] = [];
  let piece = '';
  let cols = 0;
  for (const ch of line) {
    const w = displayWidth(ch);
    if (cols + w > width && piece) {
      out.push(piece);
      piece = '';
      cols = 0;
    }
    piece += ch;
    cols += w;
  }
  out.push(piece);
  return out;
}

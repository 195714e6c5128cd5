import { visibleText } from '../../protocol/terminal-escapes.js';
import { displayWidth } from './sanitize.js';
import type { ViewRow } from './viewport.js';

/**
 * Live text as the last rows of the output view: "◆ Claude (writing…): " and the end of the
 * reply, wrapped to `width`, at most `maxRows` rows (the newest). Control sequences are gone
 * before anything is measured (visibleText, the one escape reader).
 */
export function liveRows(text: string, width: number, maxRows: number): ViewRow[] {
  if (maxRows <= 0 || width < 8) return [];
  const lines = visibleText(`◆ Claude (writing…): ${text}`, { tab: '    ', cr: 'newline' }).split('\n');
  const rows: string[] = [];
  for (const line of lines) {
    // Wrap by display columns; a wide character never splits.
    let cur = '';
    let w = 0;
    for (const ch of line) {
      const cw = displayWidth(ch);
      if (w + cw > width - 1) {
        rows.push(cur);
        cur = '';
        w = 0;
      }
      cur += ch;
      w += cw;
    }
    rows.push(cur);
  }
  return rows.slice(-maxRows).map((r, i) => ({ key: `live-${i}`, segments: [{ text: r || ' ', italic: true }] }));
}

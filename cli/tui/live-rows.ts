import { visibleText } from '../../protocol/terminal-escapes.js';
import { wrapColumns } from '../render/columns.js';
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
  // Wrapped by display columns; a wide character never splits.
  for (const line of lines) rows.push(...wrapColumns(line, width - 1));
  return rows.slice(-maxRows).map((r, i) => ({ key: `live-${i}`, segments: [{ text: r || ' ', italic: true }] }));
}

import { displayWidth, type Segment } from './sanitize.js';
import { wrapLine, type OutputLine, type OutputModel } from './output-model.js';

/**
 * Where a scrolled-back output view is: the line at its bottom edge, counted from the newest
 * line, and how many of that line's wrapped rows are hidden below the edge. `null` = following.
 * Counting from the end keeps the view still when older pages are prepended or the front is
 * trimmed; new lines below are added to `fromEnd` by the app.
 */
export interface Anchor {
  fromEnd: number;
  row: number;
}

export interface ViewRow {
  key: string;
  segments: Segment[];
}

export interface Viewport {
  rows: ViewRow[];
  /** The oldest loaded line is on screen (time to page in older output). */
  atTop: boolean;
}

const cache = new WeakMap<OutputLine, { width: number; rows: Segment[][] }>();

/** The wrapped rows of a line at a width (cached per line object). */
export function rowsOf(line: OutputLine, width: number): Segment[][] {
  const hit = cache.get(line);
  if (hit && hit.width === width) return hit.rows;
  const rows = wrapLine(line, Math.max(1, width), displayWidth);
  if (rows.length === 0) rows.push([]);
  cache.set(line, { width, rows });
  return rows;
}

/** The rows to show, bottom-aligned at `anchor` (or the newest line). */
export function viewport(model: OutputModel, anchor: Anchor | null, width: number, height: number): Viewport {
  const out: ViewRow[] = [];
  let fromEnd = anchor?.fromEnd ?? 0;
  let skip = anchor?.row ?? 0;
  let atTop = false;
  for (;;) {
    const line = model.fromEnd(fromEnd);
    if (!line) {
      atTop = true;
      break;
    }
    if (out.length >= height) break;
    const rows = rowsOf(line, width);
    let r = rows.length - 1 - skip;
    for (; r >= 0 && out.length < height; r--) out.push({ key: `${line.id}:${r}`, segments: rows[r]! });
    if (r >= 0) break; // rows of this line remain above the view
    skip = 0;
    fromEnd++;
  }
  return { rows: out.reverse(), atTop };
}

/**
 * Moves an anchor by `delta` rows (positive: back in time). Returns null when it reaches the
 * newest row again (follow), and stops where the oldest loaded row is at the top of a full view.
 */
export function moveAnchor(model: OutputModel, anchor: Anchor | null, delta: number, width: number, height: number): Anchor | null {
  let a: Anchor = anchor ? { ...anchor } : { fromEnd: 0, row: 0 };
  for (let budget = Math.abs(delta); budget > 0; budget--) {
    if (delta > 0) {
      const line = model.fromEnd(a.fromEnd);
      if (!line) break;
      let next: Anchor;
      if (a.row + 1 < rowsOf(line, width).length) next = { fromEnd: a.fromEnd, row: a.row + 1 };
      else if (model.fromEnd(a.fromEnd + 1)) next = { fromEnd: a.fromEnd + 1, row: 0 };
      else break;
      if (rowsAbove(model, next, width, height) < height) break;
      a = next;
    } else if (a.row > 0) {
      a.row--;
    } else if (a.fromEnd > 0) {
      const newer = model.fromEnd(a.fromEnd - 1)!;
      a = { fromEnd: a.fromEnd - 1, row: rowsOf(newer, width).length - 1 };
    } else {
      return null;
    }
  }
  return a.fromEnd === 0 && a.row === 0 ? null : a;
}

/** Rows visible at and above the anchor's edge, up to `limit`. */
function rowsAbove(model: OutputModel, a: Anchor, width: number, limit: number): number {
  let n = 0;
  let fromEnd = a.fromEnd;
  let skip = a.row;
  while (n < limit) {
    const line = model.fromEnd(fromEnd);
    if (!line) break;
    n += Math.max(0, rowsOf(line, width).length - skip);
    skip = 0;
    fromEnd++;
  }
  return n;
}

/** The anchor that shows the oldest loaded row at the top of a full view (null when all fits). */
export function topAnchor(model: OutputModel, width: number, height: number): Anchor | null {
  let above = 0;
  for (let fromEnd = model.lineCount - 1; fromEnd >= 0; fromEnd--) {
    const rows = rowsOf(model.fromEnd(fromEnd)!, width).length;
    if (above + rows >= height) {
      const a = { fromEnd, row: above + rows - height };
      return a.fromEnd === 0 && a.row === 0 ? null : a;
    }
    above += rows;
  }
  return null;
}

import { Box, Text } from 'ink';
import stringWidth from 'string-width';
import { wrapLine, type OutputLine } from '../output-model.js';
import { sanitizeLine, type Segment, type Style } from '../sanitize.js';
import type { Theme } from '../theme.js';
import { DiffReader, type DiffRowKind } from '../../../protocol/unified-diff.js';

/** A document for the pager: its lines as sanitized segments, wrapped to a width on demand. */
export interface PagerDoc {
  title: string;
  lines: OutputLine[];
  /** Shown under the last line ("only the first 2 MiB are shown"). */
  note: string | null;
}

/** How each kind of diff line looks: coloured, and bold for file headers (`DiffReader` says which is which). */
const DIFF_STYLE: Record<DiffRowKind, Style | null> = {
  file: { bold: true }, header: { bold: true }, hunk: { color: 'cyan' }, add: { color: 'green' }, del: { color: 'red' }, context: null, 'no-newline': null, meta: null,
};

/**
 * Turns artifact text into pager lines. Every control sequence is removed (an artifact is what
 * the workspace held, which Claude wrote); colours in a log survive as data. A diff is coloured
 * by line: + green, - red, @@ cyan, file headers bold (the + and - stay, so it reads without
 * colour too).
 */
export function pagerDoc(title: string, text: string, opts: { diff: boolean; note: string | null }): PagerDoc {
  // A log's lone CR (a progress bar's redraw) starts a line; a diff's lines end at LF only (a
  // CRLF's CR goes with it, a lone CR stays in its line for sanitizeLine to drop), so they are
  // read as the diff has them.
  const raw = opts.diff ? text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)) : text.replace(/\r\n?/g, '\n').split('\n');
  if (raw.length > 1 && raw.at(-1) === '') raw.pop();
  let style: Style = {};
  const reader = opts.diff ? new DiffReader() : null;
  const lines = raw.map((l, i): OutputLine => {
    const diff = reader ? DIFF_STYLE[reader.next(l)] : null;
    const s = sanitizeLine(l.replace(/\t/g, '    '), diff ? {} : style);
    if (!diff) style = s.end;
    const segments: Segment[] = diff ? s.segments.map((seg) => ({ text: seg.text, ...diff })) : s.segments;
    return { id: i + 1, stream: 0, seq: i + 1, segments, width: s.width };
  });
  return { title, lines, note: opts.note };
}

const measure = (ch: string) => (ch.charCodeAt(0) < 0x300 ? 1 : stringWidth(ch));

/** The rows of a document at a width: every line wrapped. */
export function pagerRows(doc: PagerDoc, width: number): Segment[][] {
  const rows: Segment[][] = [];
  for (const line of doc.lines) {
    const r = wrapLine(line, Math.max(1, width), measure);
    rows.push(...(r.length ? r : [[]]));
  }
  if (doc.note) rows.push([{ text: doc.note, dim: true }]);
  return rows;
}

export interface PagerProps {
  rows: readonly Segment[][];
  top: number;
  height: number;
  theme: Theme;
}

/** A window of pager rows, from `top`. */
export function Pager({ rows, top, height, theme }: PagerProps) {
  const shown = rows.slice(top, top + height);
  return (
    <Box height={height} flexDirection="column" overflow="hidden">
      {shown.map((row, i) => (
        <Text key={top + i} wrap="truncate-end">
          {row.length === 0
            ? ' '
            : row.map((s, j) => (
                <Text key={j} color={theme.color ? s.color : undefined} bold={s.bold} dimColor={s.dim} italic={s.italic} underline={s.underline}>
                  {s.text}
                </Text>
              ))}
        </Text>
      ))}
    </Box>
  );
}

import type { ApprovalInfo } from '../../protocol/claude-events.js';
import { approvalKind, modeLabel } from '../../protocol/claude-steer.js';
import { visibleText } from '../../protocol/terminal-escapes.js';
import { wrapColumns as wrap } from './columns.js';
import { DiffReader, type DiffRowKind } from '../../protocol/unified-diff.js';

/**
 * What a special approval holds, as terminal lines: an edit's diff (kinds for colour), Claude's
 * questions with numbered options, its plan. For `ccg runs approvals`, the TUI's approval screen
 * and the timeline. Everything came from Claude or the workspace: every escape sequence and
 * control character is removed (the one escape scanner), lines are cut at `width` characters
 * and the whole at `maxLines`, so a 1 MB line or a huge plan prints bounded.
 */

export type SteerKind = 'diff-add' | 'diff-del' | 'diff-hunk' | 'diff-meta' | 'question' | 'option' | 'plan' | 'input' | 'note';

export interface SteerLine {
  kind: SteerKind;
  text: string;
}

export interface SteerOptions {
  /** Characters per line at most (default 200). */
  width?: number;
  /** Lines of a diff or plan at most (default 60). */
  maxLines?: number;
}

function cleanLines(s: string): string[] {
  return visibleText(s, { tab: '    ', cr: 'newline' }).replace(/\n+$/, '').split('\n');
}

function cut(s: string, width: number): string {
  return s.length > width ? `${s.slice(0, width - 1)}…` : s;
}

const STEER_KIND: Record<DiffRowKind, SteerKind | null> = { file: null, header: null, hunk: 'diff-hunk', add: 'diff-add', del: 'diff-del', context: 'note', 'no-newline': 'diff-meta', meta: 'diff-meta' };

/**
 * A unified diff (git form) as coloured-by-kind lines: file headers dropped, hunks kept. Lines
 * are classified as they came (`DiffReader`: a "+++ " inside a hunk is an added line, shown),
 * then cleaned one by one.
 */
export function diffLines(text: string, opts: SteerOptions = {}): SteerLine[] {
  const width = opts.width ?? 200;
  const max = opts.maxLines ?? 60;
  const out: SteerLine[] = [];
  const reader = new DiffReader();
  const rows: SteerLine[] = [];
  for (const l of text.replace(/\n+$/, '').split('\n')) {
    const kind = STEER_KIND[reader.next(l.replace(/\r$/, ''))];
    if (kind) rows.push({ kind, text: visibleText(l, { tab: '    ' }) });
  }
  // Wrapped, never cut: the end of a long added line is part of what is approved.
  const shown = rows.flatMap((r) => wrap(r.text, width).map((text) => ({ kind: r.kind, text })));
  out.push(...shown.slice(0, max));
  if (shown.length > max) out.push({ kind: 'note', text: `… ${shown.length - max} more diff lines` });
  return out;
}


/**
 * A tool call's input as lines for the person approving it: pretty JSON, cleaned like every
 * Claude-supplied text, and wrapped at `width`, never cut: an approval shows all of
 * `npm test && curl … | sh`, not its harmless start. At most `maxLines`, then a line saying how
 * many more there are.
 */
export function inputLines(input: unknown, inputTruncated: boolean, opts: SteerOptions = {}): SteerLine[] {
  const width = opts.width ?? 200;
  const max = opts.maxLines ?? 60;
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = JSON.stringify(input, null, 2) ?? '';
    } catch {
      text = String(input);
    }
  }
  const rows = visibleText(text, { tab: '    ' }).replace(/\n+$/, '').split('\n').flatMap((l) => wrap(l, Math.max(1, width)));
  const out: SteerLine[] = rows.slice(0, max).map((t) => ({ kind: 'input' as const, text: t }));
  if (rows.length > max) out.push({ kind: 'note', text: `… ${rows.length - max} more lines of input (--json has it all)` });
  if (inputTruncated) out.push({ kind: 'note', text: '… the input was cut by the runner (the raw stream has it all)' });
  return out;
}

/** The lines for an approval's diff, questions or plan (none for a plain tool). */
export function approvalDetail(info: ApprovalInfo, opts: SteerOptions = {}): SteerLine[] {
  const width = opts.width ?? 200;
  const max = opts.maxLines ?? 60;
  const out: SteerLine[] = [];
  const one = (s: string) => cut(visibleText(s).replace(/\s*[\r\n]+\s*/g, ' '), width);
  if (info.diff) {
    out.push({ kind: 'note', text: one(`diff of ${info.diff.path}${info.diff.note ? ` (${info.diff.note})` : ''}:`) });
    if (info.diff.text) out.push(...diffLines(info.diff.text, { width, maxLines: max }));
    if (info.diff.truncated) out.push({ kind: 'note', text: '… diff truncated (too large to show whole)' });
  }
  const kind = approvalKind(info.toolName);
  if (kind === 'questions') {
    (info.questions ?? []).forEach((q, i) => {
      out.push({ kind: 'question', text: one(`${i + 1}. ${q.header ? `[${q.header}] ` : ''}${q.question}${q.multiSelect ? ' (choose one or more)' : ''}`) });
      q.options.forEach((o, j) => out.push({ kind: 'option', text: one(`   ${j + 1}) ${o.label}${o.description ? ` — ${o.description}` : ''}`) }));
    });
    if (!info.questions?.length) out.push({ kind: 'note', text: 'Claude asked questions ccg could not read; deny, or see the raw input' });
  }
  if (kind === 'plan') {
    if (info.plan) {
      const ls = cleanLines(info.plan).flatMap((l) => wrap(l, width));
      for (const l of ls.slice(0, max)) out.push({ kind: 'plan', text: l });
      if (ls.length > max || info.planTruncated) out.push({ kind: 'note', text: `… ${ls.length > max ? `${ls.length - max} more lines` : 'plan truncated'}` });
    } else out.push({ kind: 'note', text: 'Claude wants to leave plan mode (no plan text was found)' });
  }
  if (info.modeSuggestion && !info.rule && kind === 'tool') out.push({ kind: 'note', text: one(`"always" switches the session to ${modeLabel(info.modeSuggestion)} (${info.modeSuggestion})`) });
  return out;
}

const SGR: Record<SteerKind, string> = {
  'diff-add': '\u001b[32m',
  'diff-del': '\u001b[31m',
  'diff-hunk': '\u001b[36m',
  'diff-meta': '\u001b[2m',
  question: '\u001b[1m',
  option: '',
  plan: '',
  input: '',
  note: '\u001b[2m',
};

/** A line for a terminal, coloured by its kind when `colour` (the text is already clean). */
export function paint(l: SteerLine, colour: boolean): string {
  const sgr = SGR[l.kind];
  return colour && sgr ? `${sgr}${l.text}\u001b[0m` : l.text;
}

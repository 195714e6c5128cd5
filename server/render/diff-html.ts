import { visibleText } from '../../protocol/terminal-escapes.js';
import { DiffReader } from '../../protocol/unified-diff.js';
import { escapeHtml, raw, type SafeHtml } from './html.js';

/**
 * `git diff` output as HTML for a phone: one section per file with its name and +/- counts, hunk
 * headers, added and removed lines coloured (the sign stays, so colour is never the only cue),
 * long lines wrapping. Pure: text in, HTML out.
 *
 * The diff comes from the workspace, which Claude writes: it is hostile. Every character is
 * escaped; terminal escape sequences and control characters are dropped; bidirectional overrides
 * are shown as U+FFFD so a line cannot reorder what is around it (a "Trojan Source" diff shows
 * its trick instead of hiding it). The markup has no inline style or script.
 */

export interface DiffFile {
  /** The file's path as the diff names it (b/ side, or a/ for a deletion), cleaned for display. */
  name: string;
  /** `f-1`, `f-2`…: the section's id, for the file list's links. */
  anchor: string;
  adds: number;
  dels: number;
  /** new, deleted, renamed, binary, or null for a plain change. */
  note: string | null;
}

export interface DiffHtml {
  html: SafeHtml;
  files: DiffFile[];
  /** Lines rendered. */
  lines: number;
  /** The diff had more than `maxLines` lines (or `maxChars` characters); the rest is not shown. */
  truncated: boolean;
}

export interface DiffOptions {
  /** Lines rendered at most (default 6000). */
  maxLines?: number;
  /** Characters of one line shown at most; longer lines end in "…" (default 2000). */
  maxLineChars?: number;
}

function clean(s: string): string {
  return visibleText(s);
}

/** The path of `diff --git a/X b/Y` (b side); quoted paths (git's C-style) are shown as git wrote them. */
function pathOf(header: string): string {
  const m = /^diff --git (?:"?a\/(.*?)"? )"?b\/(.*?)"?$/.exec(header);
  if (m) return m[2]!;
  return header.replace(/^diff --git /, '');
}

/**
 * Renders a unified diff (as `git diff` prints it).
 *
 * @example
 * const { html, files } = renderDiffHtml(readFileSync('diff.patch', 'utf8'));
 */
export function renderDiffHtml(text: string, opts: DiffOptions = {}): DiffHtml {
  const maxLines = opts.maxLines ?? 6000;
  const maxLineChars = opts.maxLineChars ?? 2000;
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines.at(-1) === '') lines.pop();
  const files: DiffFile[] = [];
  const out: string[] = [];
  let file: DiffFile | null = null;
  let open = false;
  let headAt = -1;
  let shown = 0;

  const line = (cls: string, body: string) => {
    const t = body.length > maxLineChars ? `${body.slice(0, maxLineChars)}…` : body;
    out.push(`<span class="dl ${cls}">${escapeHtml(clean(t)) || ' '}</span>`);
  };
  const heading = (f: DiffFile) =>
    `<section class="df-file" id="${f.anchor}" aria-label="${escapeHtml(f.name)}"><h3 class="df-name">${escapeHtml(f.name)} <span class="df-stat">${f.note ? `<span class="df-note">${f.note}</span> ` : ''}<span class="df-adds">+${f.adds}</span> <span class="df-dels">−${f.dels}</span></span></h3><div class="df-lines">`;
  const closeFile = () => {
    if (!open || !file) return;
    // The heading was written before its lines; now the counts are known.
    out[headAt] = heading(file);
    out.push('</div></section>');
    open = false;
  };
  const startFile = (name: string) => {
    closeFile();
    file = { name: clean(name), anchor: `f-${files.length + 1}`, adds: 0, dels: 0, note: null };
    files.push(file);
    headAt = out.push('') - 1;
    open = true;
  };

  // Each line's kind as it sits in the diff (a "+++ " inside a hunk is an added line, shown).
  const reader = new DiffReader();
  for (const row of lines) {
    if (shown >= maxLines) break;
    shown++;
    const kind = reader.next(row);
    if (kind === 'file') {
      startFile(pathOf(row));
      continue;
    }
    if (!file) startFile('(diff)');
    const f = file!;
    switch (kind) {
      case 'header':
        continue; // the heading names the file
      case 'meta':
        if (row.startsWith('new file')) f.note = 'new';
        else if (row.startsWith('deleted file')) f.note = 'deleted';
        else if (row.startsWith('rename ')) f.note = 'renamed';
        else if (row.startsWith('Binary files')) f.note = 'binary';
        line('dl-meta', row);
        continue;
      case 'hunk':
        line('dl-hunk', row);
        continue;
      case 'add':
        f.adds++;
        line('dl-add', row);
        continue;
      case 'del':
        f.dels++;
        line('dl-del', row);
        continue;
      case 'no-newline':
        line('dl-meta', row);
        continue;
      case 'context':
        line('dl-ctx', row);
        continue;
    }
  }
  closeFile();
  return { html: raw(out.join('\n')), files, lines: shown, truncated: shown < lines.length };
}

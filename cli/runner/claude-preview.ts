import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { capText } from '../../protocol/claude-events.js';
import { MAX_DIFF, MAX_OPTIONS, MAX_PLAN, MAX_QUESTIONS, type ClaudeQuestion, type ToolDiff } from '../../protocol/claude-steer.js';
import { isInside, readConfined } from './confined-read.js';

/**
 * What an operator needs to answer Claude's special permission requests, computed on the runner
 * (the only place that sees the workspace): the unified diff an edit tool would make against the
 * file on disk, AskUserQuestion's questions, ExitPlanMode's plan. Bounded everywhere: a huge
 * file or a 1 MB line gives a note or a truncated diff, never a huge event.
 */

/** Files larger than this are not read for a preview (the tool still runs if approved). */
const MAX_FILE = 2 * 1024 * 1024;
/** jsdiff gives up after this long (a pathological file), and the preview says so. */
const DIFF_TIMEOUT_MS = 1500;

/**
 * The file an edit would change, read for its preview only inside the workspace and the way
 * artifacts are (confined-read.ts: no symlink followed, a FIFO never blocks the runner): Claude
 * names the path, and the preview goes to the gateway before anyone answers, so reading outside
 * would hand out files Claude's own rules (`Read(~/.ssh/**)` denied) keep from it.
 */
function readBounded(path: string, cwd: string): { text: string | null; note: string | null } {
  let root: string;
  try {
    root = realpathSync(cwd);
  } catch {
    return { text: null, note: 'cannot read the workspace' };
  }
  // The file's directory resolved (it may not exist yet: a new file).
  let dir: string;
  try {
    dir = realpathSync(dirname(path));
  } catch {
    return { text: null, note: isInside(resolve(path), resolve(cwd)) ? 'new file' : 'outside the workspace: not previewed' };
  }
  const abs = join(dir, basename(path));
  if (!isInside(abs, root)) return { text: null, note: 'outside the workspace: not previewed' };
  const read = readConfined(root, relative(root, abs), MAX_FILE);
  if (!read.ok) {
    if (read.reason === 'cannot open: ENOENT') return { text: null, note: 'new file' };
    return { text: null, note: /over the .*cap/.test(read.reason) ? `the file is too large to preview (over ${MAX_FILE / 1024 / 1024} MiB)` : read.reason };
  }
  if (read.data.subarray(0, 8000).includes(0)) return { text: null, note: 'binary file' };
  return { text: read.data.toString('utf8'), note: null };
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Applies an Edit (old_string → new_string, once or all) as Claude would; null with a reason when it would fail. */
function applyEdit(text: string, e: Record<string, unknown>): { text: string } | { problem: string } {
  const oldS = str(e['old_string']);
  const newS = str(e['new_string']);
  if (oldS === null || newS === null) return { problem: 'the edit has no old_string/new_string' };
  if (oldS === '') return { text: newS + text };
  const at = text.indexOf(oldS);
  if (at === -1) return { problem: 'old_string is not in the file: the edit will fail' };
  if (e['replace_all'] === true) return { text: text.split(oldS).join(newS) };
  return { text: text.slice(0, at) + newS + text.slice(at + oldS.length) };
}

function notebookSource(cell: unknown): string {
  const src = (cell as { source?: unknown } | null)?.source;
  return Array.isArray(src) ? src.filter((s) => typeof s === 'string').join('') : typeof src === 'string' ? src : '';
}

/** The old and new text a tool would leave, or why there is no preview. */
function beforeAfter(tool: string, input: Record<string, unknown>, path: string, cwd: string): { before: string; after: string; note: string | null } | { note: string } {
  if (tool === 'NotebookEdit') {
    const file = readBounded(path, cwd);
    if (file.text === null) return { note: file.note ?? 'cannot read the notebook' };
    let nb: { cells?: unknown[] };
    try {
      nb = JSON.parse(file.text) as { cells?: unknown[] };
    } catch {
      return { note: 'the notebook is not JSON' };
    }
    const cells = Array.isArray(nb.cells) ? nb.cells : [];
    const id = str(input['cell_id']);
    const idx = id === null ? -1 : cells.findIndex((c) => (c as { id?: unknown } | null)?.id === id);
    const mode = str(input['edit_mode']) ?? 'replace';
    const src = str(input['new_source']) ?? '';
    if (mode === 'insert') return { before: '', after: src, note: `new ${str(input['cell_type']) ?? 'code'} cell${id ? ` after ${id}` : ' at the top'}` };
    if (idx === -1) return { note: `no cell ${id ?? '(none named)'} in the notebook` };
    const old = notebookSource(cells[idx]);
    return mode === 'delete' ? { before: old, after: '', note: `cell ${id} deleted` } : { before: old, after: src, note: `cell ${id}` };
  }
  const file = readBounded(path, cwd);
  if (tool === 'Write') {
    const content = str(input['content']);
    if (content === null) return { note: 'the write has no content' };
    if (file.text === null && file.note !== 'new file') return { note: file.note ?? 'cannot read the file' };
    return { before: file.text ?? '', after: content, note: file.text === null ? 'new file' : null };
  }
  if (file.text === null) return { note: file.note === 'new file' ? 'the file does not exist: the edit will fail' : (file.note ?? 'cannot read the file') };
  const edits = tool === 'MultiEdit' ? (Array.isArray(input['edits']) ? (input['edits'] as unknown[]) : []) : [input];
  let text = file.text;
  for (const [i, e] of edits.entries()) {
    if (!e || typeof e !== 'object') return { note: `edit ${i + 1} is malformed` };
    const r = applyEdit(text, e as Record<string, unknown>);
    if ('problem' in r) return { note: edits.length > 1 ? `edit ${i + 1}: ${r.problem}` : r.problem };
    text = r.text;
  }
  return { before: file.text, after: text, note: null };
}

/**
 * The unified diff Edit, Write, MultiEdit or NotebookEdit would make, against the file on disk
 * now (`diff` package, 3 lines of context, `git diff` form with the path relative to `cwd`).
 */
export function editDiff(tool: string, input: Record<string, unknown>, cwd: string): ToolDiff | null {
  const p = str(input['file_path']) ?? str(input['notebook_path']);
  if (p === null) return null;
  const abs = isAbsolute(p) ? p : resolve(cwd, p);
  const rel = relative(cwd, abs);
  const shown = (rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs).slice(0, 4096);
  const ba = beforeAfter(tool, input, abs, cwd);
  if (!('before' in ba)) return { path: shown, text: '', truncated: false, note: ba.note.slice(0, 300) };
  const patch = createTwoFilesPatch(`a/${shown}`, `b/${shown}`, ba.before, ba.after, undefined, undefined, { context: 3, timeout: DIFF_TIMEOUT_MS });
  if (patch === undefined) return { path: shown, text: '', truncated: false, note: 'the change is too complex to preview in time' };
  // jsdiff starts with "Index:" and "====" lines; git's header is what the renderers read.
  const body = patch.split('\n').filter((l, i) => !(i < 2 && (l.startsWith('Index:') || l.startsWith('===')))).join('\n');
  const { text, truncated } = capText(`diff --git a/${shown} b/${shown}\n${body}`, MAX_DIFF);
  return { path: shown, text, truncated, note: ba.note };
}

/** AskUserQuestion's questions, bounded; null when the input has none that can be shown. */
export function questionsOf(input: Record<string, unknown>): ClaudeQuestion[] | null {
  const qs = input['questions'];
  if (!Array.isArray(qs)) return null;
  const out: ClaudeQuestion[] = [];
  for (const q of qs.slice(0, MAX_QUESTIONS)) {
    const o = q as Record<string, unknown> | null;
    const question = str(o?.['question']);
    if (!question) continue;
    const options = Array.isArray(o?.['options']) ? (o['options'] as unknown[]) : [];
    out.push({
      question: capText(question, 1000).text,
      header: capText(str(o?.['header']) ?? '', 100).text,
      multiSelect: o?.['multiSelect'] === true,
      options: options
        .slice(0, MAX_OPTIONS)
        .map((x) => x as Record<string, unknown> | null)
        .filter((x) => !!str(x?.['label']))
        .map((x) => ({ label: capText(str(x!['label'])!, 200).text, description: capText(str(x!['description']) ?? '', 1000).text })),
    });
  }
  return out.length ? out : null;
}

/**
 * Remembers what Claude wrote its plan into: the `plan` of its ExitPlanMode call (2.1.331 drops
 * it from the permission request) or the plan file it wrote under `.claude/plans/`.
 */
export class PlanTracker {
  private readonly plans = new Map<string, string>();
  private planFile: string | null = null;

  /** Every tool call Claude makes (from its assistant lines). */
  toolUse(toolUseId: string, name: string, input: unknown): void {
    const i = (input ?? {}) as Record<string, unknown>;
    if (name === 'ExitPlanMode' && typeof i['plan'] === 'string') {
      this.plans.set(toolUseId, i['plan']);
      if (this.plans.size > 16) this.plans.delete(this.plans.keys().next().value!);
    }
    const p = str(i['file_path']);
    if ((name === 'Write' || name === 'Edit') && p && /[\\/]\.claude[\\/]plans[\\/][^\\/]+\.md$/.test(p)) this.planFile = p;
  }

  /** The plan for an ExitPlanMode request, capped. */
  plan(toolUseId: string | null): { text: string; truncated: boolean } | null {
    const fromCall = toolUseId ? this.plans.get(toolUseId) : undefined;
    if (fromCall !== undefined) return capText(fromCall, MAX_PLAN);
    if (this.planFile) {
      // Confined to the plans directory it is in (no symlink out of it, no FIFO).
      const f = readBounded(this.planFile, dirname(this.planFile));
      if (f.text !== null) return capText(f.text, MAX_PLAN);
    }
    return null;
  }
}

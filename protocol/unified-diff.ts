/**
 * What each line of a unified diff (as `git diff` and the runner's edit previews print it) is.
 * The one reader of diffs: the phone's diff view, the terminal's approval and timeline lines and
 * the TUI's pager all classify lines through it.
 *
 * A line's kind depends on where it is, not only on how it starts: inside a hunk, "+++ x" is an
 * added line whose text is "++ x" (a file Claude writes can hold one), and "--- x" a removed
 * "-- x". Taken for file headers and dropped, they hid lines from the person approving the edit.
 * So the hunk header's line counts are followed: while a hunk has lines left, a line is an
 * addition, a removal or context by its first character alone; only outside hunks are
 * `diff --git`, `--- `, `+++ ` and `index ` headers.
 */

export type DiffRowKind =
  /** `diff --git a/X b/Y`: a file starts. */
  | 'file'
  /** `--- a/X`, `+++ b/X`, `index …` outside a hunk: the file's header (the `file` row names it). */
  | 'header'
  /** `@@ -a,b +c,d @@ …` */
  | 'hunk'
  | 'add'
  | 'del'
  | 'context'
  /** `\ No newline at end of file` */
  | 'no-newline'
  /** Anything else outside a hunk: `new file mode`, `rename from`, `Binary files … differ`, or text that is not diff. */
  | 'meta';

const HUNK = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/;

/**
 * Classifies the lines of a diff one at a time, in order.
 *
 * @example
 * const rows = new DiffReader();
 * for (const line of text.split('\n')) render(rows.next(line), line);
 */
export class DiffReader {
  private oldLeft = 0;
  private newLeft = 0;

  next(line: string): DiffRowKind {
    if (this.oldLeft > 0 || this.newLeft > 0) {
      const c = line.charCodeAt(0);
      if (c === 0x5c /* \ */) return 'no-newline';
      if (c === 0x2b /* + */ && this.newLeft > 0) {
        this.newLeft--;
        return 'add';
      }
      if (c === 0x2d /* - */ && this.oldLeft > 0) {
        this.oldLeft--;
        return 'del';
      }
      // A context line; an empty one is a context line whose space an editor or mailer stripped.
      if ((c === 0x20 || line === '') && this.oldLeft > 0 && this.newLeft > 0) {
        this.oldLeft--;
        this.newLeft--;
        return 'context';
      }
      // Not what the hunk's counts allow: the hunk is over (a diff cut short, or not well formed).
      this.oldLeft = 0;
      this.newLeft = 0;
    }
    if (line.startsWith('diff --git ')) return 'file';
    const hunk = HUNK.exec(line);
    if (hunk) {
      this.oldLeft = hunk[1] === undefined ? 1 : Number(hunk[1]);
      this.newLeft = hunk[2] === undefined ? 1 : Number(hunk[2]);
      return 'hunk';
    }
    if (line.startsWith('--- ') || line.startsWith('+++ ') || line.startsWith('index ')) return 'header';
    if (line.startsWith('\\')) return 'no-newline';
    // Outside any hunk a + or - line still shows as one: nothing that reads as a change is hidden.
    if (line.startsWith('+')) return 'add';
    if (line.startsWith('-')) return 'del';
    return 'meta';
  }
}

/** The kind of every line of a diff. */
export function diffRowKinds(lines: readonly string[]): DiffRowKind[] {
  const reader = new DiffReader();
  return lines.map((l) => reader.next(l));
}

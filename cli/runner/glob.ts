import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import { join } from 'node:path';

/**
 * Artifact globs (`--artifact 'coverage/**'`): relative to the workspace, confined to it. The
 * syntax is small on purpose: `**` (any number of directories), `*` (any characters but `/`), `?`
 * (one character but `/`). Everything else is literal. `*` matches dotfiles too.
 */

const GLOB_CHARS = /[*?]/;

/** Validates and normalises a pattern, or says why it is refused. */
export function checkGlob(pattern: string): { ok: true; pattern: string } | { ok: false; reason: string } {
  let p = pattern.trim();
  while (p.startsWith('./')) p = p.slice(2);
  if (p === '') return { ok: false, reason: 'empty pattern' };
  if (p.length > 256) return { ok: false, reason: 'longer than 256 characters' };
  if (/[\u0000-\u001f\u007f]/.test(p)) return { ok: false, reason: 'control characters' };
  if (p.includes('\\')) return { ok: false, reason: 'backslashes are not allowed (use /)' };
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return { ok: false, reason: 'must be relative to the workspace' };
  const segments = p.split('/');
  if (segments.some((s, i) => s === '' && i < segments.length - 1)) return { ok: false, reason: 'empty path segment' };
  if (segments.some((s) => s === '..' || s === '.')) return { ok: false, reason: '"." and ".." segments would leave the workspace' };
  if (segments.some((s) => s.includes('**') && s !== '**')) return { ok: false, reason: '"**" must be a whole path segment' };
  if (p.endsWith('/')) p += '**';
  return { ok: true, pattern: p };
}

/** The pattern as an anchored regular expression over `/`-separated relative paths. */
export function globToRegExp(pattern: string): RegExp {
  const segments = pattern.split('/');
  let re = '';
  segments.forEach((seg, i) => {
    const last = i === segments.length - 1;
    if (seg === '**') {
      re += last ? (i === 0 ? '.*' : '(?:/.*)?') : i === 0 ? '(?:.*/)?' : '(?:/.*)?/';
      return;
    }
    if (i > 0 && segments[i - 1] !== '**') re += '/';
    for (const ch of seg) {
      if (ch === '*') re += '[^/]*';
      else if (ch === '?') re += '[^/]';
      else re += ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    }
  });
  return new RegExp(`^${re}$`);
}

/** The directories before the first segment with a wildcard: where the walk starts. */
function literalPrefix(pattern: string): string[] {
  const out: string[] = [];
  const segments = pattern.split('/');
  for (let i = 0; i < segments.length - 1; i++) {
    const s = segments[i]!;
    if (GLOB_CHARS.test(s)) break;
    out.push(s);
  }
  return out;
}

export interface GlobResult {
  /** Relative paths of regular files that matched, sorted, each once. */
  files: string[];
  /** Matches that are not collected, with the reason (symlinks, special files). */
  skipped: { path: string; reason: string }[];
  /** The walk stopped at a limit (files or entries visited). */
  limited: boolean;
}

/**
 * Finds the regular files under `root` that match any of the patterns. Symbolic links are never
 * followed (a link to /etc is skipped, not read), `.git` directories are not entered, and the
 * walk is bounded.
 */
export function findGlobFiles(root: string, patterns: string[], limits: { maxFiles: number; maxEntries: number } = { maxFiles: 200, maxEntries: 50_000 }): GlobResult {
  const files = new Set<string>();
  const skipped: { path: string; reason: string }[] = [];
  let entries = 0;
  let limited = false;
  for (const pattern of patterns) {
    const re = globToRegExp(pattern);
    const deep = pattern.includes('**');
    const depthLimit = deep ? 32 : pattern.split('/').length;
    const prefix = literalPrefix(pattern);
    // The prefix must be real directories, not links out of the workspace.
    let dir = root;
    let ok = true;
    for (const seg of prefix) {
      dir = join(dir, seg);
      try {
        const st = lstatSync(dir);
        if (!st.isDirectory()) ok = false;
      } catch {
        ok = false;
      }
      if (!ok) break;
    }
    if (!ok) continue;
    const walk = (abs: string, rel: string, depth: number): void => {
      if (limited) return;
      let list: Dirent[];
      try {
        list = readdirSync(abs, { withFileTypes: true });
      } catch {
        return;
      }
      list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const d of list) {
        if (++entries > limits.maxEntries) {
          limited = true;
          return;
        }
        const childRel = rel ? `${rel}/${d.name}` : d.name;
        if (d.isSymbolicLink()) {
          if (re.test(childRel)) skipped.push({ path: childRel, reason: 'symbolic link (not followed)' });
          continue;
        }
        if (d.isDirectory()) {
          if (d.name === '.git') continue;
          if (depth + 1 < depthLimit) walk(join(abs, d.name), childRel, depth + 1);
          continue;
        }
        if (!re.test(childRel)) continue;
        if (!d.isFile()) {
          skipped.push({ path: childRel, reason: 'not a regular file' });
          continue;
        }
        if (files.size >= limits.maxFiles && !files.has(childRel)) {
          limited = true;
          return;
        }
        files.add(childRel);
      }
    };
    walk(dir, prefix.join('/'), prefix.length);
  }
  const seen = new Set<string>();
  const uniqueSkipped = skipped.filter((s) => !seen.has(s.path) && seen.add(s.path));
  return { files: [...files].sort(), skipped: uniqueSkipped, limited };
}

import { closeSync, constants as fsConstants, fstatSync, openSync, readlinkSync, readSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';

/** Whether `child` is `parent` or inside it (both absolute, resolved). */
export function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Reads a workspace file without ever leaving the workspace: the last component is opened with
 * O_NOFOLLOW (a symlink is refused, not followed), non-blocking (a FIFO cannot hang the runner),
 * and the opened descriptor's real path is checked to be inside the workspace (a directory swapped
 * for a symlink between the walk and the open is caught).
 */
export function readConfined(root: string, rel: string, cap: number): { ok: true; data: Buffer } | { ok: false; reason: string } {
  let fd: number;
  try {
    fd = openSync(join(root, rel), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ELOOP' ? 'symbolic link (not followed)' : `cannot open: ${code ?? 'error'}` };
  }
  try {
    let real: string | undefined;
    try {
      real = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      real = realpathSync(join(root, rel)); // no /proc: the check before the open is the best there is
    }
    if (!isInside(real, root)) return { ok: false, reason: 'resolves outside the workspace' };
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, reason: 'not a regular file' };
    if (st.size > cap) return { ok: false, reason: `${st.size} bytes is over the ${cap}-byte cap` };
    const data = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, data, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return { ok: true, data: data.subarray(0, off) };
  } finally {
    closeSync(fd);
  }
}

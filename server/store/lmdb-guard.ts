import { statfsSync } from 'node:fs';
import { CcgError } from '../../protocol/errors.js';

/**
 * When an LMDB commit fails (disk full, I/O error), lmdb-js rejects the caller's write promise,
 * which the gateway handles, and also internal promises that nobody can handle (two per failed
 * commit). Under Node's default that unhandled rejection kills the process: a full disk would
 * take the whole gateway down instead of refusing writes until space returns. This lets exactly
 * those rejections go (the failing write still reaches its caller) and keeps Node's crash for
 * every other unhandled rejection. Found by the fault suite (test/faults/disk-full.test.ts).
 */
let installed = false;

function isLmdbCommitFailure(reason: unknown): boolean {
  if (!(reason instanceof Error)) return false;
  if (reason.message.startsWith('Commit failed (see commitError')) return true;
  return typeof (reason as { code?: unknown }).code === 'number' && /[\\/]node_modules[\\/]lmdb[\\/]/.test(reason.stack ?? '');
}

export function guardLmdbRejections(): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (reason) => {
    if (isLmdbCommitFailure(reason)) return;
    throw reason; // as without this handler: an uncaught error
  });
}

/**
 * A failed LMDB write as a CcgError (ERR_STORAGE, 503 / 1011) that says what went wrong, and
 * whether the disk of the data directory is full: lmdb-js reports ENOSPC as "Input/output error".
 */
export async function storageError(err: unknown, dir: string): Promise<CcgError> {
  if (err instanceof CcgError) return err;
  let cause = err;
  const commitError = (err as { commitError?: Promise<unknown> } | null)?.commitError;
  if (commitError && typeof commitError.then === 'function') cause = await commitError.then(() => err, (e: unknown) => e);
  let free = '';
  try {
    const s = statfsSync(dir);
    const bytes = s.bavail * s.bsize;
    free = bytes < 16 * 1024 * 1024 ? `; the disk of the data directory is full (${bytes} bytes free)` : '';
  } catch {
    /* no statfs: say nothing about space */
  }
  return new CcgError('ERR_STORAGE', `storage write failed: ${cause instanceof Error ? cause.message : String(cause)}${free}`);
}

/**
 * Keeps LMDB away from a full disk. lmdb-js 3.5 can corrupt its own heap when a commit hits
 * ENOSPC (seen as "malloc(): corrupted top size" and an abort, under the fault suite's full
 * tmpfs), so writes are refused with ERR_STORAGE while the data directory's file system has
 * less than a reserve free: 5% of its size, at least 1 MiB, at most 256 MiB. Free space is
 * read (statfs, a few microseconds) at most every 250 ms.
 */
export class FreeSpace {
  private checkedAt = 0;
  private free = Number.POSITIVE_INFINITY;
  private reserve = 0;

  constructor(private readonly dir: string, private readonly now: () => number = Date.now) {}

  /** Throws ERR_STORAGE when the disk is (nearly) full. */
  check(): void {
    const now = this.now();
    if (now - this.checkedAt >= 250) {
      this.checkedAt = now;
      try {
        const s = statfsSync(this.dir);
        this.free = s.bavail * s.bsize;
        this.reserve = Math.min(256 * 1024 * 1024, Math.max(1024 * 1024, 0.05 * s.blocks * s.bsize));
      } catch {
        this.free = Number.POSITIVE_INFINITY; // cannot tell: let LMDB try
      }
    }
    if (this.free < this.reserve) {
      throw new CcgError('ERR_STORAGE', `storage write refused: the disk of the data directory is full (${this.free} bytes free; ccg keeps ${Math.round(this.reserve)} free)`);
    }
  }
}

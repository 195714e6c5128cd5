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

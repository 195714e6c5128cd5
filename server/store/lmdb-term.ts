import type { Database, RootDatabase } from 'lmdb';
import type { TermSnapshot, TermSnapshotStore } from './types.js';

/**
 * `term-snapshots`: the latest screen snapshot of each `--pty` run, keyed by run id. Only the
 * newest is kept (a viewer starts from it; older ones would never be read), so the collection
 * holds one small record per pty run.
 */
export class LmdbTermSnapshots implements TermSnapshotStore {
  private readonly db: Database<TermSnapshot, string>;

  constructor(root: RootDatabase) {
    this.db = root.openDB({ name: 'term-snapshots' });
  }

  async putTermSnapshot(runId: string, snap: TermSnapshot): Promise<void> {
    // A snapshot never replaces a newer one (two writes may finish out of order).
    await this.db.transaction(() => {
      const old = this.db.get(runId);
      if (!old || old.seq < snap.seq) this.db.put(runId, snap);
    });
  }

  latestTermSnapshot(runId: string): TermSnapshot | undefined {
    return this.db.get(runId);
  }
}

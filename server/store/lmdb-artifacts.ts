import type { Database, RootDatabase } from 'lmdb';
import type { ArtifactInfo } from '../../protocol/artifacts.js';
import type { ArtifactIndex, ArtifactUsage } from './types.js';

/** Marks a `artifact-refs` database whose counts were built from the index (older data dirs have none). */
const REFS_VERSION_KEY = '#version';

/**
 * Artifact metadata in the gateway's LMDB environment, keyed `[runId, name]`, with two
 * bookkeeping collections kept in the same transactions: how many artifacts refer to each blob
 * (`artifact-refs`, by sha256), so a replaced blob can be deleted once nothing refers to it, and
 * what each run has uploaded over its life (`artifact-usage`), which its budget is checked against.
 */
export class LmdbArtifactIndex implements ArtifactIndex {
  private readonly db: Database<ArtifactInfo, [string, string]>;
  private readonly refs: Database<number, string>;
  private readonly usage: Database<ArtifactUsage, string>;

  constructor(private readonly root: RootDatabase) {
    this.db = root.openDB({ name: 'artifacts' });
    this.refs = root.openDB({ name: 'artifact-refs' });
    this.usage = root.openDB({ name: 'artifact-usage' });
    if (this.refs.get(REFS_VERSION_KEY) === undefined) this.rebuildRefs();
  }

  /** Counts the references of every blob from the index (a data dir from before the counts existed). */
  private rebuildRefs(): void {
    this.root.transactionSync(() => {
      const counts = new Map<string, number>();
      for (const { value } of this.db.getRange()) counts.set(value.sha256, (counts.get(value.sha256) ?? 0) + 1);
      for (const [sha, n] of counts) this.refs.put(sha, n);
      this.refs.put(REFS_VERSION_KEY, 1);
    });
  }

  async putArtifact(runId: string, info: ArtifactInfo): Promise<{ unreferenced: string[] }> {
    return this.root.transaction(() => {
      const old = this.db.get([runId, info.name]);
      this.db.put([runId, info.name], info);
      // The new reference first: re-uploading the same content never drops its count to zero.
      this.refs.put(info.sha256, (this.refs.get(info.sha256) ?? 0) + 1);
      const unreferenced: string[] = [];
      if (old) {
        const left = (this.refs.get(old.sha256) ?? 1) - 1;
        if (left > 0) this.refs.put(old.sha256, left);
        else {
          this.refs.remove(old.sha256);
          unreferenced.push(old.sha256);
        }
      }
      const used = this.usage.get(runId) ?? { uploads: 0, bytes: 0 };
      this.usage.put(runId, { uploads: used.uploads + 1, bytes: used.bytes + info.bytes });
      return { unreferenced };
    });
  }

  getArtifact(runId: string, name: string): ArtifactInfo | undefined {
    return this.db.get([runId, name]);
  }

  listArtifacts(runId: string): ArtifactInfo[] {
    // '\uffff' sorts after every name an artifact may have (ASCII only).
    return [...this.db.getRange({ start: [runId, ''], end: [runId, '\uffff'] })].map((e) => e.value);
  }

  usageOf(runId: string): ArtifactUsage {
    return this.usage.get(runId) ?? { uploads: 0, bytes: 0 };
  }

  blobRefs(sha256: string): number {
    return this.refs.get(sha256) ?? 0;
  }
}

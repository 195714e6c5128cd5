import type { Database, RootDatabase } from 'lmdb';
import type { ArtifactInfo } from '../../protocol/artifacts.js';
import type { ArtifactIndex } from './types.js';

/** Artifact metadata in the gateway's LMDB environment, keyed `[runId, name]`. */
export class LmdbArtifactIndex implements ArtifactIndex {
  private readonly db: Database<ArtifactInfo, [string, string]>;

  constructor(root: RootDatabase) {
    this.db = root.openDB({ name: 'artifacts' });
  }

  async putArtifact(runId: string, info: ArtifactInfo): Promise<void> {
    await this.db.put([runId, info.name], info);
  }

  getArtifact(runId: string, name: string): ArtifactInfo | undefined {
    return this.db.get([runId, name]);
  }

  listArtifacts(runId: string): ArtifactInfo[] {
    // '\uffff' sorts after every name an artifact may have (ASCII only).
    return [...this.db.getRange({ start: [runId, ''], end: [runId, '\uffff'] })].map((e) => e.value);
  }
}

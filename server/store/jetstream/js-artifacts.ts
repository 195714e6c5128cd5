import type { ArtifactInfo } from '../../../protocol/artifacts.js';
import type { ArtifactIndex, ArtifactUsage } from '../types.js';
import { joinKey, keyPart, splitKey } from './keys.js';
import type { KvMirror } from './kv-mirror.js';

/** `ccg_artifacts`: `a.<runId>.<name>` → the artifact, `r.<sha256>` → how many refer to the blob, `u.<runId>` → the run's usage. */
type ArtifactsValue = ArtifactInfo | number | ArtifactUsage;

/**
 * Artifact metadata on its KV bucket. LMDB records an artifact, its blob references and the
 * run's usage in one transaction; KV has none across keys, so each is its own atomic
 * read-modify-write, in an order where a crash between two steps can only leave a count too
 * high (a blob kept that could go), never too low (a blob deleted that is still referred to):
 * the new blob's count first, then the record, then the replaced blob's count, then the usage.
 */
export class JsArtifacts implements ArtifactIndex {
  /** Artifact keys by run, so a run's list does not scan every artifact. */
  private readonly byRun = new Map<string, Set<string>>();

  constructor(private readonly kv: KvMirror<ArtifactsValue>) {
    for (const [k] of kv.all()) this.index(k, true);
    kv.onChange((c) => this.index(c.key, c.value !== undefined));
  }

  private index(key: string, present: boolean): void {
    if (!key.startsWith('a.')) return;
    const runId = splitKey(key)[1]!;
    let set = this.byRun.get(runId);
    if (present) {
      if (!set) this.byRun.set(runId, (set = new Set()));
      set.add(key);
    } else if (set) {
      set.delete(key);
      if (set.size === 0) this.byRun.delete(runId);
    }
  }

  async putArtifact(runId: string, info: ArtifactInfo): Promise<{ unreferenced: string[] }> {
    const refKey = (sha: string) => `r.${keyPart(sha)}`;
    await this.kv.upsert(refKey(info.sha256), (n) => ((n as number | undefined) ?? 0) + 1);
    let old: ArtifactInfo | undefined;
    await this.kv.upsert(joinKey('a', runId, info.name), (cur) => {
      old = cur as ArtifactInfo | undefined;
      return info;
    });
    const unreferenced: string[] = [];
    if (old) {
      const gone = old.sha256;
      const left = await this.kv.upsert(refKey(gone), (n) => Math.max(0, ((n as number | undefined) ?? 1) - 1));
      if (left === 0) unreferenced.push(gone);
    }
    await this.kv.upsert(`u.${keyPart(runId)}`, (cur) => {
      const used = (cur as ArtifactUsage | undefined) ?? { uploads: 0, bytes: 0 };
      return { uploads: used.uploads + 1, bytes: used.bytes + info.bytes };
    });
    return { unreferenced };
  }

  getArtifact(runId: string, name: string): ArtifactInfo | undefined {
    return this.kv.get(joinKey('a', runId, name)) as ArtifactInfo | undefined;
  }

  listArtifacts(runId: string): ArtifactInfo[] {
    const out: ArtifactInfo[] = [];
    for (const k of this.byRun.get(runId) ?? []) {
      const a = this.kv.get(k) as ArtifactInfo | undefined;
      if (a) out.push(a);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  usageOf(runId: string): ArtifactUsage {
    return (this.kv.get(`u.${keyPart(runId)}`) as ArtifactUsage | undefined) ?? { uploads: 0, bytes: 0 };
  }

  blobRefs(sha256: string): number {
    return (this.kv.get(`r.${keyPart(sha256)}`) as number | undefined) ?? 0;
  }
}

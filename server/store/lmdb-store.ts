import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { ApiTokenRecord, AuditEntry, RunRecord, Store, StoredChunk } from './types.js';
import type { RunStatus } from '../../protocol/run.js';
import { FreeSpace, guardLmdbRejections, storageError } from './lmdb-guard.js';

const CHUNK_HEADER = 9; // u8 stream | f64be time
const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/**
 * LMDB-backed store: one environment in `<data>/db`, one named database per collection.
 * Chunks are keyed `[runId, seq]`, so a run's output is one contiguous key range: the tail of a
 * run with a million chunks is read as cheaply as the tail of a run with ten.
 */
export class LmdbStore implements Store {
  readonly root: RootDatabase;
  private readonly runs: Database<RunRecord, string>;
  private readonly runIndex: Database<null, [number, string]>;
  private readonly chunks: Database<Buffer, [string, number]>;
  private readonly nonces: Database<number, string>;
  private readonly apiTokens: Database<ApiTokenRecord, string>;
  private readonly meta: Database<unknown, string>;
  private readonly audit: Database<AuditEntry, [number, number]>;
  private auditCounter = 0;

  constructor(private readonly dir: string) {
    guardLmdbRejections();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.space = new FreeSpace(dir);
    this.root = open({ path: dir, maxDbs: 32, compression: false });
    this.runs = this.root.openDB({ name: 'runs' });
    this.runIndex = this.root.openDB({ name: 'run-index' });
    this.chunks = this.root.openDB({ name: 'chunks', encoding: 'binary' });
    this.nonces = this.root.openDB({ name: 'nonces' });
    this.apiTokens = this.root.openDB({ name: 'api-tokens' });
    this.meta = this.root.openDB({ name: 'meta' });
    this.audit = this.root.openDB({ name: 'audit' });
  }

  private readonly space: FreeSpace;

  /**
   * Starts a write unless the disk is full, and awaits it; a failure becomes ERR_STORAGE with
   * its cause (disk full, I/O error).
   */
  private async write<T>(start: () => Promise<T>): Promise<T> {
    this.space.check();
    try {
      return await start();
    } catch (err) {
      throw await storageError(err, this.dir);
    }
  }

  static open(dataDir: string): LmdbStore {
    return new LmdbStore(join(dataDir, 'db'));
  }

  // ---- runs

  async createRun(run: RunRecord): Promise<void> {
    await this.write(() =>
      this.root.transaction(() => {
        this.runs.put(run.id, run);
        this.runIndex.put([run.createdAt, run.id], null);
      }),
    );
  }

  getRun(id: string): RunRecord | undefined {
    return this.runs.get(id);
  }

  listRuns(opts: { limit: number; status?: RunStatus }): RunRecord[] {
    const out: RunRecord[] = [];
    // Bounded scan: a status filter over a huge history looks at most 20k runs.
    let scanned = 0;
    for (const { key } of this.runIndex.getRange({ reverse: true })) {
      if (++scanned > 20_000) break;
      const run = this.runs.get(key[1]);
      if (!run || (opts.status && run.status !== opts.status)) continue;
      out.push(run);
      if (out.length >= opts.limit) break;
    }
    return out;
  }

  countRuns(): number {
    return this.runs.getCount();
  }

  async putRun(run: RunRecord): Promise<void> {
    await this.write(() => this.runs.put(run.id, run));
  }

  // ---- output

  async appendChunk(runId: string, chunk: StoredChunk): Promise<void> {
    const value = Buffer.allocUnsafe(CHUNK_HEADER + chunk.data.length);
    value[0] = chunk.stream;
    value.writeDoubleBE(chunk.time, 1);
    value.set(chunk.data, CHUNK_HEADER);
    await this.write(() => this.chunks.put([runId, chunk.seq], value));
  }

  readChunks(runId: string, from: number, opts: { limit: number; maxBytes: number }): StoredChunk[] {
    const out: StoredChunk[] = [];
    let bytes = 0;
    for (const { key, value } of this.chunks.getRange({ start: [runId, from], end: [runId, MAX_SEQ], limit: opts.limit })) {
      const data = value.subarray(CHUNK_HEADER);
      out.push({ seq: key[1], stream: value[0]!, time: value.readDoubleBE(1), data });
      bytes += data.length;
      if (bytes >= opts.maxBytes) break;
    }
    return out;
  }

  lastSeq(runId: string): number {
    for (const key of this.chunks.getKeys({ start: [runId, MAX_SEQ], end: [runId, 0], reverse: true, limit: 1 })) {
      return key[1];
    }
    return 0;
  }

  // ---- auth

  async claimNonce(nonce: string, expiresAt: number): Promise<boolean> {
    return this.write(() =>
      this.nonces.ifNoExists(nonce, () => {
        this.nonces.put(nonce, expiresAt);
      }),
    );
  }

  async pruneNonces(now: number): Promise<number> {
    let n = 0;
    await this.root.transaction(() => {
      for (const { key, value } of this.nonces.getRange()) {
        if (value < now) {
          this.nonces.remove(key);
          n++;
        }
      }
    });
    return n;
  }

  getApiToken(hash: string): ApiTokenRecord | undefined {
    return this.apiTokens.get(hash);
  }

  async putApiToken(hash: string, rec: ApiTokenRecord): Promise<void> {
    await this.apiTokens.put(hash, rec);
  }

  getMeta<T>(key: string): T | undefined {
    return this.meta.get(key) as T | undefined;
  }

  async putMeta(key: string, value: unknown): Promise<void> {
    await this.meta.put(key, value);
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    // [time, counter] keeps entries in order and unique; there is no update or delete.
    this.auditCounter = (this.auditCounter + 1) % 1_000_000;
    await this.write(() => this.audit.put([entry.at, this.auditCounter], entry));
  }

  listAudit(opts: { limit: number }): AuditEntry[] {
    return [...this.audit.getRange({ reverse: true, limit: opts.limit })].map((e) => e.value);
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}

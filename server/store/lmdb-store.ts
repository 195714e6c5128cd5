import { CcgError } from '../../protocol/errors.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { ArtifactInfo } from '../../protocol/artifacts.js';
import type { Approval } from '../../protocol/claude-control.js';
import type { TermSnapshot } from './types.js';
import type { ApiTokenRecord, ArtifactUsage, AuditEntry, AuthChange, PushSubscriptionRecord, RunRecord, SessionRecord, Store, StoredChunk, StoreHealth, UserRecord, WriteUrgency } from './types.js';
import { LmdbArtifactIndex } from './lmdb-artifacts.js';
import { LmdbClaudeStore } from './lmdb-claude.js';
import { LmdbTermSnapshots } from './lmdb-term.js';
import type { RunStatus } from '../../protocol/run.js';
import { FreeSpace, guardLmdbRejections, storageError } from './lmdb-guard.js';
import { redactAuditEntry } from './redact-audit.js';
import { WriteBatcher, type BatchTiming } from './write-batcher.js';

const CHUNK_HEADER = 9; // u8 stream | f64be time
const MAX_SEQ = Number.MAX_SAFE_INTEGER;
/**
 * Chunk and run-record writes are gathered (write-batcher.ts): under load a batch (one
 * transaction) starts at most every 16 ms; lazy writes linger up to 250 ms unless their stream
 * pauses for 16 ms or 1 MiB of them wait. Measured at 100 runners × 20 lines/s (`npm run bench --
 * --only latency --latency-runners 100`): gateway CPU per line 98–118 µs with every batch at
 * 16 ms, 70–78 µs lingering 100 ms, 60–61 µs at 250 ms, 60–68 µs at 1 s.
 */
const WRITE_BATCHES = { intervalMs: 16, lingerMs: 250, quietMs: 16, maxBytes: 1024 * 1024 };

export interface LmdbStoreOptions {
  /** When gathered writes start (tests stretch it); default WRITE_BATCHES. */
  writeBatches?: BatchTiming;
}

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
  private readonly users: Database<UserRecord, string>;
  private readonly userNames: Database<string, string>;
  private readonly sessions: Database<SessionRecord, string>;
  /** Approvals and push subscriptions (lmdb-claude.ts), artifact metadata (lmdb-artifacts.ts): same environment. */
  private readonly claude: LmdbClaudeStore;
  private readonly artifactIndex: LmdbArtifactIndex;
  private readonly termSnapshots: LmdbTermSnapshots;
  private readonly authListeners = new Set<(change: AuthChange) => void>();

  constructor(
    private readonly dir: string,
    o: LmdbStoreOptions = {},
  ) {
    this.batched = new WriteBatcher(
      (puts) =>
        this.write(() => {
          let last!: Promise<boolean>;
          for (const put of puts) last = put();
          // Puts started in one turn are one transaction: the last one's commit is everyone's.
          return last;
        }).then(() => undefined),
      o.writeBatches ?? WRITE_BATCHES,
    );
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
    this.users = this.root.openDB({ name: 'users' });
    this.userNames = this.root.openDB({ name: 'user-names' });
    this.sessions = this.root.openDB({ name: 'sessions' });
    this.claude = new LmdbClaudeStore(this.root);
    this.artifactIndex = new LmdbArtifactIndex(this.root);
    this.termSnapshots = new LmdbTermSnapshots(this.root);
  }

  private readonly space: FreeSpace;

  /**
   * Starts a write unless the store is closed or the disk is full, and awaits it; a failure
   * becomes ERR_STORAGE with its cause (disk full, I/O error). Every write goes through here: an
   * lmdb-js write after close throws out of a timer (the process dies), and one that meets a full
   * disk may abort in native code.
   */
  private async write<T>(start: () => Promise<T>): Promise<T> {
    if (this.closed) throw new CcgError('ERR_SHUTDOWN', 'the gateway is shutting down; nothing more is stored');
    this.space.check();
    try {
      return await start();
    } catch (err) {
      throw await storageError(err, this.dir);
    }
  }

  static open(dataDir: string, o: LmdbStoreOptions = {}): LmdbStore {
    return new LmdbStore(join(dataDir, 'db'), o);
  }

  // ---- approvals and push subscriptions

  putApproval(a: Approval): Promise<void> {
    return this.write(() => this.claude.putApproval(a));
  }
  getApproval(runId: string, approvalId: string): Approval | undefined {
    return this.claude.getApproval(runId, approvalId);
  }
  listApprovals(runId: string, limit: number): Approval[] {
    return this.claude.listApprovals(runId, limit);
  }
  listOpenApprovals(): Approval[] {
    return this.claude.listOpenApprovals();
  }
  putPushSubscription(s: PushSubscriptionRecord): Promise<void> {
    return this.write(() => this.claude.putPushSubscription(s));
  }
  deletePushSubscription(id: string): Promise<boolean> {
    return this.write(() => this.claude.deletePushSubscription(id));
  }
  listPushSubscriptions(): PushSubscriptionRecord[] {
    return this.claude.listPushSubscriptions();
  }

  // ---- screen snapshots of pty runs

  async putTermSnapshot(runId: string, snap: TermSnapshot): Promise<void> {
    // Never committed before the output it shows: that output may still linger in the write batch.
    await this.batched.settled();
    return this.write(() => this.termSnapshots.putTermSnapshot(runId, snap));
  }
  latestTermSnapshot(runId: string): TermSnapshot | undefined {
    return this.termSnapshots.latestTermSnapshot(runId);
  }

  // ---- artifact metadata

  putArtifact(runId: string, info: ArtifactInfo): Promise<{ unreferenced: string[] }> {
    return this.write(() => this.artifactIndex.putArtifact(runId, info));
  }
  getArtifact(runId: string, name: string): ArtifactInfo | undefined {
    return this.artifactIndex.getArtifact(runId, name);
  }
  listArtifacts(runId: string): ArtifactInfo[] {
    return this.artifactIndex.listArtifacts(runId);
  }
  usageOf(runId: string): ArtifactUsage {
    return this.artifactIndex.usageOf(runId);
  }
  blobRefs(sha256: string): number {
    return this.artifactIndex.blobRefs(sha256);
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

  /** Goes out with the chunk writes (one transaction per batch): with a thousand running runs, their progress records alone were a thousand transactions a second. */
  putRun(run: RunRecord, urgency: WriteUrgency = 'soon'): Promise<void> {
    return this.batched.add(() => this.runs.put(run.id, run), 0, urgency === 'soon');
  }

  // ---- output

  appendChunk(runId: string, chunk: StoredChunk, urgency: WriteUrgency = 'soon'): Promise<void> {
    const { data } = chunk;
    let value: Buffer;
    if ((chunk.headroom ?? 0) >= CHUNK_HEADER) {
      // The record around the data where it lies (StoredChunk.headroom): no copy.
      value = Buffer.from(data.buffer, data.byteOffset - CHUNK_HEADER, CHUNK_HEADER + data.length);
    } else {
      value = Buffer.allocUnsafe(CHUNK_HEADER + data.length);
      value.set(data, CHUNK_HEADER);
    }
    value[0] = chunk.stream;
    value.writeDoubleBE(chunk.time, 1);
    return this.batched.add(() => this.chunks.put([runId, chunk.seq], value), data.length, urgency === 'soon');
  }

  hurry(): void {
    this.batched.hurry();
  }

  /**
   * Chunk and run-record writes, gathered: one batch per turn, at most one every 16 ms while they
   * keep coming (lazy ones linger, WRITE_BATCHES), its puts started in one turn and so one
   * lmdb-js transaction. They keep their order. Nothing removes chunks or run records, so no
   * other write can be overtaken.
   */
  private readonly batched: WriteBatcher<() => Promise<boolean>>;

  async readChunks(runId: string, from: number, opts: { limit: number; maxBytes: number }): Promise<StoredChunk[]> {
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

  async readChunksBefore(runId: string, before: number, opts: { limit: number; maxBytes: number }): Promise<StoredChunk[]> {
    const out: StoredChunk[] = [];
    if (before <= 1) return out;
    let bytes = 0;
    for (const { key, value } of this.chunks.getRange({ start: [runId, before], end: [runId, 0], reverse: true, exclusiveStart: true, limit: opts.limit })) {
      const data = value.subarray(CHUNK_HEADER);
      out.push({ seq: key[1], stream: value[0]!, time: value.readDoubleBE(1), data });
      bytes += data.length;
      if (bytes >= opts.maxBytes) break;
    }
    return out.reverse();
  }

  async lastSeq(runId: string): Promise<number> {
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
    await this.write(() =>
      this.root.transaction(() => {
        for (const { key, value } of this.nonces.getRange()) {
          if (value < now) {
            this.nonces.remove(key);
            n++;
          }
        }
      }),
    );
    return n;
  }

  getApiToken(hash: string): ApiTokenRecord | undefined {
    return this.apiTokens.get(hash);
  }

  async putApiToken(hash: string, rec: ApiTokenRecord): Promise<void> {
    await this.write(() => this.apiTokens.put(hash, rec));
  }

  getMeta<T>(key: string): T | undefined {
    return this.meta.get(key) as T | undefined;
  }

  async putMeta(key: string, value: unknown): Promise<void> {
    await this.write(() => this.meta.put(key, value));
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    // Every caller's free text passes here: secrets of known formats never reach the log.
    const clean = redactAuditEntry(entry);
    // [time, n] keeps entries in order and unique: n is one past the highest of that millisecond,
    // read in the write transaction, so entries of one millisecond are all kept even when they
    // come after a restart or a clock stepped back (a counter kept in memory started again at 1
    // and overwrote them).
    await this.write(() =>
      this.root.transaction(() => {
        let n = 1;
        for (const key of this.audit.getKeys({ start: [entry.at, MAX_SEQ], end: [entry.at, 0], reverse: true, limit: 1 })) n = key[1] + 1;
        this.audit.put([entry.at, n], clean);
      }),
    );
  }

  listAudit(opts: { limit: number }): AuditEntry[] {
    return [...this.audit.getRange({ reverse: true, limit: opts.limit })].map((e) => e.value);
  }

  listAuditPage(opts: { limit: number; before?: string }): { entries: AuditEntry[]; next: string | null } {
    const m = opts.before ? /^(\d{1,16})\.(\d{1,7})$/.exec(opts.before) : null;
    const start = m ? [Number(m[1]), Number(m[2])] : undefined;
    const entries: AuditEntry[] = [];
    let last: [number, number] | null = null;
    for (const { key, value } of this.audit.getRange({ reverse: true, limit: opts.limit + 1, ...(start ? { start, exclusiveStart: true } : {}) })) {
      if (entries.length === opts.limit) return { entries, next: last ? `${last[0]}.${last[1]}` : null };
      entries.push(value);
      last = key;
    }
    return { entries, next: null };
  }

  auditUsage(): { entries: number; bytes: number } {
    const st = this.audit.getStats() as { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number; entryCount: number };
    return { entries: st.entryCount, bytes: (st.treeBranchPageCount + st.treeLeafPageCount + st.overflowPages) * st.pageSize };
  }

  async trimAudit(opts: { before: number; atLeast: number; limit: number }): Promise<number> {
    return this.write(() =>
      this.root.transaction(() => {
        let n = 0;
        for (const key of this.audit.getKeys({ limit: opts.limit })) {
          if (n >= opts.atLeast && key[0] >= opts.before) break;
          this.audit.remove(key);
          n++;
        }
        return n;
      }),
    );
  }

  // ---- accounts

  listApiTokens(): { hash: string; record: ApiTokenRecord }[] {
    return [...this.apiTokens.getRange()].map(({ key, value }) => ({ hash: key, record: value }));
  }

  async updateApiToken(hash: string, change: (rec: ApiTokenRecord) => ApiTokenRecord | undefined): Promise<ApiTokenRecord | undefined> {
    const out = await this.write(() =>
      this.root.transaction(() => {
        const cur = this.apiTokens.get(hash);
        const next = cur ? change(cur) : undefined;
        if (next) this.apiTokens.put(hash, next);
        return next;
      }),
    );
    if (out) this.authChanged({ kind: 'token', id: out.id });
    return out;
  }

  getUser(id: string): UserRecord | undefined {
    return this.users.get(id);
  }

  getUserByName(name: string): UserRecord | undefined {
    const id = this.userNames.get(name);
    return id === undefined ? undefined : this.users.get(id);
  }

  listUsers(): UserRecord[] {
    return [...this.users.getRange()].map((e) => e.value).sort((a, b) => a.name.localeCompare(b.name));
  }

  async createUser(user: UserRecord, opts: { onlyFirst?: boolean } = {}): Promise<boolean> {
    return this.write(() =>
      this.root.transaction(() => {
        if (this.userNames.get(user.name) !== undefined) return false;
        if (opts.onlyFirst && this.users.getCount() > 0) return false;
        this.users.put(user.id, user);
        this.userNames.put(user.name, user.id);
        return true;
      }),
    );
  }

  async updateUser(id: string, change: (user: UserRecord) => UserRecord | undefined): Promise<UserRecord | undefined> {
    const out = await this.write(() =>
      this.root.transaction(() => {
        const cur = this.users.get(id);
        const next = cur ? change(structuredClone(cur)) : undefined;
        if (next) this.users.put(id, next);
        return next;
      }),
    );
    if (out) this.authChanged({ kind: 'user', id });
    return out;
  }

  async deleteUser(id: string): Promise<void> {
    await this.write(() =>
      this.root.transaction(() => {
        const cur = this.users.get(id);
        if (!cur) return;
        this.users.remove(id);
        if (this.userNames.get(cur.name) === id) this.userNames.remove(cur.name);
      }),
    );
    this.authChanged({ kind: 'user', id });
  }

  getSession(hash: string): SessionRecord | undefined {
    return this.sessions.get(hash);
  }

  async putSession(hash: string, rec: SessionRecord): Promise<void> {
    await this.write(() => this.sessions.put(hash, rec));
  }

  async deleteSession(hash: string): Promise<boolean> {
    // Read and removed in one transaction: true only for the call that removed it (lmdb-js
    // resolves a plain remove with true whether or not the key was there).
    const gone = await this.write(() =>
      this.root.transaction(() => {
        const cur = this.sessions.get(hash);
        if (!cur) return null;
        this.sessions.remove(hash);
        return cur;
      }),
    );
    if (gone) this.authChanged({ kind: 'session', id: gone.userId });
    return gone !== null;
  }

  async deleteSessions(drop: (rec: SessionRecord, hash: string) => boolean): Promise<number> {
    const users = new Set<string>();
    const n = await this.write(() =>
      this.root.transaction(() => {
        let count = 0;
        for (const { key, value } of this.sessions.getRange()) {
          if (drop(value, key)) {
            this.sessions.remove(key);
            users.add(value.userId);
            count++;
          }
        }
        return count;
      }),
    );
    for (const id of users) this.authChanged({ kind: 'session', id });
    return n;
  }

  onAuthChange(listener: (change: AuthChange) => void): () => void {
    this.authListeners.add(listener);
    return () => this.authListeners.delete(listener);
  }

  private authChanged(change: AuthChange): void {
    for (const l of this.authListeners) {
      try {
        l(change);
      } catch {
        /* a listener's failure is its own: the write is done */
      }
    }
  }

  private closed = false;

  health(): StoreHealth {
    if (this.closed) return { ok: false, kind: 'lmdb', detail: 'closed' };
    try {
      this.space.check();
    } catch (err) {
      return { ok: false, kind: 'lmdb', detail: err instanceof Error ? err.message : String(err) };
    }
    return { ok: true, kind: 'lmdb', detail: `LMDB in ${this.dir}` };
  }

  async close(): Promise<void> {
    this.batched.flush();
    this.closed = true;
    await this.root.close();
  }
}

import type { ArtifactInfo } from '../../protocol/artifacts.js';
import type { RunStatus, RunSummary } from '../../protocol/run.js';

/**
 * The narrow storage interfaces the gateway is written against. LMDB implements them today
 * (lmdb-store.ts); a clustered deployment can put them on Postgres or JetStream without touching
 * the routes or sockets.
 */

export interface StoredChunk {
  seq: number;
  stream: number;
  /** Gateway receive time, ms since the epoch. */
  time: number;
  data: Buffer;
}

/** A run as stored: the public summary plus what only the gateway may see. */
export interface RunRecord extends RunSummary {
  /** The run token, AES-256-GCM encrypted with the gateway's secret key (never in plain text). */
  tokenBox: string;
  /** Set when an operator asked to cancel; decides `cancelled` vs `exited` at exit. */
  cancelRequestedBy: string | null;
}

export interface RunStore {
  createRun(run: RunRecord): Promise<void>;
  getRun(id: string): RunRecord | undefined;
  /** Newest first, optionally only one status. */
  listRuns(opts: { limit: number; status?: RunStatus }): RunRecord[];
  countRuns(): number;
  putRun(run: RunRecord): Promise<void>;
  /** Resolves once the chunk is durable: only then may it be acknowledged. */
  appendChunk(runId: string, chunk: StoredChunk): Promise<void>;
  /** Chunks with seq ≥ from, in order, stopping at `limit` chunks or once `maxBytes` is passed. */
  readChunks(runId: string, from: number, opts: { limit: number; maxBytes: number }): StoredChunk[];
  /** The newest chunks with seq < before, returned oldest first, with the same limits (scroll back). */
  readChunksBefore(runId: string, before: number, opts: { limit: number; maxBytes: number }): StoredChunk[];
  /** The highest stored seq of a run, 0 when it has none. */
  lastSeq(runId: string): number;
}

export interface ApiTokenRecord {
  id: string;
  name: string;
  role: 'admin' | 'operator' | 'viewer';
  userId: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface AuditEntry {
  at: number;
  actor: string;
  action: string;
  target: string | null;
  from: string | null;
  detail?: Record<string, string | number | boolean | null>;
}

export interface AuthStore {
  /** Records a nonce until `expiresAt`; resolves false if it was already there. Durable when resolved. */
  claimNonce(nonce: string, expiresAt: number): Promise<boolean>;
  pruneNonces(now: number): Promise<number>;
  getApiToken(hash: string): ApiTokenRecord | undefined;
  putApiToken(hash: string, rec: ApiTokenRecord): Promise<void>;
  getMeta<T>(key: string): T | undefined;
  putMeta(key: string, value: unknown): Promise<void>;
  appendAudit(entry: AuditEntry): Promise<void>;
  listAudit(opts: { limit: number }): AuditEntry[];
}

/** Artifact metadata: one record per run and name (the newest upload wins); blobs live on disk by sha256. */
export interface ArtifactIndex {
  putArtifact(runId: string, info: ArtifactInfo): Promise<void>;
  getArtifact(runId: string, name: string): ArtifactInfo | undefined;
  /** By name. */
  listArtifacts(runId: string): ArtifactInfo[];
}

export interface Store extends RunStore, AuthStore {
  close(): Promise<void>;
}

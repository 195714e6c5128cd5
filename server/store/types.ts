import type { ArtifactInfo } from '../../protocol/artifacts.js';
import type { Approval } from '../../protocol/claude-control.js';
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
  /**
   * Bytes right before `data` in its buffer that nothing else uses, which a store may write its
   * own record header into (STORE_HEADROOM; the runner socket decodes output so): a 64 KiB chunk
   * is then stored without another copy.
   */
  headroom?: number;
}

/** The most any store writes before a chunk's data (LMDB: stream and time, 9 bytes). */
export const STORE_HEADROOM = 9;

/** A run as stored: the public summary plus what only the gateway may see. */
export interface RunRecord extends RunSummary {
  /** The run token, AES-256-GCM encrypted with the gateway's secret key (never in plain text). */
  tokenBox: string;
  /** Set when an operator asked to cancel; decides `cancelled` vs `exited` at exit. */
  cancelRequestedBy: string | null;
  /** Set when the run token was revoked (by whom, or the gateway): the token is refused from then on. */
  revokedBy?: string | null;
  /** Clustered gateway: the node that holds the runner's socket (absent or null: none, or one gateway). */
  runnerNode?: string | null;
}

/**
 * How soon a write must be durable. `soon` (the default): someone waits for it (an API answer, an
 * event chunk's viewers and services). `lazy`: only an ack or a progress figure does (viewers got
 * the chunk before its commit), so a store may gather it with others for a while: LmdbStore up to
 * 250 ms (write-batcher.ts), fewer transactions and fewer pages written per line.
 */
export type WriteUrgency = 'soon' | 'lazy';

export interface RunStore {
  createRun(run: RunRecord): Promise<void>;
  getRun(id: string): RunRecord | undefined;
  /** Newest first, optionally only one status. */
  listRuns(opts: { limit: number; status?: RunStatus }): RunRecord[];
  countRuns(): number;
  /** `lazy`: only a progress figure waits for it (WriteUrgency). */
  putRun(run: RunRecord, urgency?: WriteUrgency): Promise<void>;
  /**
   * Clustered stores: atomic read-modify-write of a run record (`change` sees the latest stored
   * record and returns the new one, or undefined to leave it), so that nodes changing the same run
   * (a cancel on one, progress on another) never overwrite each other. Resolves with what is stored.
   */
  updateRun?(id: string, change: (run: RunRecord) => RunRecord | undefined): Promise<RunRecord | undefined>;
  /**
   * Clustered stores: reads a run record from the server into the in-memory copy (a run another
   * node created a moment ago, before this node heard of it). Resolves with it, or undefined.
   */
  fetchRun?(id: string): Promise<RunRecord | undefined>;
  /** Clustered stores: hears run records other nodes wrote. */
  onRunChange?(listener: (run: RunRecord) => void): () => void;
  /** Resolves once the chunk is durable: only then may it be acknowledged. `lazy`: only the ack waits for it (WriteUrgency). */
  appendChunk(runId: string, chunk: StoredChunk, urgency?: WriteUrgency): Promise<void>;
  /** Starts the lazy writes waiting now: someone waits for all of a run's writes (its exit, a shutdown). */
  hurry?(): void;
  // Chunk reads are asynchronous: a networked store answers over the wire (LMDB resolves at once).
  /** Chunks with seq ≥ from, in order, stopping at `limit` chunks or once `maxBytes` is passed. */
  readChunks(runId: string, from: number, opts: { limit: number; maxBytes: number }): Promise<StoredChunk[]>;
  /**
   * The newest chunks with seq < before, read backwards (the tail of a huge run costs what the
   * tail of a small one does), stopping at `limit` chunks or once `maxBytes` is passed; returned
   * in ascending seq order.
   */
  readChunksBefore(runId: string, before: number, opts: { limit: number; maxBytes: number }): Promise<StoredChunk[]>;
  /**
   * The highest seq of a run stored with every seq before it, 0 when it has none: where a runner
   * is taken on (a clustered store can hold a later chunk while an earlier write failed).
   */
  lastSeq(runId: string): Promise<number>;
}

/**
 * A `--pty` run's screen as it was after chunk `seq`: the escape sequences that redraw it on a
 * fresh terminal of `cols`×`rows` (from @xterm/addon-serialize). Derived from the stored chunks,
 * never the record: a viewer starts from it and replays only the chunks after `seq`.
 */
export interface TermSnapshot {
  seq: number;
  cols: number;
  rows: number;
  /** Serialized screen (and cursor, modes); runner-derived, so terminal input only. */
  data: string;
  /** Gateway time it was taken, ms since the epoch. */
  at: number;
}

/** Screen snapshots of pty runs, beside their chunks. */
export interface TermSnapshotStore {
  /** Keeps the snapshot unless a newer one (higher seq) is already stored. */
  putTermSnapshot(runId: string, snap: TermSnapshot): Promise<void>;
  /** The newest snapshot of a run, if any. */
  latestTermSnapshot(runId: string): TermSnapshot | undefined;
}

export interface ApiTokenRecord {
  id: string;
  name: string;
  role: 'admin' | 'operator' | 'viewer';
  userId: string | null;
  createdAt: number;
  revokedAt: number | null;
  /** A user's token: the user's credential generation when it was made (absent: 0). */
  credGen?: number;
}

export interface AuditEntry {
  at: number;
  actor: string;
  action: string;
  target: string | null;
  from: string | null;
  detail?: Record<string, string | number | boolean | null>;
}

/** A person who signs in to the pages (and owns API tokens made by `ccg login` or on /settings). */
export interface UserRecord {
  id: string;
  /** Lowercase, unique, never changes (audit entries name it). */
  name: string;
  /** Matched against the Cloudflare Access assertion's email, when Access is configured. */
  email: string | null;
  role: 'admin' | 'operator' | 'viewer';
  /** Encoded Argon2id (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). */
  passwordHash: string;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
  createdBy: string;
  /** Two-factor login, when enabled: the secret sealed with the gateway key, never in plain text. */
  totp: {
    box: string;
    /** The last 30 s step accepted: that step and every earlier one are refused from now on. */
    lastStep: number;
    /** SHA-256 of the unused recovery codes. */
    recoveryHashes: string[];
    enabledAt: number;
  } | null;
  /** A secret being enrolled (shown as a QR code), until confirmed with a code. */
  totpPending: { box: string; createdAt: number } | null;
  /**
   * Credential generation (absent: 0), bumped by every password change and reset. Tokens,
   * sessions and push subscriptions made under an older one are refused.
   */
  credGen?: number;
}

/** A browser session, stored under the SHA-256 of its random id (the id itself is only in the cookie). */
export interface SessionRecord {
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  /** The anti-CSRF token of this session: in every form and in htmx's X-CSRF-Token header. */
  csrf: string;
  /** 'totp': the password was right and the second factor is still due; nothing else accepts it. */
  stage: 'full' | 'totp';
  via: 'password' | 'setup' | 'cf-access';
  remote: string;
  userAgent: string;
  /** The user's credential generation when the session was made (absent: 0). */
  credGen?: number;
}

/**
 * Something changed about who may do what: a token (revoked), a user (role, disabled, deleted,
 * password, two-factor) or a session (ended). Whoever holds a long-lived connection checks its
 * credentials again.
 */
export interface AuthChange {
  kind: 'token' | 'user' | 'session';
  /** The token's public id, the user's id, or the user id of the session(s). */
  id: string;
}

export interface AuthStore {
  /**
   * Throws ERR_STORAGE when this node cannot vouch that its copy of tokens, users and sessions is
   * current (a clustered store that has not heard from NATS for seconds: a token revoked on
   * another node would still pass here). Checked before any stored credential is honoured.
   */
  assertCredentialsCurrent?(): void;
  /** Records a nonce until `expiresAt`; resolves false if it was already there. Durable when resolved. */
  claimNonce(nonce: string, expiresAt: number): Promise<boolean>;
  pruneNonces(now: number): Promise<number>;
  getApiToken(hash: string): ApiTokenRecord | undefined;
  putApiToken(hash: string, rec: ApiTokenRecord): Promise<void>;
  getMeta<T>(key: string): T | undefined;
  putMeta(key: string, value: unknown): Promise<void>;
  /** Appends an entry, its text redacted of secrets in known formats first (`redactAuditEntry`). */
  appendAudit(entry: AuditEntry): Promise<void>;
  listAudit(opts: { limit: number }): AuditEntry[];
  /** Newest first, `limit` entries older than the opaque cursor `before`; `next` continues. */
  listAuditPage(opts: { limit: number; before?: string }): { entries: AuditEntry[]; next: string | null };
  /** What the audit log holds: its entries and the bytes of its pages on disk. Cheap (no scan). */
  auditUsage(): { entries: number; bytes: number };
  /**
   * Deletes the oldest audit entries, oldest first, at most `limit` in one transaction: every
   * entry older than `before`, and at least `atLeast` entries whatever their age. Resolves with
   * how many went. (The retention and size budget; callers loop in batches.)
   */
  trimAudit(opts: { before: number; atLeast: number; limit: number }): Promise<number>;

  // Accounts (users, sessions, and the tokens that belong to them).
  listApiTokens(): { hash: string; record: ApiTokenRecord }[];
  /** Atomic read-modify-write of a token record; `change` returns undefined to leave it as is. */
  updateApiToken(hash: string, change: (rec: ApiTokenRecord) => ApiTokenRecord | undefined): Promise<ApiTokenRecord | undefined>;
  getUser(id: string): UserRecord | undefined;
  getUserByName(name: string): UserRecord | undefined;
  listUsers(): UserRecord[];
  /** Creates a user unless the name is taken (or, with `onlyFirst`, unless any user exists). Resolves false when refused. */
  createUser(user: UserRecord, opts?: { onlyFirst?: boolean }): Promise<boolean>;
  /**
   * Atomic read-modify-write: `change` sees the latest committed record (check-and-set, e.g. a
   * TOTP step) and returns the new one, or undefined to leave it unchanged. Resolves with what was written.
   */
  updateUser(id: string, change: (user: UserRecord) => UserRecord | undefined): Promise<UserRecord | undefined>;
  deleteUser(id: string): Promise<void>;
  getSession(hash: string): SessionRecord | undefined;
  putSession(hash: string, rec: SessionRecord): Promise<void>;
  /** Resolves true when the session existed. */
  deleteSession(hash: string): Promise<boolean>;
  /** Deletes the sessions `drop` picks (a user's, or the expired ones); resolves with how many. */
  deleteSessions(drop: (rec: SessionRecord, hash: string) => boolean): Promise<number>;
  /** Hears every committed change of a token, user or session (open sockets re-check on it). */
  onAuthChange?(listener: (change: AuthChange) => void): () => void;
}

/** What a run has uploaded over its life, replaced artifacts included. */
export interface ArtifactUsage {
  uploads: number;
  bytes: number;
}

/** Artifact metadata: one record per run and name (the newest upload wins); blobs live on disk by sha256. */
export interface ArtifactIndex {
  /**
   * Records an artifact (replacing the run's earlier one of the same name) and, in the same
   * transaction, counts one more reference to its blob, one less to the blob it replaced, and
   * the upload in the run's usage. Resolves with the blobs nothing refers to any more: the
   * caller deletes their files.
   */
  putArtifact(runId: string, info: ArtifactInfo): Promise<{ unreferenced: string[] }>;
  getArtifact(runId: string, name: string): ArtifactInfo | undefined;
  /** By name. */
  listArtifacts(runId: string): ArtifactInfo[];
  usageOf(runId: string): ArtifactUsage;
  /** How many artifacts refer to the blob (0: its file may be deleted). */
  blobRefs(sha256: string): number;
}

/**
 * Artifact blobs every gateway node can read (a cluster: the JetStream object store). Without
 * one, blobs live only in the node's own `<data>/artifacts`.
 */
export interface SharedBlobs {
  /** Stores the file's content under its sha256 (nothing if already there). Resolves once durable. */
  put(sha256: string, file: string): Promise<void>;
  /** Writes the blob to `dest`; resolves false when there is no such blob. */
  fetch(sha256: string, dest: string): Promise<boolean>;
  delete(sha256: string): Promise<void>;
}

/** A browser's Web Push subscription (what PushManager.subscribe() returns), and whose it is. */
export interface PushSubscriptionRecord {
  /** SHA-256 of the endpoint, base64url: the id the API hands out. */
  id: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
  user: string;
  /** The user it belongs to (absent on subscriptions stored before this was recorded). */
  userId?: string | null;
  /** For a subscription made with a token that belongs to no user: that token's id. */
  tokenId?: string | null;
  /** The owner's credential generation when it was made (absent: 0): a password change ends it. */
  credGen?: number;
  createdAt: number;
}

/**
 * Storage for approvals and push subscriptions. Narrow, like the run store, so a clustered
 * deployment can put it elsewhere. Approvals survive a gateway restart: they are written before
 * anyone is told about them.
 */
export interface ClaudeStore {
  putApproval(a: Approval): Promise<void>;
  /**
   * Atomic read-modify-write of an approval (`change` sees the latest stored one and returns the
   * new one, or undefined to leave it). Resolves with what was written, undefined when nothing was.
   * Clustered stores have it: it is how the first answer wins across nodes.
   */
  updateApproval?(runId: string, approvalId: string, change: (a: Approval) => Approval | undefined): Promise<Approval | undefined>;
  getApproval(runId: string, approvalId: string): Approval | undefined;
  /** A run's approvals, oldest first (at most `limit`). */
  listApprovals(runId: string, limit: number): Approval[];
  /** Approvals not yet resolved, of every run (loaded at start). */
  listOpenApprovals(): Approval[];
  putPushSubscription(s: PushSubscriptionRecord): Promise<void>;
  deletePushSubscription(id: string): Promise<boolean>;
  listPushSubscriptions(): PushSubscriptionRecord[];
}

/**
 * Everything the gateway stores, behind one interface: runs and their output, accounts and
 * tokens, approvals and push subscriptions, artifact metadata. The services take the narrow part
 * they need; `createGateway` hands them one Store, and never asks which implementation it is.
 * LMDB (`LmdbStore`) is the embedded default.
 */
export interface Store extends RunStore, TermSnapshotStore, AuthStore, ClaudeStore, ArtifactIndex {
  /** Whether the store takes writes now, and what it runs on (for /healthz and `ccg doctor`). Cheap: no I/O. */
  health(): StoreHealth;
  /** Artifact blobs every node reads (a clustered store); absent: blobs stay in the node's data dir. */
  readonly blobs?: SharedBlobs;
  close(): Promise<void>;
}

/** What `Store.health()` reports. */
export interface StoreHealth {
  ok: boolean;
  /** Which implementation: 'lmdb' or 'jetstream'. */
  kind: 'lmdb' | 'jetstream';
  /** One line for a person: where the data is, or what is wrong. */
  detail: string;
  /** A clustered store: this node, the NATS servers and the replication it uses. */
  cluster?: {
    nodeId: string;
    /** The NATS server this node is connected to now (null: none). */
    server: string | null;
    /** NATS servers known in the cluster (this node's URLs and those the server announced). */
    servers: string[];
    /** The NATS cluster's name, when the servers form one. */
    name: string | null;
    replicas: number;
    /** Streams and buckets whose replicas are not all current (leader missing, peers lagging). */
    degraded: string[];
  };
}

import type { KV } from '@nats-io/kv';
import type { ArtifactInfo } from '../../../protocol/artifacts.js';
import type { Approval } from '../../../protocol/claude-control.js';
import type { RunStatus } from '../../../protocol/run.js';
import { SIGNATURE_WINDOW_S } from '../../../protocol/signing.js';
import type { Logger } from '../../log.js';
import type { ApiTokenRecord, ArtifactUsage, AuditEntry, AuthChange, PushSubscriptionRecord, RunRecord, SessionRecord, Store, StoredChunk, StoreHealth, TermSnapshot, UserRecord } from '../types.js';
import { AuditLog } from './audit-log.js';
import { JsBlobs } from './blobs.js';
import { JsChunks } from './chunks.js';
import { JsAccounts } from './js-accounts.js';
import { JsArtifacts } from './js-artifacts.js';
import { JsTermSnapshots, type TermValue } from './js-term.js';
import { joinKey, keyPart, RESOURCES } from './keys.js';
import { KvMirror } from './kv-mirror.js';
import { NatsLink, type NatsLinkOptions } from './nats-link.js';
import { createResources } from './resources.js';

export interface JetStreamStoreOptions extends NatsLinkOptions {
  /** The audit stream's max_age and max_bytes (`--audit-retention`, `--audit-max-size`). */
  audit: { retentionMs: number; maxBytes: number };
  /** How long the start waits for a JetStream that does not answer yet (a cluster electing leaders; default 60 s). */
  startTimeoutMs?: number;
}

/** How often health (stream leaders, lagging replicas) and the audit usage are read from the servers. */
const HEALTH_EVERY_MS = 10_000;
/**
 * Credentials are honoured only while the node's copies of users, tokens and sessions were known
 * current this recently (their watchdogs look every 1.5 s): a node on the minority side of a
 * split still hears its NATS server, yet hears no revocation made on the majority side.
 */
const CREDENTIALS_CONFIRMED_MS = 5000;
/** The same while a stream has no leader. */
const HEALTH_SOON_MS = 2000;

/**
 * The gateway's Store on NATS JetStream, for a cluster of gateway nodes that keep no state of
 * their own. Output and the audit log are streams; everything else is a KV bucket that every
 * node mirrors in memory (kv-mirror.ts), so the synchronous reads of the Store interface stay
 * synchronous and each node reads its own writes at once. Read-modify-writes are checked by
 * revision, so they are atomic across nodes. Resources and why: docs/ARCHITECTURE.md.
 */
export class JetStreamStore implements Store {
  private readonly runsIndex: { dirty: boolean; sorted: RunRecord[] } = { dirty: true, sorted: [] };
  private readonly approvalsByRun = new Map<string, Set<string>>();
  private readonly runListeners = new Set<(run: RunRecord) => void>();
  private healthTimer: NodeJS.Timeout | null = null;
  private degraded: string[] = [];
  /** Streams and buckets with no leader at the last look: no write to them can succeed. */
  private leaderless: string[] = [];
  /** Looks in a row at which JetStream's API did not answer. */
  private infoFailures = 0;
  private closed = false;

  private constructor(
    readonly link: NatsLink,
    private readonly runs: KvMirror<RunRecord>,
    private readonly meta: KvMirror<unknown>,
    private readonly approvals: KvMirror<Approval>,
    private readonly push: KvMirror<PushSubscriptionRecord>,
    private readonly term: JsTermSnapshots,
    private readonly nonces: KV,
    private readonly accounts: JsAccounts,
    private readonly artifacts: JsArtifacts,
    private readonly audit: AuditLog,
    private readonly chunks: JsChunks,
    private readonly mirrors: KvMirror<unknown>[],
    readonly blobs: JsBlobs,
  ) {
    runs.onChange((c) => {
      if (!c.old || !c.value || c.old.createdAt !== c.value.createdAt) this.runsIndex.dirty = true;
      if (!c.own && c.value) for (const l of this.runListeners) l(structuredClone(c.value));
    });
    for (const [k] of approvals.all()) this.indexApproval(k, true);
    approvals.onChange((c) => this.indexApproval(c.key, c.value !== undefined));
  }

  /**
   * Connects, creates what is missing (same configuration on every node; a conflicting one is an
   * error naming it), loads the buckets and follows them. Fails with a clear error when NATS
   * cannot be reached.
   */
  static async open(o: JetStreamStoreOptions): Promise<JetStreamStore> {
    const link = await NatsLink.open(o);
    // A NATS cluster that lost a server a moment ago may take seconds to elect its streams'
    // leaders: JetStream requests time out meanwhile. The start waits for it (up to a minute).
    const deadline = Date.now() + (o.startTimeoutMs ?? 60_000);
    for (let attempt = 1; ; attempt++) {
      try {
        return await JetStreamStore.load(link, o);
      } catch (err) {
        const transient = /timeout|no responders|jetstream (not|temporarily) (enabled|available)|no suitable peers|leader/i.test(String((err as Error).message));
        if (!transient || Date.now() > deadline) {
          await link.close().catch(() => undefined);
          throw err;
        }
        o.log.warn('nats.store_retry', { attempt, err: String((err as Error).message).slice(0, 200) });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private static async load(link: NatsLink, o: JetStreamStoreOptions): Promise<JetStreamStore> {
    const started: { stop(): Promise<void> }[] = [];
    try {
      const b = RESOURCES.buckets;
      // A nonce lives as long as a signature could be replayed: its timestamp ± the window.
      const kvs = await createResources(link, { audit: o.audit, nonceTtlMs: 3 * SIGNATURE_WINDOW_S * 1000 });
      const mirror = <T>(name: string) => new KvMirror<T>(link, kvs.get(name)!, name, kvs.get(b.nonces)!);
      const runs = mirror<RunRecord>(b.runs);
      const users = mirror<UserRecord | string>(b.users);
      const tokens = mirror<ApiTokenRecord>(b.tokens);
      const sessions = mirror<SessionRecord>(b.sessions);
      const meta = mirror<unknown>(b.meta);
      const approvals = mirror<Approval>(b.approvals);
      const push = mirror<PushSubscriptionRecord>(b.push);
      const artifacts = mirror<ArtifactInfo | number | ArtifactUsage>(b.artifacts);
      const term = mirror<TermValue>(b.term);
      const mirrors = [runs, users, tokens, sessions, meta, approvals, push, artifacts, term] as KvMirror<unknown>[];
      started.push(...mirrors);
      await Promise.all(mirrors.map((m) => m.start()));
      const audit = new AuditLog(link);
      started.push(audit);
      await audit.start();
      const store: JetStreamStore = new JetStreamStore(link, runs, meta, approvals, push, new JsTermSnapshots(term), kvs.get(b.nonces)!, new JsAccounts(users, tokens, sessions), new JsArtifacts(artifacts), audit, new JsChunks(link, o.log, (id) => store.getRun(id)?.lastSeq ?? 0), mirrors, await JsBlobs.open(link));
      store.startHealth();
      o.log.info('nats.store_ready', { node: link.nodeId, servers: link.servers().join(','), replicas: link.replicas, runs: runs.size });
      return store;
    } catch (err) {
      // Followers already started stop: a retry starts them afresh.
      await Promise.all(started.map((s) => s.stop()));
      throw err;
    }
  }

  /** This node's id (`n-<6 hex>`). */
  get nodeId(): string {
    return this.link.nodeId;
  }

  // ---- runs

  async createRun(run: RunRecord): Promise<void> {
    await this.runs.put(keyPart(run.id), run);
  }

  fetchRun(id: string): Promise<RunRecord | undefined> {
    return this.runs.refresh(keyPart(id));
  }

  getRun(id: string): RunRecord | undefined {
    return this.runs.get(keyPart(id));
  }

  listRuns(opts: { limit: number; status?: RunStatus }): RunRecord[] {
    if (this.runsIndex.dirty) {
      this.runsIndex.sorted = [...this.runs.all()].map(([, r]) => r).sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
      this.runsIndex.dirty = false;
    }
    const out: RunRecord[] = [];
    for (const r of this.runsIndex.sorted) {
      // The sorted list holds the records as they were sorted: the current one is in the mirror.
      const cur = this.runs.get(keyPart(r.id));
      if (!cur || (opts.status && cur.status !== opts.status)) continue;
      out.push(cur);
      if (out.length >= opts.limit) break;
    }
    return out;
  }

  countRuns(): number {
    return this.runs.size;
  }

  async putRun(run: RunRecord): Promise<void> {
    await this.runs.put(keyPart(run.id), run);
  }

  /** Atomic across nodes (revision-checked): a cancel on one node and progress on another both stay. */
  updateRun(id: string, change: (run: RunRecord) => RunRecord | undefined): Promise<RunRecord | undefined> {
    return this.runs.update(keyPart(id), change);
  }

  onRunChange(listener: (run: RunRecord) => void): () => void {
    this.runListeners.add(listener);
    return () => this.runListeners.delete(listener);
  }

  appendChunk(runId: string, chunk: StoredChunk): Promise<void> {
    return this.chunks.append(runId, chunk);
  }

  readChunks(runId: string, from: number, opts: { limit: number; maxBytes: number }): Promise<StoredChunk[]> {
    return this.chunks.read(runId, from, opts);
  }

  readChunksBefore(runId: string, before: number, opts: { limit: number; maxBytes: number }): Promise<StoredChunk[]> {
    return this.chunks.readBefore(runId, before, opts);
  }

  lastSeq(runId: string): Promise<number> {
    return this.chunks.lastSeq(runId);
  }

  // ---- screen snapshots

  /** Never replaces a newer one, whichever node took it (js-term.ts). */
  putTermSnapshot(runId: string, snap: TermSnapshot): Promise<void> {
    return this.term.putTermSnapshot(runId, snap);
  }

  latestTermSnapshot(runId: string): TermSnapshot | undefined {
    return this.term.latestTermSnapshot(runId);
  }

  // ---- auth

  async claimNonce(nonce: string, expiresAt: number): Promise<boolean> {
    this.link.mustBeUp();
    try {
      await this.nonces.create(keyPart(nonce), String(expiresAt));
      return true;
    } catch (err) {
      if (/wrong last sequence/i.test(String((err as Error).message))) return false;
      throw this.link.storageError(err, 'nonce claim');
    }
  }

  /** The bucket's max_age drops nonces on every server: nothing to prune. */
  async pruneNonces(): Promise<number> {
    return 0;
  }

  assertCredentialsCurrent(): void {
    this.link.mustBeCurrent();
    this.accounts.mustBeConfirmed(CREDENTIALS_CONFIRMED_MS);
  }

  getApiToken(hash: string): ApiTokenRecord | undefined {
    return this.accounts.getApiToken(hash);
  }
  putApiToken(hash: string, rec: ApiTokenRecord): Promise<void> {
    return this.accounts.putApiToken(hash, rec);
  }
  listApiTokens(): { hash: string; record: ApiTokenRecord }[] {
    return this.accounts.listApiTokens();
  }
  updateApiToken(hash: string, change: (rec: ApiTokenRecord) => ApiTokenRecord | undefined): Promise<ApiTokenRecord | undefined> {
    return this.accounts.updateApiToken(hash, change);
  }

  getMeta<T>(key: string): T | undefined {
    return this.meta.get(keyPart(key)) as T | undefined;
  }
  async putMeta(key: string, value: unknown): Promise<void> {
    await this.meta.put(keyPart(key), value);
  }
  /** Stores `value` under `key` unless some node stored one first; resolves with what is stored. */
  async claimMeta<T>(key: string, value: T): Promise<T> {
    await this.meta.upsert(keyPart(key), (cur) => (cur === undefined ? value : undefined));
    return this.meta.get(keyPart(key)) as T;
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    return this.audit.append(entry);
  }
  listAudit(opts: { limit: number }): AuditEntry[] {
    return this.audit.list(opts.limit);
  }
  listAuditPage(opts: { limit: number; before?: string }): { entries: AuditEntry[]; next: string | null } {
    return this.audit.page(opts.limit, opts.before);
  }
  auditUsage(): { entries: number; bytes: number } {
    return this.audit.usageNow();
  }
  /** The stream's max_age and max_bytes keep the budget (JetStream drops the oldest): nothing to trim here. */
  async trimAudit(): Promise<number> {
    return 0;
  }

  getUser(id: string): UserRecord | undefined {
    return this.accounts.getUser(id);
  }
  getUserByName(name: string): UserRecord | undefined {
    return this.accounts.getUserByName(name);
  }
  listUsers(): UserRecord[] {
    return this.accounts.listUsers();
  }
  createUser(user: UserRecord, opts?: { onlyFirst?: boolean }): Promise<boolean> {
    return this.accounts.createUser(user, opts);
  }
  updateUser(id: string, change: (user: UserRecord) => UserRecord | undefined): Promise<UserRecord | undefined> {
    return this.accounts.updateUser(id, change);
  }
  deleteUser(id: string): Promise<void> {
    return this.accounts.deleteUser(id);
  }
  getSession(hash: string): SessionRecord | undefined {
    return this.accounts.getSession(hash);
  }
  putSession(hash: string, rec: SessionRecord): Promise<void> {
    return this.accounts.putSession(hash, rec);
  }
  deleteSession(hash: string): Promise<boolean> {
    return this.accounts.deleteSession(hash);
  }
  deleteSessions(drop: (rec: SessionRecord, hash: string) => boolean): Promise<number> {
    return this.accounts.deleteSessions(drop);
  }
  onAuthChange(listener: (change: AuthChange) => void): () => void {
    return this.accounts.onAuthChange(listener);
  }

  // ---- approvals and push subscriptions

  private indexApproval(key: string, present: boolean): void {
    const runId = key.slice(0, key.indexOf('.'));
    let set = this.approvalsByRun.get(runId);
    if (present) {
      if (!set) this.approvalsByRun.set(runId, (set = new Set()));
      set.add(key);
    } else if (set) {
      set.delete(key);
      if (set.size === 0) this.approvalsByRun.delete(runId);
    }
  }

  async putApproval(a: Approval): Promise<void> {
    await this.approvals.put(joinKey(a.runId, a.approvalId), a);
  }
  updateApproval(runId: string, approvalId: string, change: (a: Approval) => Approval | undefined): Promise<Approval | undefined> {
    return this.approvals.update(joinKey(runId, approvalId), change);
  }
  getApproval(runId: string, approvalId: string): Approval | undefined {
    return this.approvals.get(joinKey(runId, approvalId));
  }
  listApprovals(runId: string, limit: number): Approval[] {
    const out: Approval[] = [];
    for (const k of this.approvalsByRun.get(keyPart(runId)) ?? []) {
      const a = this.approvals.get(k);
      if (a) out.push(a);
    }
    return out.sort((a, b) => a.requestedAt - b.requestedAt).slice(-limit);
  }
  listOpenApprovals(): Approval[] {
    const out: Approval[] = [];
    for (const [, a] of this.approvals.all()) if (a.state !== 'resolved') out.push(structuredClone(a));
    return out;
  }
  async putPushSubscription(s: PushSubscriptionRecord): Promise<void> {
    await this.push.put(keyPart(s.id), s);
  }
  deletePushSubscription(id: string): Promise<boolean> {
    return this.push.delete(keyPart(id));
  }
  listPushSubscriptions(): PushSubscriptionRecord[] {
    return [...this.push.all()].map(([, s]) => structuredClone(s));
  }

  // ---- artifact metadata

  putArtifact(runId: string, info: ArtifactInfo): Promise<{ unreferenced: string[] }> {
    return this.artifacts.putArtifact(runId, info);
  }
  getArtifact(runId: string, name: string): ArtifactInfo | undefined {
    return this.artifacts.getArtifact(runId, name);
  }
  listArtifacts(runId: string): ArtifactInfo[] {
    return this.artifacts.listArtifacts(runId);
  }
  usageOf(runId: string): ArtifactUsage {
    return this.artifacts.usageOf(runId);
  }
  blobRefs(sha256: string): number {
    return this.artifacts.blobRefs(sha256);
  }

  // ---- health

  private startHealth(): void {
    // Looked at again sooner while a stream has no leader, so a node is ready soon after it has one.
    const tick = () => {
      void this.refreshHealth()
        .catch(() => undefined)
        .then(() => {
          if (this.closed) return;
          this.healthTimer = setTimeout(tick, this.leaderless.length > 0 || this.infoFailures > 0 ? HEALTH_SOON_MS : HEALTH_EVERY_MS);
          this.healthTimer.unref();
        });
    };
    tick();
  }

  /**
   * Reads every stream's cluster state: a stream without a leader, or with a replica offline or
   * behind, is degraded. One without a leader (or whose state JetStream cannot give) takes no
   * writes at all: the store is then not ok (/readyz 503, `ccg doctor` fails), where a replica
   * offline still leaves a quorum that writes.
   */
  async refreshHealth(): Promise<void> {
    if (!this.link.connected) return;
    const names = [RESOURCES.out, RESOURCES.audit, `OBJ_${RESOURCES.blobs}`, ...Object.values(RESOURCES.buckets).map((b) => `KV_${b}`)];
    const degraded: string[] = [];
    const leaderless: string[] = [];
    for (const name of names) {
      let info;
      try {
        info = await this.link.jsm.streams.info(name);
      } catch {
        if (!this.link.connected) return; // the link says why
        // JetStream's API does not answer (no meta leader: the quorum is lost; or a moment of a
        // leader election, which one failed look must not turn into every node not ready):
        // twice in a row, the store takes no writes. Asking about the other streams would take
        // a timeout each.
        if (++this.infoFailures < 2) return;
        this.degraded = names;
        this.leaderless = names;
        return;
      }
      this.infoFailures = 0;
      const c = info.cluster;
      if (!c || this.link.replicas === 1) continue;
      if (!c.leader) leaderless.push(name);
      if (!c.leader || (c.replicas ?? []).some((r) => r.offline || !r.current)) degraded.push(name);
    }
    this.degraded = degraded;
    this.leaderless = leaderless;
    await this.audit.refresh();
  }

  health(): StoreHealth {
    const nc = this.link.nc as unknown as { info?: { cluster?: string } };
    const current = this.link.current;
    const ok = !this.closed && current && this.leaderless.length === 0;
    const server = this.link.connected ? this.link.nc.getServer() : null;
    const detail = this.closed
      ? 'closed'
      : !this.link.connected
        ? `NATS unreachable (${this.link.problem}): writes are refused`
        : !current
          ? `NATS at ${server} is not answering: credentials are not honoured until it does`
          : this.leaderless.length > 0
            ? `JetStream has no leader for ${this.leaderless.join(', ')} (quorum lost?): writes fail`
            : `JetStream via ${server}, R${this.link.replicas}${this.degraded.length ? `, degraded: ${this.degraded.join(', ')}` : ''}`;
    return {
      ok,
      kind: 'jetstream',
      detail,
      cluster: { nodeId: this.link.nodeId, server, servers: this.link.servers(), name: nc.info?.cluster ?? null, replicas: this.link.replicas, degraded: [...this.degraded] },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.healthTimer) clearTimeout(this.healthTimer);
    await Promise.all(this.mirrors.map((m) => m.stop()));
    await this.audit.stop();
    await this.link.close();
  }
}

import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import type { GatewayAssist, GatewayCollect, GatewayExec, GatewayToRunner } from '../../protocol/runner-messages.js';
import { CcgError } from '../../protocol/errors.js';
import { STREAM_EVENT } from '../../protocol/frames.js';
import { newRunId, newRunToken } from '../../protocol/ids.js';
import { emptyClaudeState, type ClaudeRunState } from '../../protocol/claude-run-state.js';
import { isFinal, runEnded, type RunOrigin, type RunnerInfo, type RunStatus, type RunSummary } from '../../protocol/run.js';
import { toLiveChunk, type EventBus, type LiveChunk } from '../live/bus.js';
import type { FollowSource } from '../live/follower.js';
import type { RunnerRouter } from './runner-router.js';
import type { SecretBox } from '../auth/secret-box.js';
import type { Credits } from './credits.js';
import type { Logger } from '../log.js';
import type { AuthStore, RunRecord, RunStore, StoredChunk, WriteUrgency } from '../store/types.js';
import { EventChunkRedactor } from '../../protocol/event-redaction.js';
import { ChunkRedactor, Redaction, unredactedId } from '../../protocol/redaction.js';

/** What the run service needs of a connected runner socket. */
export interface RunnerLink {
  /** Asks the runner to stop its child: `by` an operator, with the id that vouches for them (credits.ts). */
  sendCancel(cancel: { by: string; controlId?: string }): void;
  /** Like `send`. */
  sendExec(msg: GatewayExec): void | Promise<void>;
  /**
   * Any other message for the runner (approval decisions, input, resize). Through another node
   * (cluster) with `confirm`, a promise: resolved once that node's socket took it, rejected
   * (ERR_RUNNER_AWAY) when no node holds the runner any more; without, published and forgotten.
   */
  send(msg: GatewayToRunner, confirm?: boolean): void | Promise<void>;
  /** Ends the socket with an error code (used when another connection takes over). */
  kick(code: CcgError): void;
}

/** Ingest state of a run whose output is flowing: kept in memory, rebuilt from the store. */
interface Live {
  /** Highest seq accepted and handed to the store (maybe not yet committed). */
  receivedSeq: number;
  /** Highest seq the store has committed with every seq before it: the only number ever acknowledged. */
  committedSeq: number;
  /** Seqs past committedSeq whose writes completed, waiting for the ones before them. */
  stored: Set<number>;
  /** Chunks after committedSeq, in seq order: fanned out, not yet committed. */
  inFlight: LiveChunk[];
  /** Accepted chunks not yet fanned out, in seq order: held behind an event chunk until it is committed. */
  unpublished: LiveChunk[];
  /** A fan-out of `unpublished` is queued (one per turn, whatever the chunks)… */
  fanOutQueued: boolean;
  /** …this one, made once per run rather than once per line. */
  fanOutTask: () => void;
  pendingBytes: number;
  /** Writes handed to the store and not yet finished (successfully or not). */
  writing: number;
  /** Called once `writing` is back to 0 (recordExit, a rebuild of this state, shutdown). */
  whenIdle: (() => void)[];
  progressTimer: NodeJS.Timeout | null;
  /** The gateway's own redaction pass, one per stream (the runner already redacted; this is defence in depth). */
  redactors: Map<number, { apply(data: Uint8Array): Buffer }>;
  redaction: Redaction;
  /** The ids of operators' inputs and controls the run's events used (credits.ts: each vouches for one event). */
  usedIds: Map<string, number>;
  /** The last group of writes, until its commit (or failure) is handled: a chunk whose write shares its promise joins it. */
  group: WriteGroup | null;
}

/**
 * Chunks of one run whose store writes share one promise (an LmdbStore batch): their commit is
 * handled once. A chunk joins only a group not yet handled (Live.group), so a store that hands out
 * one settled promise for many writes still has each of them handled.
 */
interface WriteGroup {
  done: Promise<void>;
  seqs: number[];
  bytes: number;
  /** The run's record when the group began (the cache's copy is used when there is one). */
  run: RunRecord;
  onCommitted: (seq: number) => void;
  onFailed: (err: unknown) => void;
}

export interface RunServiceOptions {
  store: RunStore;
  bus: EventBus;
  box: SecretBox;
  /** Mints the ids that vouch for who sent what, and credits the names in event chunks as they arrive. */
  credits: Credits;
  log: Logger;
  now: () => number;
  maxRuns: number;
  maxRunBytes: number;
  /** A cancelled run whose runner has not ended it within this long is revoked (default 30 s). */
  cancelGraceMs?: number;
  /** Where revocations are audited. */
  audit?: Pick<AuthStore, 'appendAudit'>;
  /** Clustered gateway: reaches a runner whose socket another node holds (runner-router.ts). */
  router?: RunnerRouter;
}

/** How long a cancelled run may take to end before the gateway revokes it. */
export const DEFAULT_CANCEL_GRACE_MS = 30_000;

/** Seconds between progress (lastSeq/bytes) updates to run watchers and the stored record. */
const PROGRESS_INTERVAL_MS = 1000;

/** Requests of one run awaiting their answer; beyond this the oldest is forgotten (its answer goes unaudited). */
export const MAX_OPEN_REQUESTS = 256;
/** Runner reports that answer no request (collection at exit, an assist session's end) audited per run. */
export const MAX_UNSOLICITED_AUDIT = 16;

/**
 * The run lifecycle and the durable ingest path. Routes and sockets call this; it owns the
 * in-memory truth of active runs (LMDB reads do not see writes before they commit, so updates
 * go through a write-through cache rather than read-modify-write on the store).
 */
export class RunService {
  private readonly cache = new Map<string, RunRecord>();
  /** Runs whose runner went away without reporting an exit, and when (in memory: a restarted gateway knows only "not connected"). */
  private readonly lostAt = new Map<string, number>();
  private readonly live = new Map<string, Live>();
  /**
   * The stored end of runs with no ingest state here (ended runs, runs whose runner has not come
   * back): read from the store by `latestSeq` and `primeSeqs`, since chunk reads are asynchronous
   * and `committedSeq` is not. Bounded: an entry that goes falls back to the record's lastSeq.
   */
  private readonly settled = new Map<string, number>();
  private readonly runners = new Map<string, RunnerLink>();
  /** What to do after ingest and after commits (fan-out, acks), run together in the next check phase: see `afterCommit`. */
  private afterCommitQueue: (() => void)[] = [];
  private afterCommitTimer: NodeJS.Immediate | null = null;
  /** Cancelled runs waiting to end: revoked when their timer fires first. */
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  /** Per run: request ids issued and not yet answered, and how many unsolicited reports were audited. */
  private readonly answers = new Map<string, { open: Set<string>; unsolicited: number }>();

  constructor(private readonly o: RunServiceOptions) {
    // Another node took a runner over (it reconnected there): this node lets its socket go.
    o.router?.onTakeover((id) => {
      // Whether and when the runner is lost is for its new holder to say.
      this.lostAt.delete(id);
      const link = this.runners.get(id);
      if (!link) return;
      this.runners.delete(id);
      link.kick(new CcgError('ERR_REPLACED'));
    });
    o.router?.onRevoke((id) => {
      for (const fn of this.revokeHooks) fn(id);
    });
    // Another node changed a run (a cancel, its runner's progress): the cached record takes it,
    // keeping the output counters this node may be ahead on (it holds the runner).
    o.store.onRunChange?.((run) => {
      const mine = this.cache.get(run.id);
      if (!mine) return;
      this.cache.set(run.id, { ...run, bytes: Math.max(run.bytes, mine.bytes), lastSeq: Math.max(run.lastSeq, mine.lastSeq) });
    });
  }

  /** The run's runner: its socket on this node, or through the node that holds it (cluster). */
  private linkOf(id: string): RunnerLink | undefined {
    return this.runners.get(id) ?? this.o.router?.remote(id, this.get(id)?.runnerNode);
  }

  /**
   * Runs `fn` from setImmediate, never from the promise continuation of a commit. lmdb-js often
   * resolves a commit inside a later put(), i.e. inside a runner socket's message callback, and
   * uWS.js drains microtasks at the end of that callback while uSockets is still decrypting the
   * runner's TLS input: a write to any TLS socket at that moment (a viewer's VIEW frame, an ack)
   * makes uSockets drop the rest of that input, and the runner is disconnected (1006). Found by
   * `npm run bench` (bulk, 64 KiB chunks, one live viewer). Order is kept.
   */
  private afterCommit(fn: () => void): void {
    this.afterCommitQueue.push(fn);
    this.afterCommitTimer ??= setImmediate(() => {
      const queue = this.afterCommitQueue;
      this.afterCommitQueue = [];
      this.afterCommitTimer = null;
      for (const f of queue) {
        // One failing step (a listener, a socket) must not skip the others or end the process.
        try {
          f();
        } catch (err) {
          this.o.log.error('run.after_commit_failed', { err: String(err).slice(0, 300) });
        }
      }
    });
  }

  tokenContext(id: string): string {
    return `run-token:${id}`;
  }

  async create(name: string | undefined, createdBy: string, opts: { maxBudgetUsd?: number | undefined } = {}): Promise<{ run: RunRecord; token: string }> {
    if (this.o.store.countRuns() >= this.o.maxRuns) {
      throw new CcgError('ERR_RUN_LIMIT', `the gateway holds its maximum of ${this.o.maxRuns} runs`);
    }
    const id = newRunId();
    const token = newRunToken();
    const now = this.o.now();
    const run: RunRecord = {
      id,
      name: name ?? `run ${id.slice(0, 6)}`,
      status: 'created',
      runnerConnected: false,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      endedAt: null,
      exitCode: null,
      signal: null,
      reason: null,
      lastSeq: 0,
      bytes: 0,
      createdBy,
      runner: null,
      ...(opts.maxBudgetUsd !== undefined ? { claude: emptyClaudeState(opts.maxBudgetUsd) } : {}),
      tokenBox: this.o.box.seal(token, this.tokenContext(id)),
      cancelRequestedBy: null,
    };
    await this.o.store.createRun(run);
    this.o.bus.publish('run', this.summary(run));
    return { run, token };
  }

  get(id: string): RunRecord | undefined {
    return this.cache.get(id) ?? this.o.store.getRun(id);
  }

  mustGet(id: string): RunRecord {
    const run = this.get(id);
    if (!run) throw new CcgError('ERR_RUN_NOT_FOUND', `no run with id ${id}`);
    return run;
  }

  /** The run's token, for signature checks only. */
  tokenOf(run: RunRecord): string | undefined {
    return this.o.box.open(run.tokenBox, this.tokenContext(run.id));
  }

  list(opts: { limit: number; status?: RunStatus }): RunSummary[] {
    return this.o.store.listRuns(opts).map((r) => this.summary(this.cache.get(r.id) ?? r));
  }

  summary(run: RunRecord): RunSummary {
    const { tokenBox: _t, cancelRequestedBy: _c, revokedBy: _r, runnerNode, ...pub } = run;
    const lostAt = this.lostAt.get(run.id);
    const connected = this.runners.has(run.id) || Boolean(this.o.router?.remote(run.id, runnerNode));
    return {
      ...pub,
      runnerConnected: connected,
      lastSeq: this.ingestHere(run.id)?.committedSeq ?? this.knownEnd(run.id, run.lastSeq),
      ...(lostAt !== undefined && !isFinal(run.status) && !connected ? { runnerLostAt: lostAt } : {}),
    };
  }

  /** Changes what the run's summary says about Claude (cost, retries, budget; claude-state.ts). */
  async setClaude(id: string, patch: (state: ClaudeRunState) => ClaudeRunState): Promise<void> {
    const run = this.get(id);
    if (!run) return;
    await this.update(id, (r) => {
      r.claude = patch(r.claude ?? emptyClaudeState());
    });
  }

  private async update(id: string, patch: (run: RunRecord) => void): Promise<RunRecord> {
    const run = { ...this.mustGet(id) };
    patch(run);
    run.updatedAt = this.o.now();
    this.cache.set(id, run);
    this.o.bus.publish('run', this.summary(run));
    return this.write(run, patch);
  }

  /**
   * Stores a changed record: whole on one gateway; on a cluster, `patch` is applied again to the
   * latest stored record (another node may have changed the run since), so no node's change
   * overwrites another's, and the cache takes the result unless a newer change replaced it.
   */
  private async write(run: RunRecord, patch: (run: RunRecord) => void, urgency: WriteUrgency = 'soon'): Promise<RunRecord> {
    if (!this.o.store.updateRun) {
      await this.o.store.putRun(run, urgency);
      return run;
    }
    const stored = await this.o.store.updateRun(run.id, (latest) => {
      const next = { ...latest };
      patch(next);
      next.updatedAt = run.updatedAt;
      return next;
    });
    if (!stored) return run;
    const mine = this.cache.get(run.id);
    if (mine === run) this.cache.set(run.id, { ...stored, bytes: Math.max(stored.bytes, run.bytes), lastSeq: Math.max(stored.lastSeq, run.lastSeq) });
    return stored;
  }

  /** Records how a machine started this run (machines.ts): its workspace, links, Claude's session. */
  setOrigin(id: string, origin: RunOrigin): Promise<RunRecord> {
    return this.update(id, (r) => {
      r.origin = origin;
    });
  }

  // ---- runner connection lifecycle

  /** Registers a connected runner; any earlier connection of the same run is kicked. */
  async attachRunner(id: string, link: RunnerLink, info: RunnerInfo): Promise<{ nextSeq: number; run: RunRecord }> {
    // Clustered, a runner not attached here may have streamed into other nodes since this one
    // last took its output (whether or not the record still names one: a node lets go of the
    // runner when it leaves), so what this node knew of the ingest is stale: it starts again from
    // the store's end (where every seq before is stored). A chunk not stored by then was never
    // acknowledged: the runner resends it.
    const stale = this.live.get(id);
    if (stale && this.o.router && (!this.runners.has(id) || this.heldElsewhere(id))) {
      // Its writes finish first: a write finishing later would count its bytes (and fan its
      // chunk out) a second time when the runner resends it here.
      if (!(await this.writesDone(stale, 10_000))) this.o.log.warn('run.writes_outlived', { run: id, writing: stale.writing });
      if (stale.progressTimer) clearTimeout(stale.progressTimer);
      stale.progressTimer = null;
      if (this.live.get(id) === stale) this.live.delete(id);
      this.remember(id, stale.committedSeq);
    }
    // The stored end, read before the link is registered (no chunk of this socket comes before its welcome).
    const stored = this.live.has(id) ? undefined : await this.o.store.lastSeq(id);
    const previous = this.runners.get(id);
    if (previous && previous !== link) previous.kick(new CcgError('ERR_REPLACED'));
    this.runners.set(id, link);
    this.o.router?.attached(id, this.routedLink(id, link));
    this.lostAt.delete(id);
    const live = this.liveOf(id, stored);
    // The command line is displayed to every viewer: redacted again here, as output is.
    const command = info.command.map((a) => live.redaction.applyBytes(Buffer.from(a, 'utf8')).toString('utf8'));
    const run = await this.update(id, (r) => {
      r.runner = { ...info, command };
      if (this.o.router) r.runnerNode = this.o.router.node;
      if (r.status === 'created') r.status = 'connected';
    });
    // A cancel this runner has not honoured yet (say from before a gateway restart): the clock runs.
    if (run.cancelRequestedBy) this.armGrace(id);
    // The welcome names what is durable: a restarted runner drops its spool up to there, so a
    // chunk of its predecessor still in a write batch (output lingers: step 9 of ARCHITECTURE.md)
    // would be lost if that write failed or the gateway died now. Those writes finish first
    // (hurried); past 10 s the runner resends them and the duplicates are dropped.
    if (live.writing > 0) await this.writesDone(live, 10_000);
    return { nextSeq: (live.writing > 0 ? live.committedSeq : live.receivedSeq) + 1, run };
  }

  detachRunner(id: string, link: RunnerLink): void {
    if (this.runners.get(id) !== link) return;
    this.runners.delete(id);
    this.o.router?.detached(id, this.routedLink(id, link));
    const run = this.get(id);
    if (run && !isFinal(run.status)) this.lostAt.set(id, this.o.now());
    if (run?.runnerNode && run.runnerNode === this.o.router?.node) {
      // Other nodes read who holds the runner from the record.
      this.update(id, (r) => {
        if (r.runnerNode === this.o.router?.node) r.runnerNode = null;
      }).catch((err: unknown) => this.o.log.warn('run.detach_write_failed', { run: id, err: String(err).slice(0, 300) }));
    } else if (run) this.o.bus.publish('run', this.summary(run));
  }

  async started(id: string): Promise<void> {
    const run = this.mustGet(id);
    if (isFinal(run.status)) throw runEnded(id, run.status);
    await this.update(id, (r) => {
      // A reconnecting runner says `started` again: a run waiting for an operator stays waiting.
      if (!isFinal(r.status) && r.status !== 'waiting') r.status = 'running';
      r.startedAt ??= this.o.now();
    });
  }

  // ---- output

  private liveOf(id: string, storedSeq?: number): Live {
    let live = this.live.get(id);
    if (!live) {
      // attachRunner reads the stored end first; other callers come after it (they need a runner).
      const seq = storedSeq ?? this.committedSeq(id);
      const run = this.get(id);
      const token = run ? this.tokenOf(run) : undefined;
      const redaction = new Redaction({ literals: token ? [{ kind: 'ccg-token', value: token }] : [] });
      const fresh: Live = {
        receivedSeq: seq, committedSeq: seq, stored: new Set(), inFlight: [], unpublished: [], fanOutQueued: false,
        fanOutTask: () => {
          fresh.fanOutQueued = false;
          this.fanOut(id, fresh);
        },
        pendingBytes: 0, writing: 0, whenIdle: [], progressTimer: null, redactors: new Map(), redaction, usedIds: new Map(), group: null,
      };
      live = fresh;
      this.live.set(id, live);
      this.settled.delete(id);
    }
    return live;
  }

  /**
   * The highest committed seq of a run: exact for a run whose output flows through this service;
   * otherwise the stored end last read (`latestSeq`, `primeSeqs`), or the record's lastSeq.
   */
  committedSeq(id: string): number {
    return this.ingestHere(id)?.committedSeq ?? this.knownEnd(id, this.get(id)?.lastSeq ?? 0);
  }

  /** The highest committed seq, read from the store when no output flows through this service (then `committedSeq` agrees). */
  async latestSeq(id: string): Promise<number> {
    const live = this.ingestHere(id);
    if (live) return live.committedSeq;
    const seq = await this.o.store.lastSeq(id);
    if (!this.ingestHere(id)) this.remember(id, seq);
    return this.committedSeq(id);
  }

  /**
   * This service's ingest state of a run when its numbers are the run's: always on a single
   * gateway; clustered, only while the runner is attached here. Once it left, another node may
   * take its output on, and what this node counted stops where the runner left it (a viewer here
   * read the run up to there and no further, the cluster fault test's short reads).
   */
  private ingestHere(id: string): Live | undefined {
    const live = this.live.get(id);
    return live && (!this.o.router || (this.runners.has(id) && !this.heldElsewhere(id))) ? live : undefined;
  }

  /**
   * Clustered: the record says another node holds the runner (or held it last). A socket this
   * node still has for it is then a dead one whose takeover message did not arrive (NATS core
   * delivers at most once).
   */
  private heldElsewhere(id: string): boolean {
    const node = this.get(id)?.runnerNode;
    return Boolean(this.o.router && node && node !== this.o.router.node);
  }

  /** Resolves true once none of the run's writes is under way, false if some still are after `ms`. */
  private writesDone(live: Live, ms: number): Promise<boolean> {
    if (live.writing === 0) return Promise.resolve(true);
    this.o.store.hurry?.(); // output lingers in a batch while only its ack waits
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      live.whenIdle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** The end of a run's output as far as this node knows without its runner: output only grows, so the most any source says. */
  private knownEnd(id: string, recordSeq: number): number {
    return Math.max(recordSeq, this.settled.get(id) ?? 0, this.live.get(id)?.committedSeq ?? 0);
  }

  /**
   * Reads the stored end of every run not yet final (at start: a gateway that stopped between a
   * commit and the next progress write left the record behind the chunks).
   */
  async primeSeqs(): Promise<void> {
    for (const status of ['created', 'connected', 'running', 'waiting'] as const) {
      for (const run of this.o.store.listRuns({ limit: 10_000, status })) await this.latestSeq(run.id);
    }
  }

  private remember(id: string, seq: number): void {
    this.settled.delete(id);
    this.settled.set(id, seq);
    if (this.settled.size > 50_000) this.settled.delete(this.settled.keys().next().value!);
  }

  /** Accepted chunks of a run not yet committed, from `from` on, in order (they are fanned out before their commit). */
  pendingChunks(id: string, from: number): readonly LiveChunk[] {
    const inFlight = this.ingestHere(id)?.inFlight ?? [];
    const first = inFlight.findIndex((c) => c.seq >= from);
    return first < 0 ? [] : inFlight.slice(first);
  }

  /** Where viewers' followers read: the store up to the commit, then the chunks in flight, then the bus. */
  get followSource(): FollowSource {
    return (this.follow ??= {
      // A run whose runner another node holds: whatever the store has is committed, and the chunks
      // that node fanned out before their commit come from the bus.
      committedSeq: (id) => (this.heldElsewhere(id) ? Number.MAX_SAFE_INTEGER : this.committedSeq(id)),
      readChunks: (id, from, opts) => this.o.store.readChunks(id, from, opts),
      pendingChunks: (id, from) => (this.heldElsewhere(id) ? (this.o.bus.remoteChunks?.(id, from) ?? []) : this.pendingChunks(id, from)),
      bus: this.o.bus,
    });
  }
  private follow: FollowSource | null = null;

  /**
   * Accepts one output chunk from the runner. Returns 'duplicate' for a chunk the gateway already
   * has (a resend after reconnect), or the promise of its commit.
   */
  ingest(id: string, chunk: StoredChunk, onCommitted: (seq: number) => void, onFailed: (err: unknown) => void): 'duplicate' | 'accepted' {
    const live = this.liveOf(id);
    if (chunk.seq <= live.receivedSeq) return 'duplicate';
    if (chunk.seq !== live.receivedSeq + 1) {
      throw new CcgError('ERR_SEQ_GAP', `expected seq ${live.receivedSeq + 1}, got ${chunk.seq}`);
    }
    const run = this.mustGet(id);
    // Nothing is added to a run once it is final (a resend of what it has is a duplicate, above).
    if (isFinal(run.status)) throw runEnded(id, run.status, ', no more output');
    if (run.bytes + live.pendingBytes + chunk.data.length > this.o.maxRunBytes) {
      throw new CcgError('ERR_OUTPUT_LIMIT', `run output exceeds ${this.o.maxRunBytes} bytes`);
    }
    let redactor = live.redactors.get(chunk.stream);
    // Events are redacted string by string, so a redaction never runs past its string (or line) and drops the event.
    if (!redactor) live.redactors.set(chunk.stream, (redactor = chunk.stream === STREAM_EVENT ? new EventChunkRedactor(live.redaction) : new ChunkRedactor(live.redaction)));
    // An operator's name in an event stays only where the gateway vouches for it (credits.ts).
    const data = chunk.stream === STREAM_EVENT ? this.o.credits.chunk(id, Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength), live.usedIds, chunk.seq) : chunk.data;
    const redacted = redactor.apply(data);
    // The headroom before the data goes with it; a redacted copy has none.
    chunk = { seq: chunk.seq, stream: chunk.stream, time: chunk.time, data: redacted, headroom: redacted === chunk.data ? (chunk.headroom ?? 0) : 0 };
    live.receivedSeq = chunk.seq;
    live.pendingBytes += chunk.data.length;
    // Fan-out before the commit: viewers get the chunk now, validated and redacted; the runner's
    // ack still waits for the commit (docs/ARCHITECTURE.md, "Fan-out before the commit"). An
    // event chunk is parsed here, once: viewers, sections and services share the items.
    const published = toLiveChunk(chunk, true);
    live.unpublished.push(published);
    if (!live.fanOutQueued) {
      live.fanOutQueued = true;
      this.afterCommit(live.fanOutTask);
    }
    // Only the ack waits for output's commit; services and viewers wait for an event chunk's.
    const appended = this.o.store.appendChunk(id, chunk, chunk.stream === STREAM_EVENT ? 'soon' : 'lazy');
    live.writing++; // after the call: a store that threw has no write under way
    // Writes that share one promise (an LmdbStore batch) complete as one group: one continuation
    // and one after-commit step per batch instead of per chunk.
    const open = live.group;
    if (open && open.done === appended && open.onCommitted === onCommitted && open.onFailed === onFailed) {
      open.seqs.push(chunk.seq);
      open.bytes += chunk.data.length;
      return 'accepted';
    }
    const group: WriteGroup = { done: appended, seqs: [chunk.seq], bytes: chunk.data.length, run, onCommitted, onFailed };
    live.group = group;
    appended
      .then(
        () => this.stored(id, live, group),
        (err: unknown) => this.notStored(live, group, err),
      )
      // Never an unhandled rejection (Node 20 ends the process on one).
      .catch((err: unknown) => this.o.log.error('run.ingest_failed', { run: id, err: String(err).slice(0, 300) }));
    return 'accepted';
  }

  /** A group of the run's writes committed. */
  private stored(id: string, live: Live, group: WriteGroup): void {
    if (live.group === group) live.group = null; // handled: a chunk that comes now starts a group of its own
    // The committed seq advances over the seqs stored without a hole only. Writes may resolve out
    // of order (lmdb-js's batches with ~1000 writes in flight; JetStream's publishes always), and
    // with JetStream a later publish can succeed while an earlier one failed (its NATS server
    // died): acknowledging the later one made the runner drop the earlier from its spool, a hole
    // in the run's output for ever (the cluster test read 46 KB of 349 KB).
    for (const seq of group.seqs) {
      if (seq === live.committedSeq + 1) live.committedSeq++;
      else live.stored.add(seq);
    }
    while (live.stored.size > 0 && live.stored.delete(live.committedSeq + 1)) live.committedSeq++;
    let done = 0;
    while (done < live.inFlight.length && live.inFlight[done]!.seq <= live.committedSeq) done++;
    if (done > 0) live.inFlight.splice(0, done);
    live.pendingBytes -= group.bytes;
    const cached = this.cache.get(id) ?? group.run;
    cached.bytes += group.bytes;
    cached.lastSeq = Math.max(cached.lastSeq, live.committedSeq);
    this.cache.set(id, cached);
    const upTo = live.committedSeq;
    this.afterCommit(() => {
      this.fanOut(id, live);
      this.scheduleProgress(id, live);
      group.onCommitted(upTo);
    });
    this.written(live, group.seqs.length);
  }

  /** A group of the run's writes failed: nothing past the committed seq is acknowledged; the runner resends it after reconnecting. */
  private notStored(live: Live, group: WriteGroup, err: unknown): void {
    if (live.group === group) live.group = null;
    live.receivedSeq = live.committedSeq;
    live.inFlight = [];
    live.unpublished = [];
    // Its own bytes only: the other groups under way take theirs off when they finish (it was
    // set to 0, and went below 0 as they did).
    live.pendingBytes -= group.bytes;
    this.afterCommit(() => group.onFailed(err));
    this.written(live, group.seqs.length);
  }

  /** `n` writes of the run finished: whoever waits for none to be under way hears it. */
  private written(live: Live, n: number): void {
    live.writing -= n;
    if (live.writing === 0 && live.whenIdle.length > 0) for (const fn of live.whenIdle.splice(0)) fn();
  }

  /**
   * Publishes the run's accepted chunks in seq order, output at once, an event chunk only once it
   * is committed, and everything after an uncommitted event chunk behind it. Services hear a
   * chunk's events (after its commit) in the same synchronous step as viewers get the chunk: an
   * operator who answers an approval the moment it shows finds it known.
   */
  private fanOut(id: string, live: Live): void {
    let n = 0;
    for (; n < live.unpublished.length; n++) {
      const c = live.unpublished[n]!;
      if (c.stream === STREAM_EVENT && c.seq > live.committedSeq) break;
      if (c.seq > live.committedSeq) live.inFlight.push(c);
      this.o.bus.publishChunk(id, c);
      // Services act on committed events only (a crash before the commit leaves nothing to undo),
      // in the same synchronous step as the viewers get the chunk: nothing a viewer sends back can
      // be handled in between. After the chunk, so that what a service publishes in answer (the
      // live text it drops, an approval) reaches a viewer after the event it answers.
      if (c.items.length > 0) this.o.bus.publish('events', { runId: id, events: c.items.map((i) => i.event) });
    }
    if (n > 0) live.unpublished.splice(0, n);
  }

  private scheduleProgress(id: string, live: Live): void {
    if (live.progressTimer) return;
    live.progressTimer = setTimeout(() => {
      live.progressTimer = null;
      const run = this.cache.get(id);
      if (!run) return;
      this.o.bus.publish('run', this.summary(run));
      const { bytes, lastSeq } = run;
      this.write(
        run,
        (r) => {
          r.bytes = Math.max(r.bytes, bytes);
          r.lastSeq = Math.max(r.lastSeq, lastSeq);
        },
        'lazy',
      ).catch((err: unknown) => this.o.log.error('run.progress.write_failed', { run: id, err: String(err) }));
    }, PROGRESS_INTERVAL_MS);
    live.progressTimer.unref();
  }

  /** Records the child's exit once every chunk up to `lastSeq` is committed. */
  async recordExit(
    id: string,
    exit: { code: number | null; signal: string | null; lastSeq: number; error?: string | null | undefined },
  ): Promise<RunRecord> {
    const live = this.liveOf(id);
    // Writes may finish out of order (see ingest): every chunk before the exit was received
    // before it, so once none is under way every one that could be stored is. (A clustered
    // store's publishes can queue behind other runs' for a while: a minute before the exit is
    // refused and the runner sends it again.)
    await this.writesDone(live, 60_000);
    if (live.committedSeq < exit.lastSeq) {
      throw new CcgError('ERR_SEQ_GAP', `exit claims output up to ${exit.lastSeq}, gateway has ${live.committedSeq}`);
    }
    if (live.progressTimer) clearTimeout(live.progressTimer);
    live.progressTimer = null;
    const current = this.mustGet(id);
    // One exit per run: a second one (or one after the gateway ended the run) is refused, not acked.
    if (isFinal(current.status)) throw runEnded(id, current.status);
    const signum = exit.signal ? (osConstants.signals as Record<string, number>)[exit.signal] : undefined;
    this.clearGrace(id);
    return this.update(id, (r) => {
      r.exitCode = exit.code ?? (signum !== undefined ? 128 + signum : null);
      r.signal = exit.signal;
      r.endedAt = this.o.now();
      r.lastSeq = live.committedSeq;
      if (r.cancelRequestedBy) {
        r.status = 'cancelled';
        r.reason = `cancelled by ${r.cancelRequestedBy}`;
      } else if (exit.error) {
        r.status = 'failed';
        r.reason = exit.error;
      } else {
        r.status = 'exited';
      }
    });
  }

  /** Marks a run failed for a reason of the gateway's (output limit, protocol violation). */
  async fail(id: string, reason: string): Promise<void> {
    const run = this.get(id);
    if (!run || isFinal(run.status)) return;
    await this.update(id, (r) => {
      r.status = 'failed';
      r.reason = reason;
      r.endedAt = this.o.now();
    });
  }

  /**
   * Asks the runner to cancel: delivered now when it is connected, on its next connect otherwise.
   * A run no runner ever picked up is cancelled at once.
   */
  async cancel(id: string, by: string): Promise<{ run: RunRecord; delivered: boolean }> {
    const run = this.mustGet(id);
    if (isFinal(run.status)) throw runEnded(id, run.status);
    const link = this.linkOf(id);
    const updated = await this.update(id, (r) => {
      r.cancelRequestedBy = by;
      if (r.status === 'created' && !link) {
        r.status = 'cancelled';
        r.reason = `cancelled by ${by} before a runner connected`;
        r.endedAt = this.o.now();
      }
    });
    if (link) link.sendCancel({ by, controlId: this.o.credits.mint(id, { kind: 'cancel' }, by) });
    if (!isFinal(updated.status)) this.armGrace(id);
    return { run: updated, delivered: Boolean(link) };
  }

  /**
   * Revokes the run's token: its runner socket is closed at once, every request signed with the
   * token is refused from then on (reconnects, uploads), and a run still going ends `revoked`.
   * An ended run keeps its status; its token is refused all the same. The caller audits it
   * (Requests for an operator; armGrace for the gateway's own).
   */
  async revoke(id: string, by: string, why: string | null = null): Promise<{ run: RunRecord; connected: boolean }> {
    const run = this.mustGet(id);
    if (run.revokedBy) throw new CcgError('ERR_RUN_FINISHED', `the token of run ${id} is already revoked`);
    this.clearGrace(id);
    // Cut off first, before anything is awaited: not one more message of this runner is taken.
    const link = this.linkOf(id);
    if (link) {
      this.runners.delete(id);
      link.kick(new CcgError('ERR_RUN_REVOKED', `the token of run ${id} was revoked`));
    }
    this.o.router?.broadcastRevoke(id);
    // Set in the cache now (update writes it through synchronously), so a socket saying hello or
    // an upload finishing while the store write is under way is refused too.
    const updating = this.update(id, (r) => {
      r.revokedBy = by;
      if (!isFinal(r.status)) {
        r.status = 'revoked';
        r.reason = why ?? `revoked by ${by}`;
        r.endedAt = this.o.now();
        r.lastSeq = Math.max(r.lastSeq, this.committedSeq(id));
      }
    });
    // Sockets of the run that have not said hello yet (no link): closed too.
    for (const fn of this.revokeHooks) fn(id);
    const updated = await updating;
    return { run: updated, connected: Boolean(link) };
  }

  /** Called with a run's id when its token is revoked (the runner socket closes every socket of the run). */
  onRevoke(fn: (id: string) => void): void {
    this.revokeHooks.add(fn);
  }
  private readonly revokeHooks = new Set<(id: string) => void>();

  private armGrace(id: string): void {
    const ms = this.o.cancelGraceMs ?? DEFAULT_CANCEL_GRACE_MS;
    if (this.graceTimers.has(id) || ms <= 0) return;
    const timer = setTimeout(() => {
      this.graceTimers.delete(id);
      const run = this.get(id);
      if (!run || isFinal(run.status) || run.revokedBy) return;
      const why = `cancelled by ${run.cancelRequestedBy ?? 'an operator'}, not ended within ${Math.round(ms / 1000)} s: token revoked`;
      this.revoke(id, 'gateway', why)
        .then(({ connected }) => this.o.audit?.appendAudit({ at: this.o.now(), actor: 'gateway', action: 'run.revoke', target: id, from: null, detail: { reason: why, connected } }))
        .catch((err: unknown) => this.o.log.warn('run.revoke_failed', { run: id, err: String(err) }));
    }, ms);
    timer.unref();
    this.graceTimers.set(id, timer);
  }

  private clearGrace(id: string): void {
    const t = this.graceTimers.get(id);
    if (t) clearTimeout(t);
    this.graceTimers.delete(id);
  }

  /**
   * Asks the run's runner to run one of the commands it advertised. The runner decides (it
   * checks its own allowlist and the parameters again); the answer arrives as events in the
   * run's event stream, after `fromSeq`.
   */
  async exec(id: string, name: string, params: Record<string, string>): Promise<{ requestId: string; fromSeq: number }> {
    const run = this.mustGet(id);
    if (isFinal(run.status)) throw runEnded(id, run.status);
    const link = this.linkOf(id);
    if (!link) throw new CcgError('ERR_RUNNER_AWAY', 'the runner of this run is not connected');
    const cmd = run.runner?.commands?.find((c) => c.name === name);
    if (!cmd) throw new CcgError('ERR_NOT_FOUND', `the runner does not offer a command named "${name.slice(0, 64)}"`);
    const want = new Set(cmd.params.map((p) => p.name));
    for (const k of Object.keys(params)) if (!want.has(k)) throw new CcgError('ERR_BAD_REQUEST', `${name} has no parameter "${k.slice(0, 64)}"`);
    for (const p of cmd.params) if (params[p.name] === undefined) throw new CcgError('ERR_BAD_REQUEST', `${name} needs the parameter "${p.name}"`);
    const requestId = this.issue(id);
    const fromSeq = this.nextSeq(id);
    await link.sendExec({ type: 'exec', requestId, name, params });
    return { requestId, fromSeq };
  }

  /**
   * Sends the run's runner a request with a fresh single-use id (collect, assist). Refused when
   * the run is final or its runner is away. The answer arrives after `fromSeq` in the event stream.
   */
  async request<M extends GatewayCollect | GatewayAssist>(id: string, build: (requestId: string) => M): Promise<{ requestId: string; fromSeq: number }> {
    const run = this.mustGet(id);
    if (isFinal(run.status)) throw runEnded(id, run.status);
    const link = this.linkOf(id);
    if (!link) throw new CcgError('ERR_RUNNER_AWAY', 'the runner of this run is not connected');
    const requestId = this.issue(id);
    const fromSeq = this.nextSeq(id);
    await link.send(build(requestId), true);
    return { requestId, fromSeq };
  }

  /** A fresh request id for a run, remembered until its answer is audited (claimAnswer). */
  private issue(id: string): string {
    const requestId = unredactedId(() => randomBytes(16).toString('base64url'));
    this.expect(id, requestId);
    return requestId;
  }

  /**
   * The link another node's requests reach this node's runner socket through (cluster): a request
   * issued there (a command, a collection, an assist session) is expected here too, where the
   * runner's answer arrives and is audited. One per socket, so that `detached` knows it.
   */
  private routedLink(id: string, link: RunnerLink): RunnerLink {
    let routed = this.routed.get(link);
    if (!routed) {
      routed = {
        send: (msg) => {
          if (msg.type === 'exec' || msg.type === 'collect' || msg.type === 'assist') this.expect(id, msg.requestId);
          link.send(msg);
        },
        sendExec: (msg) => {
          this.expect(id, msg.requestId);
          link.sendExec(msg);
        },
        sendCancel: (cancel) => link.sendCancel(cancel),
        kick: (err) => link.kick(err),
      };
      this.routed.set(link, routed);
    }
    return routed;
  }
  private readonly routed = new WeakMap<RunnerLink, RunnerLink>();

  /** Remembers a request id until its answer is audited. */
  private expect(id: string, requestId: string): void {
    let a = this.answers.get(id);
    if (!a) this.answers.set(id, (a = { open: new Set(), unsolicited: 0 }));
    a.open.add(requestId);
    // Requests the runner never answers must not pile up: the oldest is forgotten.
    if (a.open.size > MAX_OPEN_REQUESTS) a.open.delete(a.open.values().next().value!);
  }

  /**
   * Whether a runner's answer may be audited: once per request this gateway issued to this run
   * and has not seen answered (the id is used up), or, for a report no request caused (a
   * collection at exit, a session that timed out), at most MAX_UNSOLICITED_AUDIT per run. So a
   * holder of the run token can add only a few entries to the audit log, never evict its history.
   */
  claimAnswer(id: string, requestId: string | null): boolean {
    let a = this.answers.get(id);
    if (!a) this.answers.set(id, (a = { open: new Set(), unsolicited: 0 }));
    if (requestId !== null) return a.open.delete(requestId);
    if (a.unsolicited >= MAX_UNSOLICITED_AUDIT) return false;
    a.unsolicited++;
    return true;
  }

  /** Claude waits for an approval or a follow-up (`waiting`), or works again (`running`). */
  async setWaiting(id: string, waiting: boolean): Promise<void> {
    const run = this.get(id);
    const want = waiting ? 'waiting' : 'running';
    if (!run || run.status === want || (run.status !== 'running' && run.status !== 'waiting')) return;
    await this.update(id, (r) => {
      if (r.status === 'running' || r.status === 'waiting') r.status = want;
    });
  }

  /**
   * Sends a message to the run's runner if it is connected; false if it is away. Through another
   * node (cluster) it is not confirmed: for what is sent again when the runner comes back (an
   * approval's answer) or soon replaced (a terminal size). Otherwise `deliverToRunner`.
   */
  sendToRunner(id: string, msg: GatewayToRunner): boolean {
    const link = this.linkOf(id);
    if (!link) return false;
    link.send(msg);
    return true;
  }

  /**
   * Sends a message to the run's runner and resolves once its socket took it (at once here; through
   * another node, once that node says so). ERR_RUNNER_AWAY when no node holds the runner: a
   * follow-up or a command must not be reported sent and vanish with a node that just died.
   */
  async deliverToRunner(id: string, msg: GatewayToRunner): Promise<void> {
    const link = this.linkOf(id);
    if (!link) throw new CcgError('ERR_RUNNER_AWAY', 'the runner of this run is not connected; try again when it is back');
    await link.send(msg, true);
  }

  /** The seq the next chunk of a run will get (where a viewer waiting for the answer to a request starts). */
  nextSeq(id: string): number {
    // Not liveOf: a node whose runner is elsewhere keeps no ingest state of the run.
    const live = this.ingestHere(id);
    return (live ? live.receivedSeq : this.committedSeq(id)) + 1;
  }

  pendingCancel(id: string): { by: string; controlId: string } | null {
    const by = this.get(id)?.cancelRequestedBy;
    return by ? { by, controlId: this.o.credits.mint(id, { kind: 'cancel' }, by) } : null;
  }

  /** Writes pending progress of every active run (shutdown). */
  async flush(): Promise<void> {
    for (const t of this.graceTimers.values()) clearTimeout(t);
    this.graceTimers.clear();
    const writes: Promise<void>[] = [];
    for (const [id, live] of this.live) {
      if (live.progressTimer) clearTimeout(live.progressTimer);
      live.progressTimer = null;
      await this.writesDone(live, 10_000);
      const run = this.cache.get(id);
      if (run) writes.push(this.o.store.putRun(run));
    }
    await Promise.allSettled(writes);
  }
}

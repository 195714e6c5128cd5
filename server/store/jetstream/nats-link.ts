import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { CcgError } from '../../../protocol/errors.js';
import type { Logger } from '../../log.js';

/** Where the store connects and how it replicates. */
export interface NatsLinkOptions {
  /** NATS URLs (`nats://host:4222`, `tls://…`), tried in turn; the client reconnects for ever. */
  servers: string[];
  /** Replicas of every stream and bucket; by default 3 when the NATS cluster has ≥ 3 servers, else 1. */
  replicas?: number;
  log: Logger;
  /** A JetStream request (publish ack, get) that takes longer fails (default 5 s). */
  timeoutMs?: number;
  /** The NATS user and password (`CCG_NATS_USER`, `CCG_NATS_PASSWORD`), when the servers ask for them. */
  auth?: { user: string; pass: string };
}

/** How often the link asks its server for a PONG (the node's own liveness check, see `current`). */
const HEARD_EVERY_MS = 1000;
/**
 * A node that has heard nothing from its NATS server this long may hold a stale copy of the
 * cluster's state (tokens, users, sessions revoked on another node): it stops vouching for it.
 */
const STALE_AFTER_MS = 3000;

/** A stream field that may change between starts (the rest must match, or the start fails naming it). */
type Mutable = 'max_age' | 'max_bytes';

/**
 * The NATS connection of one gateway node: the JetStream clients, the node's id, the replication
 * it uses, and whether NATS is reachable now. While it is not, every write is refused at once
 * with ERR_STORAGE (a runner keeps its spool and resends when the gateway takes writes again),
 * rather than waiting for a publish to time out.
 */
export class NatsLink {
  /** This node's random id (`n-<6 hex>`: the live layer's headers take 8 characters), logged at start. */
  readonly nodeId = `n-${randomBytes(3).toString('hex')}`;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly kvm: Kvm;
  private up = true;
  private closing = false;
  private lastProblem: string | null = null;
  /** When the server last answered a PING (performance.now()). */
  private heardAt = performance.now();
  private asking = false;
  private inBytes = 0;
  private readonly heartbeat: NodeJS.Timeout;

  /** The node's logger (the store's parts log through it). */
  get log(): Logger {
    return this.o.log;
  }

  private constructor(
    readonly nc: NatsConnection,
    jsm: JetStreamManager,
    readonly replicas: number,
    private readonly o: NatsLinkOptions,
  ) {
    this.jsm = jsm;
    this.js = jetstream(nc, { timeout: o.timeoutMs ?? 5000 });
    this.kvm = new Kvm(this.js);
    void this.watchStatus();
    // A server that hangs (stopped, swapping, a half-open connection) keeps the socket up: the
    // client's own pings notice only after pingInterval × maxPingOut (20-30 s; shorter ones made
    // a node busy loading a large bucket give up on a live server, again and again). Meanwhile
    // the mirrors' copies go stale unseen, so the link times the server's answers itself.
    this.heartbeat = setInterval(() => this.ask(), HEARD_EVERY_MS);
    this.heartbeat.unref();
  }

  private ask(): void {
    if (this.closing || this.nc.isClosed()) return;
    this.noteData();
    if (this.asking) return;
    this.asking = true;
    this.nc.rtt().then(
      () => {
        this.heardAt = performance.now();
        this.asking = false;
      },
      () => {
        this.asking = false;
      },
    );
  }

  /**
   * Connected, and the server answered within STALE_AFTER_MS: this node's copies of the cluster's
   * state are as current as NATS can make them. Credentials are honoured only while this holds.
   */
  get current(): boolean {
    if (!this.connected) return false;
    this.noteData();
    return performance.now() - this.heardAt < STALE_AFTER_MS;
  }

  /**
   * Data from the server counts as hearing it: a node busy reading a large catch-up may see its
   * PONG late (it queues behind the data), or its loop may have been busy past a tick, yet its
   * server is plainly alive.
   */
  private noteData(): void {
    const inBytes = this.nc.stats().inBytes;
    if (inBytes !== this.inBytes) {
      this.inBytes = inBytes;
      this.heardAt = performance.now();
    }
  }

  /** Throws ERR_STORAGE when this node cannot vouch that its copy of the cluster's credentials is current. */
  mustBeCurrent(): void {
    if (this.closing) throw new CcgError('ERR_SHUTDOWN', 'the gateway is shutting down');
    if (!this.current) {
      const why = this.connected ? `NATS has not answered for ${Math.round((performance.now() - this.heardAt) / 1000)} s` : `NATS is unreachable (${this.problem})`;
      throw new CcgError('ERR_STORAGE', `credentials cannot be checked on this node: ${why}; retry, or use another node`);
    }
  }

  /** Connects (failing with a clear error when no server answers) and checks JetStream is on. */
  static async open(o: NatsLinkOptions): Promise<NatsLink> {
    if (o.servers.length === 0) throw new Error('no NATS server given (--nats URL[,URL…])');
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: o.servers, name: 'ccg-gateway', maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: o.timeoutMs ?? 5000, pingInterval: 10_000, ...(o.auth ?? {}) });
    } catch (err) {
      throw new Error(`cannot reach NATS at ${o.servers.join(', ')}: ${err instanceof Error ? err.message : String(err)}`);
    }
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { timeout: o.timeoutMs ?? 5000 });
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw new Error(`NATS at ${nc.getServer()} has no JetStream (start nats-server with -js): ${err instanceof Error ? err.message : String(err)}`);
    }
    const replicas = o.replicas ?? (knownServers(nc, o.servers).length >= 3 ? 3 : 1);
    if (![1, 3, 5].includes(replicas)) {
      await nc.close().catch(() => undefined);
      throw new Error(`--nats-replicas must be 1, 3 or 5 (got ${replicas})`);
    }
    return new NatsLink(nc, jsm, replicas, o);
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') {
        this.up = false;
        this.lastProblem = `disconnected from ${s.server}`;
        this.o.log.warn('nats.disconnected', { server: s.server, node: this.nodeId });
      } else if (s.type === 'reconnect') {
        this.up = true;
        this.heardAt = performance.now(); // a new connection: the server just answered
        this.lastProblem = null;
        this.o.log.info('nats.reconnected', { server: s.server, node: this.nodeId });
      } else if (s.type === 'error') {
        this.lastProblem = String(s.error);
      }
    }
  }

  /** True while connected to a NATS server. */
  get connected(): boolean {
    return this.up && !this.nc.isClosed() && !this.closing;
  }

  get problem(): string | null {
    return this.closing ? 'closed' : this.up ? null : (this.lastProblem ?? 'NATS unreachable');
  }

  /** The NATS servers known: those given and those the server announced (its cluster). */
  servers(): string[] {
    return knownServers(this.nc, this.o.servers);
  }

  /** Throws ERR_STORAGE (or ERR_SHUTDOWN) when no write can succeed now. */
  mustBeUp(): void {
    if (this.closing) throw new CcgError('ERR_SHUTDOWN', 'the gateway is shutting down; nothing more is stored');
    if (!this.connected) throw new CcgError('ERR_STORAGE', `storage write refused: NATS is unreachable (${this.problem}); retry when it is back`);
  }

  /** A failed JetStream call as ERR_STORAGE, saying what NATS said. */
  storageError(err: unknown, what: string): CcgError {
    if (err instanceof CcgError) return err;
    const said = err instanceof Error ? err.message : String(err);
    // While the quorum is lost nats.js says "jetstream is not enabled", "JetStream system
    // temporarily unavailable" or "no responders": JetStream is on, but nothing leads.
    const why = !this.connected ? ' (NATS unreachable)' : /jetstream is not enabled|temporarily unavailable|no responders/i.test(said) ? ' (no JetStream leader: is a quorum of NATS servers up?)' : '';
    return new CcgError('ERR_STORAGE', `storage ${what} failed: ${said}${why}`);
  }

  /**
   * Creates a stream, or checks an existing one has the same configuration: `mutable` fields are
   * updated to what is asked (retention set by flags), replicas differing from an explicit
   * `--nats-replicas` are an error, anything else differing is an error that names the stream.
   */
  async ensureStream(want: Partial<StreamConfig> & { name: string }, mutable: Mutable[] = []): Promise<StreamInfo> {
    let info: StreamInfo;
    try {
      info = await this.jsm.streams.info(want.name);
    } catch (err) {
      if (!/stream not found/i.test(String((err as Error).message))) throw err;
      try {
        return await this.jsm.streams.add({ ...want, num_replicas: this.replicas });
      } catch (addErr) {
        // Another node created it at the same moment: check what it made.
        if (!/already in use/i.test(String((addErr as Error).message))) throw addErr;
        info = await this.jsm.streams.info(want.name);
      }
    }
    this.checkSame(info, want, mutable);
    const update: Partial<StreamConfig> = {};
    for (const k of mutable) if (want[k] !== undefined && info.config[k] !== want[k]) (update as Record<string, unknown>)[k] = want[k];
    if (Object.keys(update).length > 0) {
      info = await this.jsm.streams.update(want.name, update);
      this.o.log.info('nats.stream_updated', { stream: want.name, ...(update as Record<string, number>) });
    }
    return info;
  }

  /** Opens a KV bucket, creating it with this node's replication (and `ttlMs` as max_age) if absent. */
  async ensureBucket(name: string, opts: { ttlMs?: number; maxValueSize?: number } = {}): Promise<KV> {
    const kv = await this.kvm.create(name, { history: 1, replicas: this.replicas, storage: 'file', ...(opts.ttlMs ? { ttl: opts.ttlMs } : {}), ...(opts.maxValueSize ? { maxValueSize: opts.maxValueSize } : {}) });
    const info = await this.jsm.streams.info(`KV_${name}`);
    const want: Partial<StreamConfig> & { name: string } = { name: `KV_${name}`, max_msgs_per_subject: 1, ...(opts.ttlMs ? { max_age: opts.ttlMs * 1_000_000 } : {}) };
    this.checkSame(info, want, []);
    return kv;
  }

  private checkSame(info: StreamInfo, want: Partial<StreamConfig>, mutable: Mutable[]): void {
    const have = info.config as unknown as Record<string, unknown>;
    const differs: string[] = [];
    for (const [k, v] of Object.entries(want)) {
      if (k === 'name' || (mutable as string[]).includes(k)) continue;
      if (JSON.stringify(have[k]) !== JSON.stringify(v)) differs.push(`${k} is ${JSON.stringify(have[k])}, ccg needs ${JSON.stringify(v)}`);
    }
    if (info.config.num_replicas !== this.replicas) {
      if (this.o.replicas !== undefined) differs.push(`num_replicas is ${info.config.num_replicas}, --nats-replicas asks ${this.replicas}`);
      else this.o.log.warn('nats.replicas_differ', { stream: info.config.name, have: info.config.num_replicas, default: this.replicas });
    }
    if (differs.length > 0) throw new Error(`JetStream stream ${info.config.name} exists with another configuration: ${differs.join('; ')}. Fix it (nats stream edit) or remove it if it holds nothing you need.`);
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.heartbeat);
    await this.nc.drain().catch(() => this.nc.close());
  }
}

/** The servers given and those the connected server announced (`connect_urls`: its cluster's client URLs). */
function knownServers(nc: NatsConnection, given: string[]): string[] {
  const announced = (nc as unknown as { info?: { connect_urls?: string[] } }).info?.connect_urls ?? [];
  // Scheme and credentials off: this list is logged and shown by /healthz.
  const norm = (u: string) => u.replace(/^[a-z]+:\/\//, '').replace(/^[^@/]*@/, '');
  return [...new Set([...given.map(norm), ...announced.map(norm)])];
}

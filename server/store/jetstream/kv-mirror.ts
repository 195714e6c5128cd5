import { Empty, headers } from '@nats-io/transport-node';
import { DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { CcgError } from '../../../protocol/errors.js';
import type { NatsLink } from './nats-link.js';

/** A change of one key, as the mirror applied it. */
export interface MirrorChange<T> {
  key: string;
  /** undefined: the key was deleted. */
  value: T | undefined;
  /** What the mirror held before. */
  old: T | undefined;
  /** True when this node wrote it (applied on the publish ack); false when another node did (the watcher). */
  own: boolean;
}

/** Revision-checked writes that lost to another writer this many times in a row give up. */
const MAX_CONFLICTS = 50;
/** How often the watcher's progress is checked against the bucket's stream (see `watchdog`). */
const WATCHDOG_MS = 1500;
/**
 * A revision claimed by a writer that has not replaced it this long is taken to be abandoned: the
 * writer died between its claim and its update (a node SIGKILLed), or its update failed (its NATS
 * server went away). The next claim of that revision is then made under a new generation
 * (`….<rev>.<gen>`), so one dead writer cannot block every later write to the key until the
 * nonce bucket drops its claim (15 minutes: runs stuck with ERR_CONFLICT in the cluster fault test).
 * Measured on this node's clock, from when this writer first found the claim in its way.
 */
const CLAIM_STALE_MS = 2000;
/** While another writer's fresh claim is in the way, look again this often. */
const CLAIM_RECHECK_MS = 50;
/** Generations of one revision's claim tried before giving up (each one another abandoned writer). */
const MAX_CLAIM_GENERATIONS = 8;
/** How long the initial load of a bucket may take. */
const LOAD_TIMEOUT_MS = 60_000;

const decoder = new TextDecoder();

/**
 * An in-memory copy of one KV bucket, so the store's reads stay synchronous: loaded at start
 * (the last value of every key), then kept current by a watcher (an ordered consumer of the
 * bucket's stream). A write updates the copy as soon as JetStream acknowledged it, so this node
 * reads its own writes at once; the watcher applies other nodes' writes. Every entry carries
 * its revision (the stream sequence): an update older than the one held is ignored, so the
 * watcher's late copy of a write this node already applied changes nothing.
 */
export class KvMirror<T> {
  private readonly entries = new Map<string, { rev: number; value: T | undefined }>();
  private readonly listeners = new Set<(c: MirrorChange<T>) => void>();
  private messages: ConsumerMessages | null = null;
  /** The stream sequence of the last change the watcher delivered (own writes included: they come back through it too). */
  private watched = 0;
  /** Checks that the watcher keeps up (see `watchdog`); null once stopped. */
  private watchdogTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private live = 0;
  /**
   * When the copy was last known current (performance.now()): loaded, or at a look of the
   * watchdog, the watcher had delivered everything the bucket's stream held at the look before.
   */
  private confirmedAt = 0;
  /** The stream's last sequence at the watchdog's last look. */
  private lastLook = 0;

  constructor(
    private readonly link: NatsLink,
    readonly kv: KV,
    readonly bucket: string,
    /**
     * Where a read-modify-write first claims the revision it read (`kv.create`, atomic): on
     * nats-server 2.9 with three replicas, two updates expecting the same revision can both be
     * accepted (measured: 20 of 40 concurrent pairs), while two creates of one key never are.
     */
    private readonly guard?: KV,
  ) {}

  /** Loads every key's last value and starts following changes. */
  async start(): Promise<void> {
    const consumer = await this.link.js.consumers.get(`KV_${this.bucket}`, { deliver_policy: 'last_per_subject' });
    let ready!: () => void;
    const loaded = new Promise<void>((resolve) => (ready = resolve));
    let delivered = 0;
    let target: number | null = null;
    this.messages = await consumer.consume({
      // Pull requests that expire every 5 s (heartbeats every 2.5 s) instead of 30 s: when this
      // node's NATS server dies, the ordered consumer notices the silence and starts again where
      // it was within seconds, rather than leaving the copy stale for half a minute (a node read a
      // run's output short right after its server was killed and restarted).
      expires: 5000,
      callback: (m) => {
        this.fromWatch(m);
        delivered = m.info.deliverySequence;
        if (m.info.pending === 0 || (target !== null && delivered >= target)) ready();
      },
    });
    this.watchdogTimer = setTimeout(() => void this.watchdog(-1), WATCHDOG_MS);
    this.watchdogTimer.unref();
    const info = await consumer.info();
    if (info.num_pending === 0) {
      target = info.delivered.consumer_seq;
      if (delivered >= target) ready();
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`loading the JetStream bucket ${this.bucket} took over ${LOAD_TIMEOUT_MS / 1000} s`)), LOAD_TIMEOUT_MS);
    });
    try {
      await Promise.race([loaded, timeout]);
    } finally {
      clearTimeout(timer);
    }
    this.confirmedAt = performance.now();
  }

  /**
   * Whether the copy was known current within `ms`: what another node wrote that long ago has
   * reached it. False while this node cannot read the bucket's stream (its NATS server hangs,
   * it is on the minority side of a split, the stream has no leader) or the watcher lags.
   */
  confirmedWithin(ms: number): boolean {
    return performance.now() - this.confirmedAt < ms;
  }

  /** Hears every change applied to the copy (own writes and other nodes'). */
  onChange(listener: (c: MirrorChange<T>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A copy of the value (callers may change what they get, as they may an LMDB read). */
  get(key: string): T | undefined {
    const v = this.entries.get(key)?.value;
    return v === undefined ? undefined : structuredClone(v);
  }

  /** The value itself, not a copy: for callers that only read it (a large screen snapshot). */
  peek(key: string): Readonly<T> | undefined {
    return this.entries.get(key)?.value;
  }

  /** Whether the key holds a value (no copy). */
  has(key: string): boolean {
    return this.entries.get(key)?.value !== undefined;
  }

  /** Every key with a value, for reading only (not copies: callers copy what they hand out). */
  *all(): IterableIterator<[string, T]> {
    for (const [k, e] of this.entries) if (e.value !== undefined) yield [k, e.value];
  }

  get size(): number {
    return this.live;
  }

  /** Writes a value, whatever was there. Resolves once JetStream has it (on a quorum). */
  async put(key: string, value: T): Promise<void> {
    this.link.mustBeUp();
    let rev: number;
    const text = JSON.stringify(value);
    try {
      rev = await this.kv.put(key, text);
    } catch (err) {
      throw this.link.storageError(err, `write of ${this.bucket}`);
    }
    // The copy holds what was written, never the caller's object (which the caller may change).
    this.apply(key, rev, JSON.parse(text) as T, true);
  }

  /** Writes a value only if the key holds none (on any node): false when it does. */
  async create(key: string, value: T): Promise<boolean> {
    this.link.mustBeUp();
    try {
      const text = JSON.stringify(value);
      const rev = await this.kv.create(key, text);
      this.apply(key, rev, JSON.parse(text) as T, true);
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw this.link.storageError(err, `create in ${this.bucket}`);
    }
  }

  /**
   * Atomic read-modify-write: `change` gets the latest value (the copy's first, the server's
   * after a conflict) and returns the new one, or undefined to leave it. Written with the
   * revision it was read at; another writer in between makes it read and try again. A key that
   * holds nothing is left alone.
   */
  update(key: string, change: (cur: T) => T | undefined): Promise<T | undefined> {
    return this.upsert(key, (cur) => (cur === undefined ? undefined : change(cur)), true);
  }

  /** As `update`, and `change` also sees a key that holds nothing (undefined), to create it. */
  async upsert(key: string, change: (cur: T | undefined) => T | undefined, mustExist = false): Promise<T | undefined> {
    this.link.mustBeUp();
    let held = this.entries.get(key);
    // An absent key may have been written a moment ago elsewhere: ask the server once.
    if (!held || (held.value === undefined && mustExist)) held = await this.fetch(key);
    // A claim in the way: the revision it is on, its generation, and since when (this node's clock).
    let blocked = null as { rev: number; gen: number; since: number } | null;
    for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
      const next = change(held.value === undefined ? undefined : structuredClone(held.value));
      if (next === undefined) return undefined;
      try {
        // No value: create (which also takes a key whose last entry is a delete marker).
        const text = JSON.stringify(next);
        if (held.value !== undefined && this.guard) {
          if (blocked && blocked.rev !== held.rev) blocked = null;
          const gen = blocked?.gen ?? 0;
          if (!(await this.claimRevision(key, held.rev, gen))) {
            const now = performance.now();
            if (!blocked) blocked = { rev: held.rev, gen, since: now };
            else if (now - blocked.since >= CLAIM_STALE_MS) {
              // Abandoned: the next generation may be claimed (by one writer: creates do not both win).
              if (gen + 1 >= MAX_CLAIM_GENERATIONS) break;
              blocked = { rev: held.rev, gen: gen + 1, since: now };
            }
            // Not counted as a conflict while the claimer may still be writing: wait, then look again.
            attempt--;
            await new Promise((r) => setTimeout(r, CLAIM_RECHECK_MS));
            held = await this.fetch(key);
            continue;
          }
        }
        const rev = held.value === undefined ? await this.kv.create(key, text) : await this.kv.update(key, text, held.rev);
        this.apply(key, rev, JSON.parse(text) as T, true);
        return next;
      } catch (err) {
        if (!isConflict(err)) throw this.link.storageError(err, `update in ${this.bucket}`);
        held = await this.fetch(key);
      }
    }
    throw new CcgError('ERR_CONFLICT', `${this.bucket}/${key} kept changing under this write`);
  }

  /** Deletes a key (a delete marker, so every node's watcher hears it). Resolves true when the copy held a value. */
  async delete(key: string): Promise<boolean> {
    this.link.mustBeUp();
    const had = this.has(key);
    const h = headers();
    h.set('KV-Operation', 'DEL');
    let rev: number;
    try {
      rev = (await this.link.js.publish(`$KV.${this.bucket}.${key}`, Empty, { headers: h })).seq;
    } catch (err) {
      throw this.link.storageError(err, `delete in ${this.bucket}`);
    }
    this.apply(key, rev, undefined, true);
    return had;
  }

  /**
   * The current entry of a key (and applies it to the copy), from the stream's leader: `kv.get`
   * uses direct gets, which a replica that is behind may answer.
   */
  /**
   * Claims the right to replace revision `rev` of `key`: true for exactly one writer on any node
   * per generation (the claim expires with the guard bucket's max_age, long after the race it
   * settles; a later generation is claimed only once an earlier one was abandoned, CLAIM_STALE_MS).
   */
  private async claimRevision(key: string, rev: number, gen: number): Promise<boolean> {
    try {
      await this.guard!.create(`cas.${this.bucket}.${key}.${rev}${gen === 0 ? '' : `.${gen}`}`, '');
      return true;
    } catch (err) {
      if (isConflict(err) || /exists|wrong last sequence/i.test(String((err as Error)?.message ?? ''))) return false;
      throw this.link.storageError(err, `update in ${this.bucket}`);
    }
  }

  /** The key's current value read from the server (applied to the copy too); a copy of it. */
  async refresh(key: string): Promise<T | undefined> {
    const { value } = await this.fetch(key);
    return value === undefined ? undefined : structuredClone(value);
  }

  private async fetch(key: string): Promise<{ rev: number; value: T | undefined }> {
    let m;
    try {
      m = await this.link.jsm.streams.getMessage(`KV_${this.bucket}`, { last_by_subj: `$KV.${this.bucket}.${key}` });
    } catch (err) {
      throw this.link.storageError(err, `read of ${this.bucket}`);
    }
    if (!m) return { rev: 0, value: undefined };
    const op = m.header?.get('KV-Operation');
    const value = op === 'DEL' || op === 'PURGE' ? undefined : (JSON.parse(decoder.decode(m.data)) as T);
    this.apply(key, m.seq, value, false);
    return { rev: m.seq, value };
  }

  /**
   * The watcher's safety net. After a NATS server restart the ordered consumer was seen to stay
   * silent for good on a node that was never touched itself: its copy of the runs went stale
   * (another node's exit never arrived; a run's output read short, or empty, from it). Every
   * WATCHDOG_MS this compares the bucket stream's last sequence with the last change the watcher
   * delivered; behind at two looks in a row with no progress between them, the watcher starts again
   * from the change after the last it delivered.
   */
  private async watchdog(behindAt: number): Promise<void> {
    if (this.stopped) return;
    let next = -1;
    try {
      const last = (await this.link.jsm.streams.info(`KV_${this.bucket}`)).state.last_seq;
      if (this.watched >= this.lastLook) this.confirmedAt = performance.now();
      this.lastLook = last;
      if (last > this.watched) {
        if (behindAt === this.watched) await this.restartWatch();
        else next = this.watched;
      }
    } catch {
      // NATS unreachable: the link reports it; look again later.
    }
    if (this.stopped) return;
    this.watchdogTimer = setTimeout(() => void this.watchdog(next), WATCHDOG_MS);
    this.watchdogTimer.unref();
  }

  private async restartWatch(): Promise<void> {
    const from = this.watched + 1;
    this.link.log.warn('store.watch_restarted', { bucket: this.bucket, from });
    await this.messages?.close().catch(() => undefined);
    const consumer = await this.link.js.consumers.get(`KV_${this.bucket}`, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
    if (this.stopped) return;
    this.messages = await consumer.consume({ expires: 5000, callback: (m) => this.fromWatch(m) });
  }

  private fromWatch(m: JsMsg): void {
    this.watched = Math.max(this.watched, m.seq);
    const key = m.subject.slice(`$KV.${this.bucket}.`.length);
    const op = m.headers?.get('KV-Operation');
    let value: T | undefined;
    if (op !== 'DEL' && op !== 'PURGE') {
      try {
        value = JSON.parse(decoder.decode(m.data)) as T;
      } catch {
        return; // not ours: nothing else writes these buckets
      }
    }
    this.apply(key, m.seq, value, false);
  }

  private apply(key: string, rev: number, value: T | undefined, own: boolean): void {
    const held = this.entries.get(key);
    if (held && held.rev >= rev) return;
    const old = held?.value;
    this.entries.set(key, { rev, value });
    if (old === undefined && value !== undefined) this.live++;
    if (old !== undefined && value === undefined) this.live--;
    if (old === undefined && value === undefined) return;
    for (const l of this.listeners) {
      try {
        l({ key, value, old, own });
      } catch {
        /* a listener's failure is its own */
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchdogTimer) clearTimeout(this.watchdogTimer);
    this.watchdogTimer = null;
    await this.messages?.close().catch(() => undefined);
    this.messages = null;
  }
}

/** A revision check that failed: someone else wrote the key first. */
function isConflict(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: number }; message?: string } | null;
  return e?.api_error?.err_code === 10071 || /wrong last sequence/i.test(String(e?.message ?? ''));
}

import type { ArtifactInfo } from '../../protocol/artifacts.js';
import type { AssistInfo } from '../../protocol/assist.js';
import type { Approval } from '../../protocol/claude-control.js';
import type { OperatorLiveText } from '../../protocol/claude-live.js';
import type { RunSummary } from '../../protocol/run.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { STREAM_EVENT } from '../../protocol/frames.js';
import { itemsOfChunk, type TimelineItem } from '../../protocol/timeline.js';
import type { Logger } from '../log.js';
import type { AuthChange, StoredChunk } from '../store/types.js';

/**
 * A committed chunk as it travels to whoever watches: the stored chunk plus, for a runner-event
 * chunk (stream 3), its events parsed once at ingest (empty for every other stream). Sections,
 * sockets and services read `items` instead of parsing the bytes again.
 */
export interface LiveChunk extends StoredChunk {
  readonly items: readonly TimelineItem[];
}

const NO_ITEMS: readonly TimelineItem[] = Object.freeze([]);

/**
 * A stored chunk as a LiveChunk (a new object: what a store returned is never changed). `items`
 * of an event chunk is parsed on first read and kept, so a catch-up read for a viewer that shows
 * only bytes never parses; `eager` parses now (ingest, where the services need the events at once).
 */
export function toLiveChunk(chunk: StoredChunk, eager = false): LiveChunk {
  const { seq, stream, time, data } = chunk;
  if (stream !== STREAM_EVENT) return { seq, stream, time, data, items: NO_ITEMS };
  if (eager) return { seq, stream, time, data, items: itemsOfChunk(chunk) };
  let items: readonly TimelineItem[] | undefined;
  return {
    seq, stream, time, data,
    get items() {
      return (items ??= itemsOfChunk(chunk));
    },
  };
}

/** An approval appeared (`created`) or changed: answered, forwarded, resolved. */
export interface ApprovalChange {
  approval: Approval;
  created: boolean;
}

/** What the bus carries besides output chunks, by topic. Every message is about something already committed. */
export interface Topics {
  /** A run's summary changed (status, runner, progress). */
  run: RunSummary;
  /** The runner events of one committed event chunk, in commit order. */
  events: { runId: string; events: readonly RunnerEvent[] };
  /** A run's assist session changed, or the runner refused a request (links: operators only). */
  assist: { runId: string; info: AssistInfo };
  /** A run's artifact list changed. */
  artifacts: { runId: string; artifacts: ArtifactInfo[] };
  approval: ApprovalChange;
  /** A token, user or session changed (revoked, disabled, deleted, demoted): open connections re-check. */
  auth: AuthChange;
  /**
   * The one topic about something not committed: Claude's reply as it is written (live text,
   * protocol/claude-live.ts). Ephemeral by design: a viewer that misses a piece gets the stored
   * message moments later.
   */
  live: OperatorLiveText;
}

export type Topic = keyof Topics;

/**
 * Fan-out of what the gateway committed to whoever watches: operator sockets, live pages, the
 * services that react to runner events (approvals, notifications, audit). In a clustered
 * deployment the same interface runs over another transport. Publishers only ever publish what
 * the store has committed.
 */
export interface EventBus {
  /** Output of one run: only that run's listeners hear it (the hot path). */
  publishChunk(runId: string, chunk: LiveChunk): void;
  onChunk(runId: string, listener: (chunk: LiveChunk) => void): () => void;
  /** Clustered gateway: chunks of a run other nodes fanned out recently, from `from` on (nats-bus.ts). */
  remoteChunks?(runId: string, from: number): readonly LiveChunk[];
  publish<T extends Topic>(topic: T, message: Topics[T]): void;
  /** `keep`: a listener that throws is logged and kept (the gateway's services), not dropped (a viewer's). */
  on<T extends Topic>(topic: T, listener: (message: Topics[T]) => void, opts?: ListenOptions): () => void;
}

export interface ListenOptions {
  keep?: boolean;
  /**
   * Clustered gateway: hear only what other nodes published (a service that keeps state their
   * changes affect, such as the approvals another node's runner asked for). On one gateway such a
   * listener never fires.
   */
  remote?: boolean;
  /**
   * Hear only messages about this run (a viewer's subscription). Publishing looks the run's
   * listeners up instead of calling every viewer of every run: with 1,000 followed runs, each
   * run's progress once a second was a million listener calls a second.
   */
  run?: string;
}

/** The run a topic's message is about, if any: how `publish` finds the listeners of that run. */
export function runOfMessage<T extends Topic>(topic: T, message: Topics[T]): string | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  if (topic === 'run') return typeof (message as { id?: unknown }).id === 'string' ? (message as { id: string }).id : undefined;
  if (topic === 'approval') {
    const a = (message as { approval?: { runId?: unknown } }).approval;
    return typeof a?.runId === 'string' ? a.runId : undefined;
  }
  const id = (message as { runId?: unknown }).runId;
  return typeof id === 'string' ? id : undefined;
}

/**
 * One set of listeners. Publishers are the ingest path and the services: a listener that throws
 * must not break them (nor the listeners after it, nor the gateway), so each listener is called
 * on its own; one that throws is logged, and dropped unless it asked to be kept. A viewer's
 * listener is dropped (a renderer bug reached through one once took the whole gateway down); a
 * service's is kept, or one hostile event would switch off approvals for every run.
 */
class Listeners<M> {
  /** Each listener, and whether it is kept when it throws. */
  private readonly set = new Map<(m: M) => void, boolean>();
  /**
   * The listeners as of the last change, which `emit` walks: one added or removed during an emit
   * does not change that emit, and an emit allocates nothing (it copied the set every time before,
   * a good part of the gateway's garbage at 20,000 lines a second).
   */
  private snapshot: [(m: M) => void, boolean][] | null = null;

  constructor(
    private readonly what: string,
    private readonly log: Logger | undefined,
  ) {}

  get size(): number {
    return this.set.size;
  }

  add(listener: (m: M) => void, keep = false): () => void {
    this.set.set(listener, keep);
    this.snapshot = null;
    return () => {
      if (this.set.delete(listener)) this.snapshot = null;
    };
  }

  emit(m: M, runId?: string): void {
    const list = (this.snapshot ??= [...this.set]);
    for (let i = 0; i < list.length; i++) {
      const [l, keep] = list[i]!;
      try {
        l(m);
      } catch (err) {
        if (!keep && this.set.delete(l)) this.snapshot = null;
        this.log?.error('bus.listener_failed', { ...(runId ? { run: runId } : {}), what: this.what, err: String(err).slice(0, 300) });
      }
    }
  }
}

/** The in-process bus. */
export class LocalBus implements EventBus {
  private readonly chunks = new Map<string, Listeners<LiveChunk>>();
  private readonly topics = new Map<Topic, Listeners<never>>();
  /** Listeners of one run's messages, by topic, then run (ListenOptions.run). */
  private readonly perRun = new Map<Topic, Map<string, Listeners<never>>>();

  constructor(private readonly log?: Logger) {}

  publishChunk(runId: string, chunk: LiveChunk): void {
    const set = this.chunks.get(runId);
    if (!set) return;
    set.emit(chunk, runId);
    if (set.size === 0 && this.chunks.get(runId) === set) this.chunks.delete(runId);
  }

  onChunk(runId: string, listener: (chunk: LiveChunk) => void): () => void {
    let set = this.chunks.get(runId);
    if (!set) this.chunks.set(runId, (set = new Listeners('chunk', this.log)));
    const off = set.add(listener);
    return () => {
      off();
      if (set.size === 0 && this.chunks.get(runId) === set) this.chunks.delete(runId);
    };
  }

  publish<T extends Topic>(topic: T, message: Topics[T]): void {
    const runId = runOfMessage(topic, message);
    (this.topics.get(topic) as Listeners<Topics[T]> | undefined)?.emit(message, runId);
    if (runId === undefined) return;
    const byRun = this.perRun.get(topic);
    const set = byRun?.get(runId) as Listeners<Topics[T]> | undefined;
    if (!set) return;
    set.emit(message, runId);
    if (set.size === 0 && byRun!.get(runId) === (set as unknown)) byRun!.delete(runId);
  }

  on<T extends Topic>(topic: T, listener: (message: Topics[T]) => void, opts: ListenOptions = {}): () => void {
    if (opts.remote) return () => undefined;
    if (opts.run === undefined) return this.listeners(topic).add(listener, opts.keep);
    const runId = opts.run;
    let byRun = this.perRun.get(topic);
    if (!byRun) this.perRun.set(topic, (byRun = new Map()));
    let set = byRun.get(runId) as Listeners<Topics[T]> | undefined;
    if (!set) byRun.set(runId, (set = new Listeners<Topics[T]>(topic, this.log)) as unknown as Listeners<never>);
    const off = set.add(listener, opts.keep);
    return () => {
      off();
      if (set.size === 0 && byRun.get(runId) === (set as unknown)) byRun.delete(runId);
    };
  }

  private listeners<T extends Topic>(topic: T): Listeners<Topics[T]> {
    let set = this.topics.get(topic) as Listeners<Topics[T]> | undefined;
    if (!set) this.topics.set(topic, (set = new Listeners<Topics[T]>(topic, this.log)) as unknown as Listeners<never>);
    return set;
  }
}

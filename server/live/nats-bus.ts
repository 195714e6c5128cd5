import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../log.js';
import { LocalBus, toLiveChunk, type EventBus, type ListenOptions, type LiveChunk, type Topic, type Topics } from './bus.js';

/**
 * The bus of a clustered gateway (`ccg serve --nats`): every node's own publications reach its
 * listeners at once, as on one gateway, and go out on NATS core to the other nodes, where they
 * reach the *viewers* (operator sockets, pages, event streams) only. The gateway's services
 * (listeners registered with `keep`) react to what happened on their own node: an event is
 * audited, notified and turned into an approval once, by the node that ingested it.
 *
 * Not everything crosses: `events` is what the services of the ingesting node consume, and
 * `auth` every node hears from its own store (the key-value watcher sees every node's writes).
 */
export const CROSSING_TOPICS: readonly Topic[] = ['run', 'assist', 'artifacts', 'approval', 'live'];

/** Subjects on NATS core. Run ids are [0-9a-z] (protocol/ids.ts): safe as a subject token. */
export const liveSubject = {
  chunk: (runId: string) => `ccg.live.chunk.${runId}`,
  topic: (topic: Topic) => `ccg.live.topic.${topic}`,
  allTopics: 'ccg.live.topic.*',
};

/** A chunk on the wire: origin node (8 ASCII bytes), seq (f64), stream (u8), time (f64), then the bytes. */
const HEAD = 8 + 8 + 1 + 8;

/** Encodes a chunk for other nodes. */
export function encodeChunk(node: string, chunk: LiveChunk): Uint8Array {
  const out = Buffer.allocUnsafe(HEAD + chunk.data.length);
  out.write(node.padEnd(8).slice(0, 8), 0, 'latin1');
  out.writeDoubleBE(chunk.seq, 8);
  out.writeUInt8(chunk.stream, 16);
  out.writeDoubleBE(chunk.time, 17);
  out.set(chunk.data, HEAD);
  return out;
}

/** Decodes a chunk from another node; undefined when it is malformed (logged by the caller). */
export function decodeChunk(bytes: Uint8Array): { node: string; chunk: LiveChunk } | undefined {
  if (bytes.length < HEAD) return undefined;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const seq = b.readDoubleBE(8);
  const stream = b.readUInt8(16);
  const time = b.readDoubleBE(17);
  if (!Number.isSafeInteger(seq) || seq < 1 || !Number.isFinite(time)) return undefined;
  // A copy: the connection reuses its read buffer.
  const data = Buffer.from(b.subarray(HEAD));
  return { node: b.toString('latin1', 0, 8).trimEnd(), chunk: toLiveChunk({ seq, stream, time, data }) };
}

/** Recent chunks of a run heard from other nodes (fanned out there before their commit). */
const REMOTE_WINDOW = { chunks: 1024, bytes: 4 * 1024 * 1024 };

interface RunSub {
  sub: Subscription;
  listeners: number;
  /** In seq order, bounded by REMOTE_WINDOW. */
  recent: LiveChunk[];
  bytes: number;
}

export interface NatsBusOptions {
  nc: NatsConnection;
  /** This node's id (8 characters at most; `n-` and 6 hex). */
  node: string;
  log: Logger;
}

/** The EventBus of a clustered gateway: LocalBus plus NATS core between nodes. */
export class NatsBus implements EventBus {
  private readonly local: LocalBus;
  /** Viewers: hear every node's publications. Services (keep) hear the local bus only. */
  private readonly viewers: LocalBus;
  private readonly runs = new Map<string, RunSub>();
  private readonly topicSub: Subscription;

  constructor(private readonly o: NatsBusOptions) {
    this.local = new LocalBus(o.log);
    this.viewers = new LocalBus(o.log);
    this.topicSub = o.nc.subscribe(liveSubject.allTopics, {
      callback: (err, msg) => {
        if (err) return;
        this.onRemoteTopic(msg.subject, msg.data);
      },
    });
  }

  publishChunk(runId: string, chunk: LiveChunk): void {
    this.local.publishChunk(runId, chunk);
    this.o.nc.publish(liveSubject.chunk(runId), encodeChunk(this.o.node, chunk));
  }

  onChunk(runId: string, listener: (chunk: LiveChunk) => void): () => void {
    const offLocal = this.local.onChunk(runId, listener);
    const offRemote = this.viewers.onChunk(runId, listener);
    const rs = this.subscribeRun(runId);
    rs.listeners++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      offLocal();
      offRemote();
      if (--rs.listeners === 0 && this.runs.get(runId) === rs) {
        rs.sub.unsubscribe();
        this.runs.delete(runId);
      }
    };
  }

  /**
   * Chunks of a run from `from` on that other nodes fanned out and this node heard while it had
   * a listener on the run (in seq order, contiguous from their first). A follower reads them
   * after the store, like the chunks in flight of a run whose runner is on this node.
   */
  remoteChunks(runId: string, from: number): readonly LiveChunk[] {
    const recent = this.runs.get(runId)?.recent;
    if (!recent || recent.length === 0 || recent.at(-1)!.seq < from) return [];
    const i = recent.findIndex((c) => c.seq >= from);
    return i < 0 ? [] : recent.slice(i);
  }

  publish<T extends Topic>(topic: T, message: Topics[T]): void {
    this.local.publish(topic, message);
    if (!CROSSING_TOPICS.includes(topic)) return;
    this.o.nc.publish(liveSubject.topic(topic), JSON.stringify({ n: this.o.node, m: message }));
  }

  on<T extends Topic>(topic: T, listener: (message: Topics[T]) => void, opts: ListenOptions = {}): () => void {
    if (opts.remote) return this.viewers.on(topic, listener, { keep: opts.keep ?? false, ...(opts.run === undefined ? {} : { run: opts.run }) });
    const offLocal = this.local.on(topic, listener, opts);
    if (opts.keep) return offLocal;
    const offRemote = this.viewers.on(topic, listener, opts);
    return () => {
      offLocal();
      offRemote();
    };
  }

  /** Stops hearing other nodes (the connection is closed by whoever opened it). */
  close(): void {
    this.topicSub.unsubscribe();
    for (const rs of this.runs.values()) rs.sub.unsubscribe();
    this.runs.clear();
  }

  private subscribeRun(runId: string): RunSub {
    let rs = this.runs.get(runId);
    if (rs) return rs;
    const sub = this.o.nc.subscribe(liveSubject.chunk(runId), {
      callback: (err, msg) => {
        if (err) return;
        const got = decodeChunk(msg.data);
        if (!got) {
          this.o.log.warn('bus.remote_chunk_malformed', { run: runId, bytes: msg.data.length });
          return;
        }
        if (got.node === this.o.node) return;
        this.remember(runId, got.chunk);
        this.viewers.publishChunk(runId, got.chunk);
      },
    });
    rs = { sub, listeners: 0, recent: [], bytes: 0 };
    this.runs.set(runId, rs);
    return rs;
  }

  private remember(runId: string, chunk: LiveChunk): void {
    const rs = this.runs.get(runId);
    if (!rs) return;
    const last = rs.recent.at(-1);
    // Contiguous only: a gap (a chunk this node did not hear) starts the window again.
    if (last && chunk.seq !== last.seq + 1) {
      if (chunk.seq <= last.seq) return;
      rs.recent = [];
      rs.bytes = 0;
    }
    rs.recent.push(chunk);
    rs.bytes += chunk.data.length;
    while (rs.recent.length > REMOTE_WINDOW.chunks || (rs.bytes > REMOTE_WINDOW.bytes && rs.recent.length > 1)) {
      rs.bytes -= rs.recent.shift()!.data.length;
    }
  }

  private onRemoteTopic(subject: string, data: Uint8Array): void {
    const topic = subject.slice('ccg.live.topic.'.length) as Topic;
    if (!CROSSING_TOPICS.includes(topic)) return;
    let parsed: { n?: unknown; m?: unknown };
    try {
      parsed = JSON.parse(Buffer.from(data).toString('utf8')) as { n?: unknown; m?: unknown };
    } catch {
      this.o.log.warn('bus.remote_topic_malformed', { topic, bytes: data.length });
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || parsed.n === this.o.node || typeof parsed.m !== 'object' || parsed.m === null) return;
    this.viewers.publish(topic, parsed.m as Topics[typeof topic]);
  }
}

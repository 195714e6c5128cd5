import { MAX_CHUNK_DATA, STREAM_COMMAND, STREAM_EVENT, encodeOutput } from '../../protocol/frames.js';
import { redactValue } from '../../protocol/event-redaction.js';
import { Redaction, StreamRedactor, secretEnvValues } from '../../protocol/redaction.js';
import { encodeEvent, type RunnerEvent } from '../../protocol/runner-events.js';
import type { RunnerToGateway } from '../../protocol/runner-messages.js';
import type { Spool } from './spool.js';

/**
 * Output is coalesced for up to this long, or until this many bytes, before it becomes a chunk,
 * unless it can leave at once (below).
 */
export const COALESCE_MS = 4;
export const COALESCE_BYTES = 64 * 1024;
/**
 * Nagle's rule: a write that finds the link idle (everything before it sent) becomes a chunk at
 * once, so a lone line reaches viewers without waiting for the window. At most this many chunks
 * a second leave that way (a token bucket, bursts of IMMEDIATE_BURST): faster output is
 * coalesced as before, and the runner stays well under the gateway's 2,000 messages a second.
 */
export const IMMEDIATE_PER_SECOND = 1000;
export const IMMEDIATE_BURST = 20;
/**
 * A tail held back by the redactor is sent after this much quiet: redacted if it may begin a
 * secret, whose continuation is then redacted too (protocol/redaction.ts, StreamRedactor.release).
 */
export const HOLD_RELEASE_MS = 300;
/** Stop sending while the socket has this much unsent data; the spool keeps the rest. */
export const SEND_WINDOW = 4 * 1024 * 1024;

/** What a run's output must never carry: its own token and the secret-looking values of its environment. */
export function runRedaction(token: string, env: NodeJS.ProcessEnv): Redaction {
  return new Redaction({
    literals: [{ kind: 'ccg-token', value: token }, ...secretEnvValues(env).map((v) => ({ kind: `env:${v.name}`, value: v.value }))],
  });
}

export interface OutputPipelineOptions {
  spool: Spool;
  redaction: Redaction;
  /** Each redacted piece as it comes, before coalescing (the run log keeps stdout and stderr). */
  tap(stream: number, data: Buffer): void;
  /** New chunks are in the spool. */
  spooled(): void;
  /** True when the link has nothing unsent, so a chunk spooled now leaves at once (ChunkSender.idle). Without it, output is always coalesced. */
  linkIdle?(): boolean;
  /** The clock of the immediate-send budget, in ms (tests freeze it). */
  now?(): number;
}

/**
 * The first half of the runner's output path: every stream is redacted (secrets never leave this
 * machine), coalesced into chunks (COALESCE_MS / COALESCE_BYTES, a switch of stream closes the
 * current one so stdout and stderr keep their order), numbered and written to the spool.
 */
export class OutputPipeline {
  private readonly redactors = new Map<number, StreamRedactor>();
  private releaseTimer: NodeJS.Timeout | null = null;
  private pending: { stream: number; parts: Buffer[]; size: number } | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private immediateTokens = IMMEDIATE_BURST;
  private tokensAt: number;

  constructor(private readonly o: OutputPipelineOptions) {
    this.tokensAt = o.now?.() ?? performance.now();
  }

  /** Output of the child (or of a command, stream 2): redacted, then coalesced. */
  output(stream: number, data: Buffer): void {
    let r = this.redactors.get(stream);
    if (!r) this.redactors.set(stream, (r = new StreamRedactor(this.o.redaction)));
    this.enqueue(stream, r.push(data));
    // A tail held back as a possible secret start is released once the stream has been quiet a moment.
    if (r.pending > 0) {
      if (this.releaseTimer) clearTimeout(this.releaseTimer);
      this.releaseTimer = setTimeout(() => this.releaseHeld(), HOLD_RELEASE_MS);
    }
  }

  /** A runner event (stream 3): spooled at once, after the command output it describes. */
  event(ev: RunnerEvent): void {
    // Events follow the output they describe: release the command stream's held tail first
    // (as after a pause: a secret it begins stays redacted in what the command writes next).
    this.releaseStream(STREAM_COMMAND, false);
    // Redacted string by string (protocol/event-redaction.ts): a secret's rule can never run past
    // the end of its string and break the JSON, which would lose the event (an approval, say).
    this.enqueue(STREAM_EVENT, encodeEvent(redactValue(this.o.redaction, ev)));
    this.flush();
  }

  /** Spools everything now, held tails included: the child has ended. */
  drain(): void {
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
    for (const stream of this.redactors.keys()) this.releaseStream(stream, true);
    this.flush();
  }

  /** The run is over and its spool gone (it ended on the gateway while the child ran): nothing more is spooled. */
  stop(): void {
    this.stopped = true;
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.releaseTimer = this.flushTimer = null;
    this.pending = null;
  }

  /** `final`: the stream has ended; otherwise it has paused and its redactor keeps its state. */
  private releaseStream(stream: number, final: boolean): void {
    const r = this.redactors.get(stream);
    if (r && r.pending > 0) this.enqueue(stream, final ? r.flush() : r.release());
  }

  private releaseHeld(): void {
    this.releaseTimer = null;
    for (const stream of this.redactors.keys()) this.releaseStream(stream, false);
  }

  private enqueue(stream: number, data: Buffer): void {
    if (data.length === 0 || this.stopped) return;
    this.o.tap(stream, data);
    // Keep the order between stdout and stderr: a switch of stream closes the current chunk.
    if (this.pending && this.pending.stream !== stream) this.flush();
    this.pending ??= { stream, parts: [], size: 0 };
    this.pending.parts.push(data);
    this.pending.size += data.length;
    if (this.pending.size >= COALESCE_BYTES) this.flush();
    // A chunk already waiting for the window means output is coming faster than it leaves: join it.
    else if (!this.flushTimer && this.o.linkIdle?.() && this.takeImmediate()) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), COALESCE_MS);
  }

  private takeImmediate(): boolean {
    const now = this.o.now?.() ?? performance.now();
    this.immediateTokens = Math.min(IMMEDIATE_BURST, this.immediateTokens + ((now - this.tokensAt) * IMMEDIATE_PER_SECOND) / 1000);
    this.tokensAt = now;
    if (this.immediateTokens < 1) return false;
    this.immediateTokens -= 1;
    return true;
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (!this.pending) return;
    const { stream, parts, size } = this.pending;
    this.pending = null;
    const data = Buffer.concat(parts, size);
    const spool = this.o.spool;
    for (let off = 0; off < data.length; off += MAX_CHUNK_DATA) {
      spool.append(spool.maxSeq + 1, stream, data.subarray(off, off + MAX_CHUNK_DATA));
    }
    this.o.spooled();
  }
}

/** Where the sender writes: the gateway link (a ReconnectingSocket). */
export interface ChunkLink {
  readonly bufferedAmount: number;
  send(data: string | Buffer): boolean;
}

export type ExitMessage = Extract<RunnerToGateway, { type: 'exit' }>;

/**
 * The second half of the output path: sends spooled chunks in seq order while the socket has
 * room (SEND_WINDOW), resends from wherever the gateway says it stands after each welcome, and
 * sends the exit once every chunk before it is out. The spool forgets a chunk only on its ack.
 */
export class ChunkSender {
  private sentSeq = 0;
  private exitSent = false;
  private retry: NodeJS.Timeout | null = null;
  /** The child's exit, once known; sent after the last chunk. */
  exit: ExitMessage | null = null;

  /** `ready`: the link is open and the gateway has welcomed this connection. */
  constructor(
    private readonly spool: Spool,
    private readonly link: ChunkLink,
    private readonly ready: () => boolean,
  ) {}

  /**
   * The gateway welcomed a connection and has everything before `nextSeq`. Before the child
   * starts, numbering continues after whatever the gateway already has (a restarted runner) or
   * after this run's leftover spool, whichever is further. Returns the first seq to be sent.
   */
  welcomed(nextSeq: number, childStarted: boolean): number {
    const spool = this.spool;
    if (!childStarted && nextSeq - 1 >= spool.maxSeq) {
      spool.ack(spool.maxSeq);
      spool.resetBase(nextSeq);
    }
    this.sentSeq = Math.min(nextSeq - 1, spool.maxSeq);
    this.exitSent = false;
    return this.sentSeq + 1;
  }

  /** Connected, welcomed, every spooled chunk sent and the socket's buffer empty. */
  idle(): boolean {
    return this.ready() && this.sentSeq === this.spool.maxSeq && this.link.bufferedAmount === 0;
  }

  /** Sends what it can now; looks again shortly while the socket is backed up. */
  pump(): void {
    if (!this.ready()) return;
    const spool = this.spool;
    while (this.sentSeq < spool.maxSeq && this.link.bufferedAmount < SEND_WINDOW) {
      const chunk = spool.read(this.sentSeq + 1);
      if (!chunk) break;
      this.link.send(encodeOutput(chunk));
      this.sentSeq = chunk.seq;
    }
    if (this.sentSeq < spool.maxSeq) {
      // ws has no drain event: poll, with one timer however often pump() is called meanwhile
      // (every new chunk calls it: without the guard each started a polling chain of its own).
      this.retry ??= setTimeout(() => {
        this.retry = null;
        this.pump();
      }, 10);
      return;
    }
    if (this.exit && !this.exitSent) {
      this.exitSent = true;
      this.link.send(JSON.stringify(this.exit));
    }
  }
}

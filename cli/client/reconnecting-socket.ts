import type { IncomingMessage } from 'node:http';
import WebSocket, { type RawData } from 'ws';
import { parseCloseReason } from '../../protocol/errors.js';
import { CliError, EXIT, networkError } from '../exit-codes.js';
import { readAll } from './api.js';
import type { GatewayUrl } from './gateways.js';
import { agentFor } from './pinned-agent.js';

/** What to do about a dropped or refused connection: give up with `err`, or try again. */
export type Verdict = { fatal: true; err: CliError } | { fatal: false; err: CliError };

/** How an owner (the runner, the operator client) judges what the gateway did. */
export interface ReconnectPolicy {
  /** The gateway answered the upgrade with an HTTP status (its JSON error's code and message, when it sent one). */
  refused(status: number, code: string, message: string | undefined): Verdict;
  /** The connection closed; `noted` is what went wrong on it, if anything did (an error, a heartbeat timeout). */
  closed(code: number, reason: { code: string | undefined; message: string }, noted: CliError | null): Verdict;
  /** Before each retry: an error to give up with instead (a deadline, no reconnecting), or null to go on. */
  giveUp(why: CliError): CliError | null;
  /**
   * When `giveUp` will give up at the latest (ms since the epoch), if it has such a deadline: no
   * backoff waits past it, so the last attempt is made by then (a 5 s timeout took up to 9 s).
   */
  deadline?(): number | null;
}

/** What the socket tells its owner. */
export interface SocketHandlers {
  /** A connection is open (send the hello now). */
  open(): void;
  message(data: RawData, isBinary: boolean): void;
  /**
   * A connection was lost or refused; the next attempt follows after a backoff, at `next` (the
   * next gateway URL in the list, or the same one when there is one). `attempt` counts from 1
   * since the last `resetBackoff()`.
   */
  retrying(why: CliError, attempt: number, next: string): void;
  /** The socket gave up for good; nothing more follows. */
  fatal(err: CliError): void;
}

export interface ReconnectingSocketOptions {
  /**
   * The gateway's base URLs (https://host:port) with their certificate pins, in the order they
   * are tried: the socket goes to `path` on one over wss (ws for http), and on to the next after
   * a connection there is refused or lost (the nodes of a cluster; one URL for one gateway).
   */
  gateways: GatewayUrl[];
  path: string;
  /** The upgrade request's headers, asked for again on every attempt (a signed request is good once). */
  headers(url: URL): Record<string, string>;
  maxPayload: number;
  /**
   * The first backoff step: each retry waits a random time below min(5 s, backoffMs · 2^round),
   * where a round is one attempt at every URL (with one URL, every attempt is a round).
   */
  backoffMs: number;
  /**
   * Ping this often; a connection that brings nothing back (no message, ping or pong) for three
   * times as long is dropped and reopened. Absent: no heartbeat.
   */
  heartbeatMs?: number;
  policy: ReconnectPolicy;
  handlers: SocketHandlers;
}

const MAX_BACKOFF_MS = 5000;

/** One connection attempt and what is known about it. */
interface Attempt {
  ws: WebSocket;
  /** What went wrong on it, to explain its close. */
  noted: CliError | null;
  /** Its end is decided (a retry or a fatal error): later events on it are ignored. */
  settled: boolean;
  lastHeard: number;
  heartbeat: NodeJS.Timeout | null;
}

/**
 * A WebSocket to the gateway that reconnects with full-jitter backoff, pings to find connections
 * that died without a close, trusts a pinned certificate, and stops for good on what retrying
 * cannot fix. Owners (cli/runner, the operator client) bring their headers and their judgement
 * of refusals and close codes (`policy`); the mechanics are here once.
 */
export class ReconnectingSocket {
  private current: Attempt | null = null;
  private attempt = 0;
  /** Which of `gateways` the current (or next) attempt goes to. */
  private index = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Reading is paused (`pause`): the reader cannot keep up; the gateway holds or re-reads what follows. */
  private paused = false;

  constructor(private readonly o: ReconnectingSocketOptions) {
    if (o.gateways.length === 0) throw new Error('ReconnectingSocket needs at least one gateway URL');
  }

  /** The gateway the current connection goes to (or the next attempt will). */
  get gateway(): GatewayUrl {
    return this.o.gateways[this.index]!;
  }

  /** Its position in the list given (for handing the list on, starting with the one that answers). */
  get gatewayIndex(): number {
    return this.index;
  }

  /** Opens the first connection. */
  start(): this {
    this.connect();
    return this;
  }

  /** True while a connection is open (whether or not the gateway has welcomed it). */
  get isOpen(): boolean {
    return this.current?.ws.readyState === WebSocket.OPEN;
  }

  /** Bytes queued on the open connection and not yet written to the network. */
  get bufferedAmount(): number {
    return this.current?.ws.bufferedAmount ?? 0;
  }

  /** Sends on the open connection; false (and nothing sent) when there is none. */
  send(data: string | Buffer): boolean {
    const ws = this.current?.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(data);
    return true;
  }

  /** The gateway accepted us: the next drop starts the backoff from its first step again. */
  resetBackoff(): void {
    this.attempt = 0;
  }

  /** Notes what went wrong on the current connection (a protocol-level refusal): its close is explained by it. */
  note(err: CliError): void {
    if (this.current) this.current.noted = err;
  }

  /**
   * Stops reading the connection (and the next one) until `resume`: whoever consumes the
   * messages cannot keep up (a `| less` nobody scrolls). TCP then pushes back to the gateway,
   * which keeps what follows in its store rather than in this process's memory. A paused
   * connection's silence is ours, not the gateway's: the heartbeat does not count it.
   */
  pause(): void {
    this.paused = true;
    if (this.current?.ws.readyState === WebSocket.OPEN) this.current.ws.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const a = this.current;
    if (!a) return;
    a.lastHeard = Date.now();
    if (a.ws.readyState === WebSocket.OPEN) a.ws.resume();
  }

  /** Drops the current connection now; the usual retry follows. */
  reconnectNow(): void {
    this.current?.ws.terminate();
  }

  /** Closes for good (code 1000); no handler is called after this. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const a = this.current;
    if (a) {
      a.settled = true;
      if (a.heartbeat) clearInterval(a.heartbeat);
      a.ws.close(1000);
    }
  }

  private connect(): void {
    if (this.stopped) return;
    const target = this.gateway;
    const url = new URL(this.o.path, target.url);
    const headers = this.o.headers(url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const agent = agentFor(url, target.fingerprint);
    const ws = new WebSocket(url, { headers, ...(agent ? { agent } : {}), perMessageDeflate: false, handshakeTimeout: 10_000, maxPayload: this.o.maxPayload });
    const a: Attempt = { ws, noted: null, settled: false, lastHeard: Date.now(), heartbeat: null };
    this.current = a;
    const heard = () => {
      a.lastHeard = Date.now();
    };
    ws.on('unexpected-response', (_req, res) => void this.refused(a, res));
    ws.on('pong', heard);
    ws.on('ping', heard);
    ws.on('open', () => {
      heard();
      if (this.paused) ws.pause();
      this.watch(a);
      if (!a.settled) this.o.handlers.open();
    });
    ws.on('message', (data, isBinary) => {
      heard();
      this.o.handlers.message(data, isBinary);
    });
    ws.on('error', (err) => {
      if (a.settled) return;
      const e = networkError(err, target.url);
      // A certificate that does not match the pin (or cannot be checked) will not change by retrying.
      if (e.code === 'ERR_PIN_MISMATCH' || e.code === 'ERR_TLS') this.fail(a, e);
      else a.noted ??= e;
    });
    ws.on('close', (code, reason) => {
      if (a.heartbeat) clearInterval(a.heartbeat);
      if (a.settled || this.current !== a) return;
      this.decide(a, this.o.policy.closed(code, parseCloseReason(reason.toString('utf8')), a.noted));
    });
  }

  /**
   * A connection can die without a close reaching us (a NAT or firewall forgets it, a cable is
   * pulled): whatever is queued would then wait forever. So we ping, and give up on a connection
   * that has been silent for three heartbeats.
   */
  private watch(a: Attempt): void {
    const every = this.o.heartbeatMs;
    if (every === undefined || a.settled) return;
    a.heartbeat = setInterval(() => {
      if (this.paused) {
        // Our pings still go (writing needs no reading): the gateway's idle timeout is not ours to trip.
        a.lastHeard = Date.now();
        a.ws.ping();
        return;
      }
      const silent = Date.now() - a.lastHeard;
      if (silent > 3 * every) {
        a.noted = new CliError(`no word from the gateway for ${Math.round(silent / 1000)} s`, EXIT.UNREACHABLE, 'ERR_UNREACHABLE');
        a.ws.terminate();
        return;
      }
      a.ws.ping();
    }, every);
  }

  private async refused(a: Attempt, res: IncomingMessage): Promise<void> {
    const body = await readAll(res);
    let code = 'ERR_HTTP';
    let message: string | undefined;
    try {
      const e = (JSON.parse(body.toString('utf8')) as { error?: { code?: string; message?: string } }).error;
      code = e?.code ?? code;
      message = e?.message;
    } catch {
      /* not our JSON: the status says it */
    }
    if (a.settled) return;
    const verdict = this.o.policy.refused(res.statusCode ?? 0, code, message);
    // Settle before terminating: the close that follows must not be judged a second time.
    a.settled = true;
    a.ws.terminate();
    this.decide(a, verdict);
  }

  private decide(a: Attempt, verdict: Verdict): void {
    if (verdict.fatal) return this.fail(a, verdict.err);
    a.settled = true;
    if (this.stopped) return;
    const giveUp = this.o.policy.giveUp(verdict.err);
    if (giveUp) return this.fail(a, giveUp);
    // A refused or lost connection moves on to the next node; the backoff grows once per round.
    const n = this.o.gateways.length;
    this.index = (this.index + 1) % n;
    const round = Math.floor(this.attempt++ / n);
    let delay = Math.random() * Math.min(MAX_BACKOFF_MS, this.o.backoffMs * 2 ** round); // full jitter
    const until = this.o.policy.deadline?.() ?? null;
    const left = until === null ? 0 : until - Date.now();
    if (left > 0) delay = Math.min(delay, left);
    this.o.handlers.retrying(verdict.err, this.attempt, this.gateway.url);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private fail(a: Attempt, err: CliError): void {
    if (this.stopped) return;
    this.stopped = true;
    a.settled = true;
    if (this.timer) clearTimeout(this.timer);
    if (a.heartbeat) clearInterval(a.heartbeat);
    a.ws.terminate();
    this.o.handlers.fatal(err);
  }
}

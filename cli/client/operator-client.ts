import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { parseCloseReason } from '../../protocol/errors.js';
import { decodeView, type ViewChunk } from '../../protocol/frames.js';
import { GatewayToOperator, type OperatorToGateway } from '../../protocol/operator-messages.js';
import { PROTOCOL_VERSION, type RunSummary } from '../../protocol/run.js';
import type { AssistInfo } from '../../protocol/assist.js';
import type { ArtifactInfo } from '../../protocol/artifacts.js';
import type { Approval } from '../../protocol/claude-control.js';
import { CliError, exitForCode, networkError } from '../exit-codes.js';
import { readAll, type GatewayTarget } from './api.js';
import { agentFor } from './pinned-agent.js';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface OperatorClientEvents {
  chunk: [ViewChunk];
  run: [RunSummary];
  runs: [RunSummary[]];
  caught_up: [{ runId: string; seq: number }];
  /** The gateway accepted a (re)subscription: chunks from `from` follow. */
  subscribed: [{ runId: string; from: number; lastSeq: number }];
  /** Who the gateway says we are, after every (re)connect. */
  welcome: [{ name: string; role: string }];
  /** A subscribed run's assist session (operators and admins only). */
  assist: [{ runId: string; assist: AssistInfo }];
  /** A subscribed run's artifact list. */
  artifacts: [{ runId: string; artifacts: ArtifactInfo[] }];
  state: [ConnectionState];
  /** A non-fatal error message from the gateway (e.g. unknown run). */
  notice: [{ code: string; message: string; runId?: string | undefined }];
  /** Fatal: the client stops (auth failure, or reconnecting is off). */
  fatal: [CliError];
  /** A subscribed run's open approvals (after subscribe), then every change of one. */
  approvals: [{ runId: string; approvals: Approval[] }];
  approval: [{ runId: string; approval: Approval }];
  input_accepted: [{ runId: string; inputId: string; ref?: string | undefined }];
}

interface Wanted {
  next: number | undefined;
  tail: number | undefined;
  /**
   * True between sending `subscribe` and its `subscribed`: chunks still in flight from an earlier
   * subscription to the same run are dropped, so they cannot move `next` past the new start.
   */
  pending: boolean;
}

/**
 * A client of the operator socket with resume: it remembers the next seq of every subscription
 * and, with `reconnect`, reconnects with backoff and resubscribes from there, so followers see
 * no duplicated and no missing chunk across a gateway restart.
 */
export class OperatorClient extends EventEmitter<OperatorClientEvents> {
  private ws: WebSocket | null = null;
  private readonly subs = new Map<string, Wanted>();
  private watching: number | null = null;
  private attempt = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private everOpen = false;
  state: ConnectionState = 'connecting';
  /** Who the gateway said we are in its last welcome. */
  user: { name: string; role: string } | null = null;

  /**
   * `reconnect`: ride out drops and gateway restarts (backoff, resume). `failFast`: even so, give
   * up with the error if the very first connection cannot be made (a wrong URL or a gateway that
   * is down should fail a script at once, not hang it).
   */
  constructor(
    private readonly target: GatewayTarget,
    private readonly opts: { reconnect: boolean; client?: string; failFast?: boolean } = { reconnect: true },
  ) {
    super();
  }

  start(): this {
    this.connect();
    return this;
  }

  subscribe(runId: string, opts: { from?: number; tail?: number } = {}): void {
    this.subs.set(runId, { next: opts.from, tail: opts.tail, pending: true });
    if (this.state === 'open') this.sendSubscribe(runId);
  }

  unsubscribe(runId: string): void {
    this.subs.delete(runId);
    if (this.state === 'open') this.send({ type: 'unsubscribe', runId });
  }

  watchRuns(limit = 100): void {
    this.watching = limit;
    if (this.state === 'open') this.send({ type: 'watch_runs', limit });
  }

  /** The next seq wanted for a run (1 + the last chunk received). */
  nextSeq(runId: string): number | undefined {
    return this.subs.get(runId)?.next;
  }

  /**
   * Answers an approval. The result arrives as an `approval` event (to every subscriber), or as
   * a `notice` (ERR_APPROVAL_RESOLVED when someone else was first). False when not connected.
   */
  answerApproval(runId: string, approvalId: string, decision: 'allow' | 'deny', opts: { always?: boolean; message?: string } = {}): boolean {
    if (this.state !== 'open') return false;
    this.send({ type: 'approval_answer', runId, approvalId, decision, ...(opts.always ? { always: true } : {}), ...(opts.message ? { message: opts.message } : {}) });
    return true;
  }

  /** Sends a follow-up prompt (Claude) or typed text / raw bytes (pty runs). Answered with `input_accepted` or a `notice`. */
  sendInput(runId: string, input: { text: string } | { data: Uint8Array }, ref?: string): boolean {
    if (this.state !== 'open') return false;
    const body = 'text' in input ? { text: input.text } : { data: Buffer.from(input.data).toString('base64') };
    this.send({ type: 'input', runId, ...body, ...(ref !== undefined ? { ref } : {}) });
    return true;
  }

  /** Tells a pty run the viewer's terminal size. */
  resize(runId: string, cols: number, rows: number): boolean {
    if (this.state !== 'open') return false;
    this.send({ type: 'resize', runId, cols, rows });
    return true;
  }

  /** Drops the connection now and reconnects (the TUI's `r`). */
  reconnectNow(): void {
    this.ws?.terminate();
  }

  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000);
    this.setState('closed');
  }

  private setState(s: ConnectionState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  private send(msg: OperatorToGateway): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private sendSubscribe(runId: string): void {
    const w = this.subs.get(runId)!;
    w.pending = true;
    this.send({ type: 'subscribe', runId, ...(w.next ? { from: w.next } : w.tail ? { tail: w.tail } : {}) });
  }

  private fatal(err: CliError): void {
    if (this.stopped) return;
    this.stopped = true;
    this.ws?.terminate();
    this.setState('closed');
    this.emit('fatal', err);
  }

  private retry(err: CliError): void {
    if (this.stopped) return;
    if (!this.opts.reconnect || (this.opts.failFast && !this.everOpen)) return this.fatal(err);
    this.setState('reconnecting');
    const delay = Math.random() * Math.min(5000, 200 * 2 ** this.attempt++);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private connect(): void {
    const url = new URL('/v1/operator', this.target.gateway);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const agent = agentFor(url, this.target.fingerprint);
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.target.token}` },
      ...(agent ? { agent } : {}),
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      maxPayload: 8 * 1024 * 1024,
    });
    this.ws = ws;
    let lastError: CliError | null = null;

    ws.on('unexpected-response', (_req, res) => {
      void readAll(res).then((body) => {
        let code = 'ERR_HTTP';
        let message = `gateway refused the operator socket (${res.statusCode})`;
        try {
          const e = (JSON.parse(body.toString('utf8')) as { error?: { code?: string; message?: string } }).error;
          code = e?.code ?? code;
          message = e?.message ?? message;
        } catch {
          /* keep the status */
        }
        const err = new CliError(message, exitForCode(code), code);
        ws.terminate();
        if (res.statusCode === 401 || res.statusCode === 403 || res.statusCode === 426) this.fatal(err);
        else this.retry(err);
      });
    });
    ws.on('open', () => this.send({ type: 'hello', v: PROTOCOL_VERSION, ...(this.opts.client ? { client: this.opts.client } : {}) }));
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const frame = decodeView(data as Buffer);
        if (!frame.ok) return;
        const w = this.subs.get(frame.value.runId);
        if (!w || w.pending) return;
        // Never hand out a chunk twice, whatever the socket does.
        if (w.next !== undefined && frame.value.seq < w.next) return;
        w.next = frame.value.seq + 1;
        this.emit('chunk', frame.value);
        return;
      }
      let parsed;
      try {
        parsed = GatewayToOperator.safeParse(JSON.parse(String(data)));
      } catch {
        return;
      }
      if (!parsed.success) return; // a newer gateway may send more; ignore what we do not know
      const msg = parsed.data;
      switch (msg.type) {
        case 'welcome':
          this.attempt = 0;
          this.everOpen = true;
          this.user = msg.user;
          this.setState('open');
          this.emit('welcome', msg.user);
          for (const runId of this.subs.keys()) this.sendSubscribe(runId);
          if (this.watching !== null) this.send({ type: 'watch_runs', limit: this.watching });
          return;
        case 'subscribed': {
          const w = this.subs.get(msg.runId);
          if (!w) return;
          w.pending = false;
          if (w.next === undefined) w.next = msg.from;
          this.emit('subscribed', { runId: msg.runId, from: msg.from, lastSeq: msg.lastSeq });
          return;
        }
        case 'caught_up':
          this.emit('caught_up', { runId: msg.runId, seq: msg.seq });
          return;
        case 'run':
          this.emit('run', msg.run);
          return;
        case 'runs':
          this.emit('runs', msg.runs);
          return;
        case 'assist':
          this.emit('assist', { runId: msg.runId, assist: msg.assist });
          return;
        case 'artifacts':
          this.emit('artifacts', { runId: msg.runId, artifacts: msg.artifacts });
          return;
        case 'approvals':
          this.emit('approvals', { runId: msg.runId, approvals: msg.approvals });
          return;
        case 'approval':
          this.emit('approval', { runId: msg.runId, approval: msg.approval });
          return;
        case 'input_accepted':
          this.emit('input_accepted', { runId: msg.runId, inputId: msg.inputId, ref: msg.ref });
          return;
        case 'error':
          // A refusal about one run's request (an approval, an input) is news, not the end of the socket.
          if ((msg.code === 'ERR_UNAUTHORIZED' || msg.code === 'ERR_FORBIDDEN') && !msg.runId) lastError = new CliError(msg.message, exitForCode(msg.code), msg.code);
          else this.emit('notice', { code: msg.code, message: msg.message, runId: msg.runId });
          return;
      }
    });
    ws.on('error', (err) => {
      lastError = (err as { code?: string }).code === 'ERR_PIN_MISMATCH' ? networkError(err, this.target.gateway) : lastError ?? networkError(err, this.target.gateway);
      if (lastError.code === 'ERR_PIN_MISMATCH' || lastError.code === 'ERR_TLS') this.fatal(lastError);
    });
    ws.on('close', (code, reasonBuf) => {
      if (this.ws !== ws || this.stopped) return;
      const { code: errCode, message } = parseCloseReason(reasonBuf.toString('utf8'));
      if (errCode && (code === 4401 || code === 4403 || code === 4426)) {
        return this.fatal(new CliError(message, exitForCode(errCode), errCode));
      }
      this.retry(lastError ?? new CliError(`connection to the gateway closed (${code})`, 69, 'ERR_UNREACHABLE'));
    });
  }
}

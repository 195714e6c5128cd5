import type { OperatorLiveText } from '../../protocol/claude-live.js';
import { EventEmitter } from 'node:events';
import type { RawData } from 'ws';
import { decodeView, type ViewChunk } from '../../protocol/frames.js';
import { GatewayToOperator, type OperatorToGateway } from '../../protocol/operator-messages.js';
import { PROTOCOL_VERSION, type RunSummary } from '../../protocol/run.js';
import type { AssistInfo } from '../../protocol/assist.js';
import type { ArtifactInfo } from '../../protocol/artifacts.js';
import type { Approval } from '../../protocol/claude-control.js';
import { CliError, EXIT, exitForCode } from '../exit-codes.js';
import type { GatewayTarget } from './api.js';
import { ReconnectingSocket, type ReconnectPolicy } from './reconnecting-socket.js';

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
  /** Claude's reply as it is written (live text, never stored; protocol/claude-live.ts). */
  live_text: [OperatorLiveText];
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
  private readonly socket: ReconnectingSocket;
  private readonly subs = new Map<string, Wanted>();
  private watching: number | null = null;
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
    target: GatewayTarget,
    private readonly opts: { reconnect: boolean; client?: string; failFast?: boolean } = { reconnect: true },
  ) {
    super();
    this.socket = new ReconnectingSocket({
      gateways: [{ url: target.gateway, fingerprint: target.fingerprint }],
      path: '/v1/operator',
      headers: () => ({ authorization: `Bearer ${target.token}` }),
      maxPayload: 8 * 1024 * 1024,
      backoffMs: 200,
      policy: this.policy(),
      handlers: {
        open: () => this.send({ type: 'hello', v: PROTOCOL_VERSION, ...(this.opts.client ? { client: this.opts.client } : {}) }),
        message: (data, isBinary) => this.onMessage(data, isBinary),
        retrying: () => this.setState('reconnecting'),
        fatal: (err) => {
          this.setState('closed');
          this.emit('fatal', err);
        },
      },
    });
  }

  start(): this {
    this.socket.start();
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

  /** Stops reading the socket until `resume` (the reader cannot keep up; see ReconnectingSocket.pause). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Drops the connection now and reconnects (the TUI's `r`). */
  reconnectNow(): void {
    this.socket.reconnectNow();
  }

  close(): void {
    this.socket.close();
    this.setState('closed');
  }

  private setState(s: ConnectionState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  private send(msg: OperatorToGateway): void {
    this.socket.send(JSON.stringify(msg));
  }

  private sendSubscribe(runId: string): void {
    const w = this.subs.get(runId)!;
    w.pending = true;
    this.send({ type: 'subscribe', runId, ...(w.next ? { from: w.next } : w.tail ? { tail: w.tail } : {}) });
  }

  /** Auth failures and an old protocol are final; anything else is ridden out when reconnecting. */
  private policy(): ReconnectPolicy {
    return {
      refused: (status, code, message) => {
        const err = new CliError(message ?? `gateway refused the operator socket (${status})`, exitForCode(code), code);
        return { fatal: status === 401 || status === 403 || status === 426, err };
      },
      closed: (code, reason, noted) => {
        if (reason.code && (code === 4401 || code === 4403 || code === 4426)) {
          return { fatal: true, err: new CliError(reason.message, exitForCode(reason.code), reason.code) };
        }
        return { fatal: false, err: noted ?? new CliError(`connection to the gateway closed (${code})`, EXIT.UNREACHABLE, 'ERR_UNREACHABLE') };
      },
      giveUp: (why) => (!this.opts.reconnect || (this.opts.failFast && !this.everOpen) ? why : null),
    };
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) return this.onChunk(data as Buffer);
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
        this.socket.resetBackoff();
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
      case 'live_text':
        if (this.subs.has(msg.runId)) this.emit('live_text', msg);
        return;
      case 'error':
        // A refusal about one run's request (an approval, an input) is news, not the end of the socket.
        if ((msg.code === 'ERR_UNAUTHORIZED' || msg.code === 'ERR_FORBIDDEN') && !msg.runId) this.socket.note(new CliError(msg.message, exitForCode(msg.code), msg.code));
        // The gateway cannot serve this socket now (a cluster node cut off from NATS, one shutting
        // down): the close that follows is a reconnect, not the end of the command.
        else if ((msg.code === 'ERR_STORAGE' || msg.code === 'ERR_SHUTDOWN') && !msg.runId) return;
        else this.emit('notice', { code: msg.code, message: msg.message, runId: msg.runId });
        return;
    }
  }

  private onChunk(data: Buffer): void {
    const frame = decodeView(data);
    if (!frame.ok) return;
    const w = this.subs.get(frame.value.runId);
    if (!w || w.pending) return;
    // Never hand out a chunk twice, whatever the socket does.
    if (w.next !== undefined && frame.value.seq < w.next) return;
    w.next = frame.value.seq + 1;
    this.emit('chunk', frame.value);
  }
}

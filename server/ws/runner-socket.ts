import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import type { RunnerLiveText } from '../../protocol/claude-live.js';
import { CcgError, closeReason } from '../../protocol/errors.js';
import { MAX_CHUNK_DATA, OUTPUT_HEADER_BYTES, decodeOutput } from '../../protocol/frames.js';
import { PROTOCOL_VERSION, isFinal } from '../../protocol/run.js';
import { GatewayToRunner, RUNNER_MESSAGE_TYPES, RunnerToGateway, type RunnerAssistStatus } from '../../protocol/runner-messages.js';
import { HEADER_PROTOCOL } from '../../protocol/signing.js';
import { verifyRunnerRequest, type RunnerAuthDeps } from '../auth/runner-auth.js';
import { parseTextMessage } from './parse-message.js';
import { beginUpgrade } from './upgrade.js';
import type { Logger } from '../log.js';
import type { ConnectionLimiter } from '../connection-limits.js';

import type { RunService, RunnerLink } from '../core/runs.js';
import { STORE_HEADROOM } from '../store/types.js';

interface RunnerData {
  runId: string;
  remote: string;
  closed: boolean;
  ready: boolean;
  /** Set once the runner sent `exit`: nothing more is accepted on this socket. */
  finished: boolean;
  link: RunnerLink | null;
  /** Highest committed seq to acknowledge, and the last one acknowledged. */
  ackSeq: number;
  ackSent: number;
  ackTimer: NodeJS.Immediate | NodeJS.Timeout | null;
  /** Whether ackTimer is an immediate (a busy stream) or a short delay (a trickle). */
  ackSoon: boolean;
  bucket: number;
  bucketAt: number;
  /** Gives back this connection's slot (ConnectionLimiter). */
  release: () => void;
  helloSeen: boolean;
  helloTimer: NodeJS.Timeout | null;
  /** What ingest calls back once a chunk is committed, or its write failed: made once per socket, not per chunk. */
  onCommitted: ((seq: number) => void) | null;
  onFailed: ((err: unknown) => void) | null;
}

export interface RunnerSocketOptions extends RunnerAuthDeps {
  runs: RunService;
  log: Logger;
  maxRunBytes: number;
  /** Sustained messages per second per runner; bursts up to twice that. */
  msgRate: number;
  sockets: Set<WebSocket<unknown>>;
  /** The runner's assist session changed (the links are for operators only: never logged). */
  onAssistStatus?: (runId: string, status: RunnerAssistStatus) => void;
  /** Claude's reply as it is written (live text): in memory only, never stored. */
  onLiveText?: (runId: string, m: RunnerLiveText) => void;
  /** Connection caps (per address, in total): a signed runner may use the runners' reserve. */
  limiter: ConnectionLimiter;
  /** A socket that has not sent `hello` this long after it opened is closed. */
  helloTimeoutMs: number;
}

const SHUTDOWN_REASON = closeReason('ERR_SHUTDOWN');
/**
 * Acks of a trickling stream wait up to this long, gathered into one (see scheduleAck). At 50 ms
 * a runner writing a line every 50 ms still got one ack per line: as many TLS writes as VIEW frames.
 */
const ACK_DELAY_MS = 1000;
/** …and a stream with this many chunks waiting for an ack is acked at the end of the turn. */
const ACK_EVERY_CHUNKS = 16;
/** Runner JSON messages are small; a hello with a long command line is the largest. */
const MAX_TEXT_FRAME = 64 * 1024;

/**
 * `/v1/runner`: the connect-back socket. A signed upgrade, then `hello` → `welcome` (which says
 * where to resume), then output frames acknowledged only once committed, then `exit` →
 * `exit_ack`.
 */
export function mountRunnerSocket(app: TemplatedApp, o: RunnerSocketOptions): void {
  const send = (ws: WebSocket<RunnerData>, msg: GatewayToRunner) => {
    if (!ws.getUserData().closed) ws.send(JSON.stringify(msg), false);
  };

  const revoked = (runId: string) => new CcgError('ERR_RUN_REVOKED', `the token of run ${runId} was revoked`);
  /** Every open socket of each run, from `open` on (hello or not): a revoke closes them all. */
  const byRun = new Map<string, Set<WebSocket<RunnerData>>>();
  o.runs.onRevoke((runId) => {
    for (const ws of [...(byRun.get(runId) ?? [])]) fail(ws, revoked(runId));
  });

  const fail = (ws: WebSocket<RunnerData>, err: CcgError) => {
    const d = ws.getUserData();
    if (d.closed) return;
    o.log.warn('runner.refused', { run: d.runId, remote: d.remote, code: err.code, reason: err.message });
    ws.cork(() => {
      ws.send(JSON.stringify({ type: 'error', code: err.code, message: err.message }), false);
      ws.end(err.ws, closeReason(err.code, err.message));
    });
  };

  const flushAck = (ws: WebSocket<RunnerData>) => {
    const d = ws.getUserData();
    d.ackTimer = null;
    if (d.ackSeq <= d.ackSent) return;
    d.ackSent = d.ackSeq;
    send(ws, { type: 'ack', seq: d.ackSeq });
  };

  const clearAck = (d: RunnerData) => {
    if (!d.ackTimer) return;
    if (d.ackSoon) clearImmediate(d.ackTimer as NodeJS.Immediate);
    else clearTimeout(d.ackTimer as NodeJS.Timeout);
    d.ackTimer = null;
  };

  const scheduleAck = (ws: WebSocket<RunnerData>, seq: number) => {
    const d = ws.getUserData();
    d.ackSeq = Math.max(d.ackSeq, seq);
    if (d.ackSeq - d.ackSent >= ACK_EVERY_CHUNKS) {
      // A busy stream: one ack per event-loop turn, however many chunks the store committed.
      if (d.ackTimer && !d.ackSoon) clearAck(d);
      if (!d.ackTimer) {
        d.ackSoon = true;
        d.ackTimer = setImmediate(() => flushAck(ws));
      }
      return;
    }
    // A trickle (a line every few ms or slower, the common case with many runners): acks are
    // gathered for a moment. Every ack is a WebSocket frame and a TLS record; the runner keeps
    // the chunks in its spool until then anyway, so nothing is less safe.
    if (!d.ackTimer) {
      d.ackSoon = false;
      d.ackTimer = setTimeout(() => flushAck(ws), ACK_DELAY_MS);
    }
  };

  const withinRate = (d: RunnerData, now: number): boolean => {
    d.bucket = Math.min(o.msgRate * 2, d.bucket + ((now - d.bucketAt) / 1000) * o.msgRate);
    d.bucketAt = now;
    if (d.bucket < 1) return false;
    d.bucket -= 1;
    return true;
  };

  const onHello = async (ws: WebSocket<RunnerData>, msg: Extract<RunnerToGateway, { type: 'hello' }>) => {
    const d = ws.getUserData();
    if (msg.v !== PROTOCOL_VERSION) throw new CcgError('ERR_VERSION', `runner speaks v${msg.v}, gateway v${PROTOCOL_VERSION}`);
    const current = o.runs.mustGet(d.runId);
    // Revoked after this socket upgraded, before it said hello: cut off like a connected one.
    if (current.revokedBy) throw revoked(d.runId);
    const limits = { maxChunkBytes: MAX_CHUNK_DATA, maxRunBytes: o.maxRunBytes };
    if (isFinal(current.status)) {
      d.finished = true; // told so; anything it sends now is refused
      send(ws, { type: 'welcome', v: PROTOCOL_VERSION, runId: d.runId, nextSeq: (await o.runs.latestSeq(d.runId)) + 1, finished: true, exitCode: current.exitCode, serverTime: Date.now(), limits });
      return;
    }
    const link: RunnerLink = {
      sendCancel: (cancel) => send(ws, { type: 'cancel', ...cancel }),
      sendExec: (msg) => send(ws, msg),
      send: (msg) => send(ws, msg),
      kick: (err) => fail(ws, err),
    };
    const { nextSeq } = await o.runs.attachRunner(d.runId, link, msg.runner);
    if (d.closed || o.runs.get(d.runId)?.revokedBy) {
      // Revoked while it attached: the revoke found no link to kick; this one goes now.
      o.runs.detachRunner(d.runId, link);
      if (!d.closed) throw revoked(d.runId);
      return;
    }
    d.link = link;
    d.ready = true;
    send(ws, { type: 'welcome', v: PROTOCOL_VERSION, runId: d.runId, nextSeq, finished: false, exitCode: null, serverTime: Date.now(), limits, claude: { maxBudgetUsd: current.claude?.maxBudgetUsd ?? null } });
    const cancel = o.runs.pendingCancel(d.runId);
    if (cancel) send(ws, { type: 'cancel', ...cancel });
    o.log.info('runner.connected', { run: d.runId, remote: d.remote, nextSeq, host: msg.runner.hostname });
  };

  /** A message before the socket is ready: before `hello`, or after it but before `welcome` (the gateway still reads where the run stands). */
  const notReady = (d: RunnerData, what: string) =>
    new CcgError('ERR_NOT_READY', d.helloSeen ? `${what} before welcome: wait for the gateway's welcome after hello` : `${what} before hello: hello must be the first message`);

  const onText = async (ws: WebSocket<RunnerData>, text: string) => {
    const d = ws.getUserData();
    const msg = parseTextMessage(text, RunnerToGateway, RUNNER_MESSAGE_TYPES);
    if (d.finished) throw new CcgError('ERR_RUN_FINISHED', `the run ended: no ${msg.type} after exit`);
    if (msg.type !== 'hello' && !d.ready) throw notReady(d, msg.type);
    switch (msg.type) {
      case 'hello':
        if (d.ready || d.helloSeen) throw new CcgError('ERR_BAD_FRAME', 'hello sent twice');
        d.helloSeen = true;
        if (d.helloTimer) clearTimeout(d.helloTimer);
        d.helloTimer = null;
        return onHello(ws, msg);
      case 'started':
        return o.runs.started(d.runId);
      case 'exit': {
        // From here on the socket takes nothing more: no output after the exit, no second exit.
        d.finished = true;
        const run = await o.runs.recordExit(d.runId, msg);
        o.log.info('run.ended', { run: d.runId, status: run.status, code: run.exitCode });
        send(ws, { type: 'exit_ack' });
        return;
      }
      case 'assist_status': {
        const run = o.runs.mustGet(d.runId);
        if (isFinal(run.status)) throw new CcgError('ERR_RUN_FINISHED', 'the run ended: its assist session is over');
        // A runner that offered no assist sessions in its hello has none to report (its "links"
        // would show as a session an operator could join); it may refuse a request.
        if (!run.runner?.assist && (msg.state === 'starting' || msg.state === 'active')) {
          throw new CcgError('ERR_BAD_FRAME', `assist_status ${msg.state} from a runner that offered no assist sessions in its hello`);
        }
        o.onAssistStatus?.(d.runId, msg);
        return;
      }
      case 'live_text':
        o.onLiveText?.(d.runId, msg);
        return;
      default: {
        const never: never = msg;
        throw new CcgError('ERR_UNKNOWN_TYPE', String(never));
      }
    }
  };

  /** `now`: when the frame arrived (the chunk's time; Date.now is a call into C++, once per frame is enough). */
  const onBinary = (ws: WebSocket<RunnerData>, message: ArrayBuffer, now: number) => {
    const d = ws.getUserData();
    if (d.finished) throw new CcgError('ERR_RUN_FINISHED', 'the run ended: no output after exit');
    if (!d.ready) throw notReady(d, 'output');
    // Copies the data out of uWS's buffer, leaving room for the store's record header before it.
    const frame = decodeOutput(message, STORE_HEADROOM);
    if (!frame.ok) throw new CcgError('ERR_BAD_FRAME', frame.message);
    const { seq, stream, data } = frame.value;
    // A commit may land after the socket closed: uWS throws on any use of a closed socket.
    d.onCommitted ??= (committed) => {
      if (!d.closed) scheduleAck(ws, committed);
    };
    d.onFailed ??= (err) => {
      o.log.error('store.write_failed', { run: d.runId, err: String(err) });
      if (d.closed) return;
      const why = err instanceof CcgError ? err.message : 'could not store output';
      fail(ws, new CcgError('ERR_STORAGE', `${why}; resend after reconnect`));
    };
    const result = o.runs.ingest(d.runId, { seq, stream, time: now, data: data as Buffer, headroom: STORE_HEADROOM }, d.onCommitted, d.onFailed);
    if (result === 'duplicate') scheduleAck(ws, o.runs.committedSeq(d.runId));
  };

  app.ws<RunnerData>('/v1/runner', {
    // uWS drops frames past maxPayloadLength without a close frame (1006); up to 4× our limit we
    // read them and refuse with a clear 1009 + reason instead.
    maxPayloadLength: 4 * (OUTPUT_HEADER_BYTES + MAX_CHUNK_DATA),
    maxBackpressure: 1024 * 1024,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    compression: 0,

    upgrade: (res, req, context) => {
      const up = beginUpgrade(res, req, context, { log: o.log, limiter: o.limiter, refusedEvent: 'runner.upgrade_refused' });
      if (!up) return;
      const { info } = up;
      const version = info.headers[HEADER_PROTOCOL];
      if (version !== String(PROTOCOL_VERSION)) {
        return up.refuse(new CcgError('ERR_VERSION', `gateway speaks protocol ${PROTOCOL_VERSION}; runner sent ${version ?? 'none'} in ${HEADER_PROTOCOL}`));
      }
      verifyRunnerRequest(o, { method: 'GET', target: info.target, headers: info.headers }).then(
        (run) => {
          if (up.aborted) return;
          let release: () => void;
          try {
            release = o.limiter.acquire(info.remote, 'runner');
          } catch (err) {
            return up.refuse(err as CcgError);
          }
          const data: RunnerData = {
            runId: run.id, remote: info.remote, closed: false, ready: false, finished: false, link: null,
            ackSeq: 0, ackSent: 0, ackTimer: null, ackSoon: false, bucket: o.msgRate * 2, bucketAt: Date.now(),
            release, helloSeen: false, helloTimer: null, onCommitted: null, onFailed: null,
          };
          up.acceptSoon(data, release);
        },
        (err: unknown) => up.refuse(err instanceof CcgError ? err : new CcgError('ERR_INTERNAL')),
      );
    },

    open: (ws) => {
      o.sockets.add(ws as WebSocket<unknown>);
      // A signed socket that never says hello holds a descriptor and a slot for nothing.
      const d = ws.getUserData();
      d.helloTimer = setTimeout(() => {
        d.helloTimer = null;
        if (!d.helloSeen && !d.closed) fail(ws, new CcgError('ERR_NOT_READY', `no hello within ${o.helloTimeoutMs} ms`));
      }, o.helloTimeoutMs);
      let mine = byRun.get(d.runId);
      if (!mine) byRun.set(d.runId, (mine = new Set()));
      mine.add(ws);
    },

    message: (ws, message, isBinary) => {
      const d = ws.getUserData();
      try {
        const now = Date.now();
        if (!withinRate(d, now)) throw new CcgError('ERR_RATE_LIMIT', `more than ${o.msgRate} messages/s`);
        const max = isBinary ? OUTPUT_HEADER_BYTES + MAX_CHUNK_DATA : MAX_TEXT_FRAME;
        if (message.byteLength > max) throw new CcgError('ERR_FRAME_TOO_LARGE', `${isBinary ? 'binary' : 'text'} frame of ${message.byteLength} bytes exceeds ${max}`);
        if (isBinary) {
          onBinary(ws, message, now);
          return;
        }
        const text = Buffer.from(message).toString('utf8'); // decoded now: the buffer dies with this callback
        onText(ws, text).catch((err: unknown) => {
          if (!(err instanceof CcgError)) o.log.error('runner.internal', { run: d.runId, err: String(err) });
          fail(ws, err instanceof CcgError ? err : new CcgError('ERR_INTERNAL'));
        });
      } catch (err) {
        if (!(err instanceof CcgError)) o.log.error('runner.internal', { run: d.runId, err: String(err) });
        const e = err instanceof CcgError ? err : new CcgError('ERR_INTERNAL');
        if (e.code === 'ERR_OUTPUT_LIMIT') o.runs.fail(d.runId, e.message).catch((err: unknown) => o.log.error('run.fail_write_failed', { run: d.runId, err: String(err).slice(0, 300) }));
        fail(ws, e);
      }
    },

    close: (ws, code) => {
      const d = ws.getUserData();
      d.closed = true;
      o.sockets.delete(ws as WebSocket<unknown>);
      d.release();
      if (d.helloTimer) clearTimeout(d.helloTimer);
      const mine = byRun.get(d.runId);
      mine?.delete(ws);
      if (mine?.size === 0) byRun.delete(d.runId);
      clearAck(d);
      if (d.link) o.runs.detachRunner(d.runId, d.link);
      o.log.info('runner.disconnected', { run: d.runId, code });
    },
  });
}

export { SHUTDOWN_REASON };

import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import { CcgError, closeReason } from '../../protocol/errors.js';
import { encodeView } from '../../protocol/frames.js';
import { OperatorToGateway, type GatewayToOperator } from '../../protocol/operator-messages.js';
import { PROTOCOL_VERSION } from '../../protocol/run.js';
import { authenticateBearer, canOperate, type Principal } from '../auth/operator-auth.js';
import type { EventBus } from '../live/bus.js';
import { copyRequest, errorReply, writeReply } from '../respond.js';
import type { Logger } from '../log.js';
import type { RunService } from '../core/runs.js';
import type { AuthStore, RunStore } from '../store/types.js';
import type { ArtifactService } from '../core/artifacts.js';
import type { AssistService } from '../core/assist.js';
import { STEERING_MESSAGE_TYPES, type OperatorSteering } from './operator-steering.js';

interface Sub {
  runId: string;
  /** The next seq this viewer needs. */
  next: number;
  /** True while new chunks go straight from the bus; false while catching up from the store. */
  live: boolean;
  off: () => void;
}

interface OperatorData {
  /** Who is asking, as of the last check: re-resolved before every message and on every auth change. */
  principal: Principal;
  /** The headers that authenticated the upgrade (Authorization, Cookie), to check them again. */
  credentials: Record<string, string>;
  remote: string;
  closed: boolean;
  ready: boolean;
  subs: Map<string, Sub>;
  offRuns: (() => void) | null;
}

export interface OperatorSocketOptions {
  runs: RunService;
  store: RunStore & AuthStore;
  bus: EventBus;
  log: Logger;
  sockets: Set<WebSocket<unknown>>;
  /** Resolves a browser session from the upgrade's headers (phone pages); undefined: not a session. */
  sessionPrincipal?: (headers: Record<string, string>) => Principal | undefined;
  /** Assist sessions: their links go to operator and admin subscribers only. */
  assist?: AssistService;
  artifacts?: ArtifactService;
  /** Approvals, follow-up input and terminal size (Claude runs, pty runs). */
  steering?: OperatorSteering;
}

/** Past this many buffered bytes a viewer stops getting live chunks and catches up from the store on drain. */
const HIGH_WATER = 1024 * 1024;
const MAX_SUBS = 64;
/** Every open socket's credentials are checked at least this often (sessions expire; a cluster peer's change may be missed). */
const RECHECK_MS = 15_000;

export interface OperatorSockets {
  /** Stops the periodic credential checks (gateway shutdown). */
  close(): void;
}

/**
 * `/v1/operator`: live run list and output for the TUI, the CLI and the pages. A slow viewer
 * never slows anyone: when its socket backs up it is switched from live fan-out to reading from
 * the store, from exactly the seq it is missing, once the socket drains.
 */
export function mountOperatorSocket(app: TemplatedApp, o: OperatorSocketOptions): OperatorSockets {
  const send = (ws: WebSocket<OperatorData>, msg: GatewayToOperator) => {
    if (!ws.getUserData().closed) ws.send(JSON.stringify(msg), false);
  };
  const open = new Set<WebSocket<OperatorData>>();
  const resolvePrincipal = (headers: Record<string, string>): Principal => o.sessionPrincipal?.(headers) ?? authenticateBearer(o.store, headers);

  /**
   * Checks the socket's credentials again: a revoked token, a disabled or deleted user, an
   * expired session closes the socket (4401); a changed role takes effect at once (a demoted
   * operator stops getting assist links and cannot answer or steer). The socket only ever
   * acts with the principal as it is now, never as it was at the upgrade.
   */
  const recheck = (ws: WebSocket<OperatorData>): boolean => {
    const d = ws.getUserData();
    if (d.closed) return false;
    let now: Principal;
    try {
      now = resolvePrincipal(d.credentials);
    } catch {
      const e = new CcgError('ERR_UNAUTHORIZED', 'your token was revoked, or your account was disabled or deleted');
      o.log.warn('operator.revoked', { user: d.principal.name, remote: d.remote });
      ws.cork(() => {
        send(ws, { type: 'error', code: e.code, message: e.message });
        ws.end(e.ws, closeReason(e.code, e.message));
      });
      d.closed = true;
      return false;
    }
    if (now.role !== d.principal.role) o.log.info('operator.role_changed', { user: now.name, from: d.principal.role, to: now.role });
    d.principal = now;
    return true;
  };
  // Immediately on any change of a token, user or session (from this gateway or, over a shared
  // bus, another), from a macrotask: never write to sockets inside a store commit's continuation.
  let recheckAll: NodeJS.Immediate | null = null;
  const offAuth = o.bus.onAuthChange(() => {
    recheckAll ??= setImmediate(() => {
      recheckAll = null;
      for (const ws of [...open]) recheck(ws);
    });
  });
  const timer = setInterval(() => {
    for (const ws of [...open]) recheck(ws);
  }, RECHECK_MS);
  timer.unref();

  const pump = (ws: WebSocket<OperatorData>, sub: Sub) => {
    const d = ws.getUserData();
    while (!d.closed && d.subs.get(sub.runId) === sub) {
      const committed = o.runs.committedSeq(sub.runId);
      if (sub.next > committed) {
        if (!sub.live) {
          sub.live = true;
          send(ws, { type: 'caught_up', runId: sub.runId, seq: committed });
        }
        return;
      }
      if (ws.getBufferedAmount() > HIGH_WATER) return; // drain() resumes us
      const chunks = o.store.readChunks(sub.runId, sub.next, { limit: 256, maxBytes: 512 * 1024 });
      if (chunks.length === 0) return;
      ws.cork(() => {
        for (const c of chunks) {
          ws.send(encodeView({ runId: sub.runId, seq: c.seq, stream: c.stream, time: c.time, data: c.data }), true);
          sub.next = c.seq + 1;
        }
      });
    }
  };

  const subscribe = (ws: WebSocket<OperatorData>, runId: string, from: number | undefined, tail: number | undefined) => {
    const d = ws.getUserData();
    o.runs.mustGet(runId);
    d.subs.get(runId)?.off();
    if (d.subs.size >= MAX_SUBS) throw new CcgError('ERR_BAD_REQUEST', `at most ${MAX_SUBS} subscriptions per socket`);
    const committed = o.runs.committedSeq(runId);
    const next = from ?? (tail ? Math.max(1, committed - tail + 1) : 1);
    const sub: Sub = { runId, next, live: false, off: () => undefined };
    sub.off = o.bus.onChunk(runId, (chunk) => {
      if (!sub.live || d.closed || chunk.seq < sub.next) return;
      if (chunk.seq > sub.next || ws.getBufferedAmount() > HIGH_WATER) {
        sub.live = false; // fall back to the store; drain() or the next pump picks it up
        if (chunk.seq > sub.next) pump(ws, sub);
        return;
      }
      ws.send(encodeView({ runId, seq: chunk.seq, stream: chunk.stream, time: chunk.time, data: chunk.data }), true);
      sub.next = chunk.seq + 1;
    });
    // Subscribers also hear about their run's state, so a follower knows when output has ended.
    const offChunk = sub.off;
    const offRun = o.bus.onRun((run) => {
      if (run.id === runId) send(ws, { type: 'run', run });
    });
    // Viewers see the output; only operators and admins see assist links: decided at each send,
    // with the role as it is then (a demotion stops the links at once).
    const seesAssist = () => canOperate(d.principal);
    const offAssist = o.assist ? o.assist.onChange((id, assist) => {
      if (id === runId && seesAssist()) send(ws, { type: 'assist', runId, assist });
    }) : () => undefined;
    const offArtifacts = o.artifacts?.onChange((id, artifacts) => {
      if (id === runId) send(ws, { type: 'artifacts', runId, artifacts });
    }) ?? (() => undefined);
    // …and about its approvals: requested, answered (by anyone), resolved.
    const offApprovals = o.steering?.onApproval(runId, (approval) => send(ws, { type: 'approval', runId, approval })) ?? (() => undefined);
    sub.off = () => {
      offChunk();
      offRun();
      offAssist();
      offArtifacts();
      offApprovals();
    };
    d.subs.set(runId, sub);
    send(ws, { type: 'subscribed', runId, from: next, lastSeq: committed });
    send(ws, { type: 'run', run: o.runs.summary(o.runs.mustGet(runId)) });
    const assist = seesAssist() ? o.assist?.get(runId) : null;
    if (assist) send(ws, { type: 'assist', runId, assist });
    const artifacts = o.artifacts?.list(runId) ?? [];
    if (artifacts.length > 0) send(ws, { type: 'artifacts', runId, artifacts });
    if (o.steering) send(ws, { type: 'approvals', runId, approvals: o.steering.approvals(runId) });
    pump(ws, sub);
  };

  const onMessage = (ws: WebSocket<OperatorData>, text: string) => {
    const d = ws.getUserData();
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new CcgError('ERR_BAD_FRAME', 'text frame is not valid JSON');
    }
    const parsed = OperatorToGateway.safeParse(raw);
    if (!parsed.success) {
      const type = (raw as { type?: unknown } | null)?.type;
      if (typeof type === 'string' && !['hello', 'subscribe', 'unsubscribe', 'watch_runs', ...STEERING_MESSAGE_TYPES].includes(type)) {
        throw new CcgError('ERR_UNKNOWN_TYPE', `unknown message type "${type.slice(0, 40)}"`);
      }
      throw new CcgError('ERR_BAD_FRAME', parsed.error.issues[0]?.message ?? 'invalid message');
    }
    const msg = parsed.data;
    if (msg.type !== 'hello' && !d.ready) throw new CcgError('ERR_NOT_READY');
    switch (msg.type) {
      case 'hello':
        if (msg.v !== PROTOCOL_VERSION) throw new CcgError('ERR_VERSION', `client speaks v${msg.v}, gateway v${PROTOCOL_VERSION}`);
        d.ready = true;
        send(ws, { type: 'welcome', v: PROTOCOL_VERSION, user: { name: d.principal.name, role: d.principal.role } });
        return;
      case 'subscribe':
        subscribe(ws, msg.runId, msg.from, msg.tail);
        return;
      case 'unsubscribe':
        d.subs.get(msg.runId)?.off();
        d.subs.delete(msg.runId);
        return;
      case 'watch_runs':
        d.offRuns?.();
        d.offRuns = o.bus.onRun((run) => send(ws, { type: 'run', run }));
        send(ws, { type: 'runs', runs: o.runs.list({ limit: msg.limit ?? 100 }) });
        return;
      case 'approval_answer':
      case 'input':
      case 'resize':
        if (!o.steering) throw new CcgError('ERR_UNKNOWN_TYPE', `this gateway does not handle ${msg.type}`);
        o.steering.handle(d.principal, d.remote, msg, (reply) => send(ws, reply));
        return;
      default: {
        const never: never = msg;
        throw new CcgError('ERR_UNKNOWN_TYPE', String(never));
      }
    }
  };

  app.ws<OperatorData>('/v1/operator', {
    maxPayloadLength: 16 * 1024,
    maxBackpressure: 16 * 1024 * 1024,
    closeOnBackpressureLimit: 1,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    compression: 0,

    upgrade: (res, req, context) => {
      const info = copyRequest(res, req, 0);
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      res.onAborted(() => undefined);
      try {
        if (/ccg[ro]_/.test(info.query)) throw new CcgError('ERR_TOKEN_IN_URL');
        const principal = resolvePrincipal(info.headers);
        const credentials: Record<string, string> = {};
        for (const k of ['authorization', 'cookie']) if (info.headers[k] !== undefined) credentials[k] = info.headers[k]!;
        const data: OperatorData = { principal, credentials, remote: info.remote, closed: false, ready: false, subs: new Map(), offRuns: null };
        res.upgrade(data, key, protocol, extensions, context);
      } catch (err) {
        const e = err instanceof CcgError ? err : new CcgError('ERR_INTERNAL');
        o.log.warn('operator.upgrade_refused', { remote: info.remote, code: e.code });
        writeReply(res, errorReply(e));
      }
    },

    open: (ws) => {
      o.sockets.add(ws as WebSocket<unknown>);
      open.add(ws);
    },

    message: (ws, message, isBinary) => {
      const d = ws.getUserData();
      // Every message acts with the credentials as they are now (revoked: the socket closes).
      if (!recheck(ws)) return;
      try {
        if (isBinary) throw new CcgError('ERR_BAD_FRAME', 'operators send text frames only');
        onMessage(ws, Buffer.from(message).toString('utf8'));
      } catch (err) {
        const e = err instanceof CcgError ? err : new CcgError('ERR_INTERNAL');
        if (!(err instanceof CcgError)) o.log.error('operator.internal', { err: String(err) });
        // Requests about a missing run are answered, not fatal; protocol violations close the socket.
        if (e.code === 'ERR_RUN_NOT_FOUND' || e.code === 'ERR_BAD_REQUEST' || e.code === 'ERR_FORBIDDEN') {
          send(ws, { type: 'error', code: e.code, message: e.message });
          return;
        }
        o.log.warn('operator.refused', { user: d.principal.name, code: e.code, reason: e.message });
        ws.cork(() => {
          send(ws, { type: 'error', code: e.code, message: e.message });
          ws.end(e.ws, closeReason(e.code, e.message));
        });
      }
    },

    drain: (ws) => {
      for (const sub of ws.getUserData().subs.values()) if (!sub.live) pump(ws, sub);
    },

    close: (ws) => {
      const d = ws.getUserData();
      d.closed = true;
      open.delete(ws);
      o.sockets.delete(ws as WebSocket<unknown>);
      for (const sub of d.subs.values()) sub.off();
      d.subs.clear();
      d.offRuns?.();
    },
  });

  return {
    close() {
      clearInterval(timer);
      if (recheckAll) clearImmediate(recheckAll);
      offAuth();
    },
  };
}

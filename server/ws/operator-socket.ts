import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import { CcgError, closeReason } from '../../protocol/errors.js';
import { encodeViewHead } from '../../protocol/frames.js';
import { OperatorToGateway, type GatewayToOperator } from '../../protocol/operator-messages.js';
import { PROTOCOL_VERSION } from '../../protocol/run.js';
import { authenticateBearer, canOperate, type Principal } from '../auth/operator-auth.js';
import type { Services } from '../core/services.js';
import type { LiveChunk } from '../live/bus.js';
import { Follower, type FollowSink } from '../live/follower.js';
import { CredentialWatch } from '../live/recheck.js';
import { STEERING_MESSAGE_TYPES, operatorSteering } from './operator-steering.js';
import { parseTextMessage } from './parse-message.js';
import { beginUpgrade } from './upgrade.js';
import type { ConnectionLimiter } from '../connection-limits.js';

interface Sub {
  runId: string;
  follower: Follower;
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
  offRecheck: (() => void) | null;
  /** Gives back this connection's slot (ConnectionLimiter). */
  release: () => void;
}

export interface OperatorSocketOptions {
  /** Every open socket of the gateway (closed at shutdown). */
  sockets: Set<WebSocket<unknown>>;
  /** Connection caps (per address, in total, short of the runners' reserve). */
  limiter: ConnectionLimiter;
  /** Resolves a browser session from the upgrade's headers (phone pages); undefined: not a session. */
  sessionPrincipal?: (headers: Record<string, string>) => Principal | undefined;
}

/** Past this many buffered bytes a viewer stops getting live chunks and catches up from the store on drain. */
const HIGH_WATER = 1024 * 1024;
const MAX_SUBS = 64;
/** VIEW frames of chunks this large go as two fragments, header then data, instead of a copy. */
const VIEW_FRAGMENT_FROM = 16 * 1024;

export interface OperatorSockets {
  /** Stops the periodic credential checks (gateway shutdown). */
  close(): void;
}

/**
 * `/v1/operator`: live run list and output for the TUI, the CLI and the pages. A slow viewer
 * never slows anyone: when its socket backs up it is switched from live fan-out to reading from
 * the store, from exactly the seq it is missing, once the socket drains.
 */
export function mountOperatorSocket(app: TemplatedApp, s: Services, o: OperatorSocketOptions): OperatorSockets {
  const { runs, store, bus, log } = s;
  const steering = operatorSteering(s.approvals, s.steering, log);
  const send = (ws: WebSocket<OperatorData>, msg: GatewayToOperator) => {
    if (!ws.getUserData().closed) ws.send(JSON.stringify(msg), false);
  };
  const watch = new CredentialWatch(bus, log);
  const resolvePrincipal = (headers: Record<string, string>): Principal => o.sessionPrincipal?.(headers) ?? authenticateBearer(store, headers);

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
    } catch (err) {
      // A node cut off from NATS cannot tell (ERR_STORAGE, ERR_SHUTDOWN): the socket goes, with
      // only a close code (1011), so clients reconnect (to this node once it can tell, or to
      // another) instead of reading an error frame as the end (`runs wait` exited 1 on a blip).
      if (err instanceof CcgError && (err.code === 'ERR_STORAGE' || err.code === 'ERR_SHUTDOWN')) {
        log.warn('operator.unverifiable', { user: d.principal.name, remote: d.remote, why: err.message.slice(0, 200) });
        ws.end(err.ws, closeReason(err.code, err.message));
        d.closed = true;
        return false;
      }
      const e = new CcgError('ERR_UNAUTHORIZED', 'your token was revoked, or your account was disabled or deleted');
      log.warn('operator.revoked', { user: d.principal.name, remote: d.remote });
      ws.cork(() => {
        send(ws, { type: 'error', code: e.code, message: e.message });
        ws.end(e.ws, closeReason(e.code, e.message));
      });
      d.closed = true;
      return false;
    }
    if (now.role !== d.principal.role) log.info('operator.role_changed', { user: now.name, from: d.principal.role, to: now.role });
    d.principal = now;
    return true;
  };
  /** The socket's side of a follower: VIEW frames, dropped to the store past HIGH_WATER (drain() resumes it). */
  const viewSink = (ws: WebSocket<OperatorData>, runId: string): FollowSink => {
    const congested = () => ws.getUserData().closed || ws.getBufferedAmount() > HIGH_WATER;
    const idBytes = Buffer.from(runId, 'ascii');
    const sendChunk = (c: LiveChunk) => {
      const len = c.data.length;
      if (len < VIEW_FRAGMENT_FROM) {
        const frame = encodeViewHead(c, idBytes, len);
        frame.set(c.data, frame.length - len);
        ws.send(frame, true);
      } else {
        // A large chunk goes as two fragments of one message, its data as it is: no copy of it.
        ws.sendFirstFragment(encodeViewHead(c, idBytes), true);
        ws.sendLastFragment(c.data);
      }
    };
    let batch: readonly LiveChunk[] = [];
    // One callback for the socket's life (cork takes one per call): no closure per batch.
    const sendBatch = () => {
      for (const c of batch) sendChunk(c);
    };
    return {
      congested,
      deliver(chunks) {
        // A live line is one frame, which uWS corks and writes by itself (one TLS record, one
        // write): only a batch (a catch-up read, or a fragmented chunk's two parts) needs a cork.
        if (chunks.length === 1 && chunks[0]!.data.length < VIEW_FRAGMENT_FROM) sendChunk(chunks[0]!);
        else {
          batch = chunks;
          ws.cork(sendBatch);
          batch = [];
        }
        return !congested();
      },
      caughtUp: (seq) => {
        send(ws, { type: 'caught_up', runId, seq });
        // The reply Claude is writing right now, whole; its next pieces follow from the bus.
        const live = s.liveText.snapshot(runId);
        if (live) send(ws, live);
      },
    };
  };

  const subscribe = (ws: WebSocket<OperatorData>, runId: string, from: number | undefined, tail: number | undefined) => {
    const d = ws.getUserData();
    runs.mustGet(runId);
    // Subscribing again replaces the run's subscription (it is not one more, even at the cap).
    const earlier = d.subs.get(runId);
    if (!earlier && d.subs.size >= MAX_SUBS) throw new CcgError('ERR_BAD_REQUEST', `at most ${MAX_SUBS} subscriptions per socket`);
    earlier?.off();
    d.subs.delete(runId);
    const committed = runs.committedSeq(runId);
    const next = from ?? (tail ? Math.max(1, committed - tail + 1) : 1);
    const follower = new Follower(runs.followSource, runId, next, viewSink(ws, runId));
    // Viewers see the output; only operators and admins see assist links: decided at each send,
    // with the role as it is then (a demotion stops the links at once).
    const seesAssist = () => canOperate(d.principal);
    // Subscribers also hear about their run's state (so a follower knows when output has ended),
    // its assist session, its artifacts and its approvals: requested, answered (by anyone), resolved.
    const ofRun = { run: runId };
    const offs = [
      bus.on('run', (run) => {
        if (run.id === runId) send(ws, { type: 'run', run });
      }, ofRun),
      bus.on('assist', ({ runId: id, info }) => {
        if (id === runId && seesAssist()) send(ws, { type: 'assist', runId, assist: info });
      }, ofRun),
      bus.on('artifacts', ({ runId: id, artifacts }) => {
        if (id === runId) send(ws, { type: 'artifacts', runId, artifacts });
      }, ofRun),
      bus.on('approval', ({ approval }) => {
        if (approval.runId === runId) send(ws, { type: 'approval', runId, approval });
      }, ofRun),
      // Live text is a nicety: a socket that is backed up skips it (the stored message follows).
      bus.on('live', (m) => {
        if (m.runId === runId && ws.getBufferedAmount() < HIGH_WATER && !d.closed) send(ws, m);
      }, ofRun),
    ];
    const sub: Sub = {
      runId,
      follower,
      off: () => {
        follower.close();
        for (const off of offs) off();
      },
    };
    d.subs.set(runId, sub);
    send(ws, { type: 'subscribed', runId, from: next, lastSeq: committed });
    send(ws, { type: 'run', run: runs.summary(runs.mustGet(runId)) });
    const assist = seesAssist() ? s.assist.get(runId) : null;
    if (assist) send(ws, { type: 'assist', runId, assist });
    const artifacts = s.artifacts.list(runId);
    if (artifacts.length > 0) send(ws, { type: 'artifacts', runId, artifacts });
    send(ws, { type: 'approvals', runId, approvals: steering.approvals(runId) });
    follower.pump();
  };

  const onMessage = (ws: WebSocket<OperatorData>, text: string) => {
    const d = ws.getUserData();
    const msg = parseTextMessage(text, OperatorToGateway, ['hello', 'subscribe', 'unsubscribe', 'watch_runs', ...STEERING_MESSAGE_TYPES]);
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
        d.offRuns = bus.on('run', (run) => send(ws, { type: 'run', run }));
        send(ws, { type: 'runs', runs: runs.list({ limit: msg.limit ?? 100 }) });
        return;
      case 'approval_answer':
      case 'input':
      case 'resize':
        steering.handle(d.principal, d.remote, msg, (reply) => send(ws, reply));
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
      const up = beginUpgrade(res, req, context, { log, limiter: o.limiter, refusedEvent: 'operator.upgrade_refused' });
      if (!up) return;
      const { info } = up;
      let release: (() => void) | null = null;
      try {
        const principal = resolvePrincipal(info.headers);
        const credentials: Record<string, string> = {};
        for (const k of ['authorization', 'cookie']) if (info.headers[k] !== undefined) credentials[k] = info.headers[k]!;
        // After authentication: refused credentials never take a slot.
        release = o.limiter.acquire(info.remote, 'other');
        const data: OperatorData = { principal, credentials, remote: info.remote, closed: false, ready: false, subs: new Map(), offRuns: null, offRecheck: null, release };
        up.accept(data);
      } catch (err) {
        release?.();
        up.refuse(err instanceof CcgError ? err : new CcgError('ERR_INTERNAL'));
      }
    },

    open: (ws) => {
      o.sockets.add(ws as WebSocket<unknown>);
      ws.getUserData().offRecheck = watch.add(() => recheck(ws));
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
        if (!(err instanceof CcgError)) log.error('operator.internal', { err: String(err) });
        // Requests about a missing run are answered, not fatal; protocol violations close the socket.
        if (e.code === 'ERR_RUN_NOT_FOUND' || e.code === 'ERR_BAD_REQUEST' || e.code === 'ERR_FORBIDDEN') {
          send(ws, { type: 'error', code: e.code, message: e.message });
          return;
        }
        log.warn('operator.refused', { user: d.principal.name, code: e.code, reason: e.message });
        ws.cork(() => {
          send(ws, { type: 'error', code: e.code, message: e.message });
          ws.end(e.ws, closeReason(e.code, e.message));
        });
      }
    },

    drain: (ws) => {
      for (const sub of ws.getUserData().subs.values()) sub.follower.resume();
    },

    close: (ws) => {
      const d = ws.getUserData();
      d.closed = true;
      d.release();
      d.offRecheck?.();
      o.sockets.delete(ws as WebSocket<unknown>);
      for (const sub of d.subs.values()) sub.off();
      d.subs.clear();
      d.offRuns?.();
    },
  });

  return {
    close() {
      watch.close();
    },
  };
}

import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import { CcgError, closeReason } from '../../protocol/errors.js';
import { HEADER_MACHINE, MACHINE_MESSAGE_TYPES, MACHINE_NAME_RE, MachineToGateway, PROTOCOL_VERSION, checkMachineSignature, type GatewayToMachine } from '../../protocol/machine.js';
import { HEADER_NONCE, HEADER_PROTOCOL, HEADER_SIGNATURE, HEADER_TIMESTAMP, SIGNATURE_WINDOW_S } from '../../protocol/signing.js';
import type { MachineLink, MachineService } from '../core/machines.js';
import type { ConnectionLimiter } from '../connection-limits.js';
import type { Logger } from '../log.js';
import type { AuthStore } from '../store/types.js';
import { parseTextMessage } from './parse-message.js';
import { beginUpgrade } from './upgrade.js';

interface MachineData {
  name: string;
  /** The token key this socket signed its upgrade with: a machine revoked (or re-added) since may not say hello on it. */
  key: string;
  helloTimer: NodeJS.Timeout | null;
  remote: string;
  closed: boolean;
  ready: boolean;
  link: MachineLink | null;
  bucket: number;
  bucketAt: number;
  /** Gives back this socket's slot in the connection caps. */
  release: () => void;
}

export interface MachineSocketOptions {
  machines: MachineService;
  store: Pick<AuthStore, 'claimNonce'>;
  log: Logger;
  now: () => number;
  sockets: Set<WebSocket<unknown>>;
  /** Connection caps (per address, in total): a machine counts as a runner (it may use the reserve). */
  limiter: ConnectionLimiter;
  /** A socket that has not said hello by then is closed. */
  helloTimeoutMs: number;
}

/** Machines send a hello, answers and running lists: a few messages a second at most. */
const MSG_RATE = 20;
const MAX_TEXT_FRAME = 64 * 1024;

/**
 * `/v1/machine`: a machine daemon's socket. A signed upgrade (the runner scheme keyed by the
 * machine token's hash), then `hello` → `welcome`; the gateway sends `start`s, the machine
 * answers each with `start_result`. Revoking the machine ends the socket at once.
 */
export function mountMachineSocket(app: TemplatedApp, o: MachineSocketOptions): void {
  const send = (ws: WebSocket<MachineData>, msg: GatewayToMachine) => {
    if (!ws.getUserData().closed) ws.send(JSON.stringify(msg), false);
  };
  const fail = (ws: WebSocket<MachineData>, err: CcgError) => {
    const d = ws.getUserData();
    if (d.closed) return;
    o.log.warn('machine.refused', { machine: d.name, remote: d.remote, code: err.code, reason: err.message });
    ws.cork(() => {
      ws.send(JSON.stringify({ type: 'error', code: err.code, message: err.message }), false);
      ws.end(err.ws, closeReason(err.code, err.message));
    });
  };

  const onText = async (ws: WebSocket<MachineData>, text: string) => {
    const d = ws.getUserData();
    const msg = parseTextMessage(text, MachineToGateway, MACHINE_MESSAGE_TYPES);
    if (msg.type !== 'hello' && !d.ready) throw new CcgError('ERR_NOT_READY');
    switch (msg.type) {
      case 'hello': {
        if (d.ready) throw new CcgError('ERR_BAD_FRAME', 'hello sent twice');
        if (msg.v !== PROTOCOL_VERSION) throw new CcgError('ERR_VERSION', `machine speaks v${msg.v}, gateway v${PROTOCOL_VERSION}`);
        if (d.helloTimer) clearTimeout(d.helloTimer);
        d.helloTimer = null;
        // Revoked, removed or re-added with a new token since this socket's upgrade: a socket
        // opened with the old token and held silent must not take the machine's starts.
        const rec = o.machines.get(d.name);
        if (!rec || rec.revokedAt !== null || rec.key !== d.key) throw new CcgError('ERR_MACHINE_REVOKED', `machine ${d.name}'s token was revoked`);
        const link: MachineLink = { send: (m) => send(ws, m), kick: (err) => fail(ws, err) };
        d.ready = true;
        d.link = link;
        send(ws, { type: 'welcome', v: PROTOCOL_VERSION, name: d.name, serverTime: o.now() });
        await o.machines.attach(d.name, link, msg.machine);
        if (d.closed) o.machines.detach(d.name, link);
        o.log.info('machine.connected', { machine: d.name, remote: d.remote, host: msg.machine.hostname });
        return;
      }
      case 'start_result':
        return o.machines.answered(d.name, msg.runId, msg.ok, msg.reason);
      case 'running':
        return o.machines.running(d.name, msg.running);
      default: {
        const never: never = msg;
        throw new CcgError('ERR_UNKNOWN_TYPE', String(never));
      }
    }
  };

  app.ws<MachineData>('/v1/machine', {
    maxPayloadLength: 4 * MAX_TEXT_FRAME,
    maxBackpressure: 1024 * 1024,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    compression: 0,

    upgrade: (res, req, context) => {
      const up = beginUpgrade(res, req, context, { log: o.log, limiter: o.limiter, refusedEvent: 'machine.upgrade_refused' });
      if (!up) return;
      const { info } = up;
      if (info.headers[HEADER_PROTOCOL] !== String(PROTOCOL_VERSION)) return up.refuse(new CcgError('ERR_VERSION', `gateway speaks protocol ${PROTOCOL_VERSION}`));
      const name = info.headers[HEADER_MACHINE] ?? '';
      if (!MACHINE_NAME_RE.test(name)) return up.refuse(new CcgError('ERR_SIGNATURE_MISSING', `missing or malformed ${HEADER_MACHINE}`));
      const rec = o.machines.get(name);
      // Unknown and revoked machines get the same answer as a bad signature would: no probing for names.
      if (!rec || rec.revokedAt !== null) return up.refuse(new CcgError(rec ? 'ERR_MACHINE_REVOKED' : 'ERR_SIGNATURE_INVALID', rec ? `machine ${name}'s token was revoked` : 'signature does not match this machine (wrong token or revoked)'));
      const h = { name, timestamp: info.headers[HEADER_TIMESTAMP], nonce: info.headers[HEADER_NONCE], signature: info.headers[HEADER_SIGNATURE] };
      const verdict = checkMachineSignature(rec.key, h, { method: 'GET', target: info.target }, o.now());
      if (!verdict.ok) return up.refuse(new CcgError(verdict.code, verdict.message));
      const expiresAt = Number(h.timestamp) * 1000 + 2 * SIGNATURE_WINDOW_S * 1000;
      o.store.claimNonce(h.nonce!, expiresAt).then(
        (fresh) => {
          if (up.aborted) return;
          if (!fresh) return up.refuse(new CcgError('ERR_NONCE_REPLAY'));
          let release: () => void;
          try {
            release = o.limiter.acquire(info.remote, 'runner');
          } catch (err) {
            return up.refuse(err as CcgError);
          }
          const data: MachineData = { name, key: rec.key, helloTimer: null, remote: info.remote, closed: false, ready: false, link: null, bucket: MSG_RATE * 2, bucketAt: Date.now(), release };
          up.acceptSoon(data, release);
        },
        () => up.refuse(new CcgError('ERR_STORAGE')),
      );
    },

    open: (ws) => {
      o.sockets.add(ws as WebSocket<unknown>);
      const d = ws.getUserData();
      // Revoked between the upgrade and now: closed at once.
      if (o.machines.get(d.name)?.revokedAt !== null) return fail(ws, new CcgError('ERR_MACHINE_REVOKED'));
      // A signed socket that never says hello holds a descriptor and a slot for nothing.
      d.helloTimer = setTimeout(() => {
        d.helloTimer = null;
        if (!d.ready && !d.closed) fail(ws, new CcgError('ERR_NOT_READY', `no hello within ${o.helloTimeoutMs} ms`));
      }, o.helloTimeoutMs);
    },

    message: (ws, message, isBinary) => {
      const d = ws.getUserData();
      try {
        const now = Date.now();
        d.bucket = Math.min(MSG_RATE * 2, d.bucket + ((now - d.bucketAt) / 1000) * MSG_RATE);
        d.bucketAt = now;
        if (d.bucket < 1) throw new CcgError('ERR_RATE_LIMIT', `more than ${MSG_RATE} messages/s`);
        d.bucket -= 1;
        if (isBinary) throw new CcgError('ERR_BAD_FRAME', 'machines send text frames only');
        if (message.byteLength > MAX_TEXT_FRAME) throw new CcgError('ERR_FRAME_TOO_LARGE', `text frame of ${message.byteLength} bytes exceeds ${MAX_TEXT_FRAME}`);
        const text = Buffer.from(message).toString('utf8');
        onText(ws, text).catch((err: unknown) => {
          if (!(err instanceof CcgError)) o.log.error('machine.internal', { machine: d.name, err: String(err) });
          fail(ws, err instanceof CcgError ? err : new CcgError('ERR_INTERNAL'));
        });
      } catch (err) {
        fail(ws, err instanceof CcgError ? err : new CcgError('ERR_INTERNAL'));
      }
    },

    close: (ws) => {
      const d = ws.getUserData();
      d.closed = true;
      if (d.helloTimer) clearTimeout(d.helloTimer);
      o.sockets.delete(ws as WebSocket<unknown>);
      d.release();
      if (d.link) o.machines.detach(d.name, d.link);
      o.log.info('machine.disconnected', { machine: d.name });
    },
  });
}

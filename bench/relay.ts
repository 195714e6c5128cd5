/**
 * The bench's reference: a bare uWebSockets.js relay with no storage, no auth, no validation
 * and no redaction. A "runner" connects to /r/RUNID and sends the same binary OUTPUT frames it
 * would send the gateway; every frame is published as is to the viewers of /v/RUNID (from
 * setImmediate, as the gateway's fan-out must be with TLS in this uWS build). With
 * `?ack=1` the relay also answers the runner with the gateway's cumulative
 * `{"type":"ack","seq":N}`, once per event-loop turn, as soon as the frame is received (the
 * gateway sends it only once the frame is committed to LMDB): that is the ingest reference.
 *
 * Usage: node dist/bench/relay.js --port 0 [--cert FILE --key FILE --fingerprint sha256:…]
 * Prints one JSON line {"ready":true,"url":…} once listening; stops on SIGTERM.
 */
import { parseArgs } from 'node:util';
import uWS, { type WebSocket } from 'uWebSockets.js';

interface RelayData {
  topic: string;
  runner: boolean;
  ack: boolean;
  ackSeq: number;
  ackTimer: NodeJS.Immediate | null;
  closed: boolean;
}

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, cert: { type: 'string' }, key: { type: 'string' }, fingerprint: { type: 'string' } },
});
const tls = Boolean(values.cert && values.key);
const app = tls ? uWS.SSLApp({ cert_file_name: values.cert!, key_file_name: values.key! }) : uWS.App();

let pending: { topic: string; data: ArrayBuffer }[] = [];
let publishTimer: NodeJS.Immediate | null = null;
const publishPending = () => {
  const batch = pending;
  pending = [];
  publishTimer = null;
  for (const m of batch) app.publish(m.topic, m.data, true);
};

const sendAck = (ws: WebSocket<RelayData>) => {
  const d = ws.getUserData();
  d.ackTimer = null;
  if (!d.closed) ws.send(`{"type":"ack","seq":${d.ackSeq}}`, false);
};

app.ws<RelayData>('/*', {
  maxPayloadLength: 4 * 1024 * 1024,
  // No drops and no disconnects: a reference must deliver everything, like the gateway does
  // (which falls back to its store instead of buffering).
  maxBackpressure: 1024 * 1024 * 1024,
  idleTimeout: 120,
  compression: 0,
  upgrade: (res, req, context) => {
    const url = req.getUrl();
    const data: RelayData = {
      topic: url.slice(3),
      runner: url.startsWith('/r/'),
      ack: req.getQuery('ack') === '1',
      ackSeq: 0,
      ackTimer: null,
      closed: false,
    };
    res.upgrade(data, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => {
    const d = ws.getUserData();
    if (!d.runner) ws.subscribe(d.topic);
  },
  message: (ws, message, isBinary) => {
    const d = ws.getUserData();
    if (!d.runner || !isBinary) return;
    // Published from setImmediate, like the gateway's fan-out: with TLS, this uWS build drops
    // the rest of a runner's input when another TLS socket is written to from inside its
    // message callback (see afterCommit in server/core/runs.ts). The copy is needed: `message`
    // dies with this callback.
    pending.push({ topic: d.topic, data: message.slice(0) });
    publishTimer ??= setImmediate(publishPending);
    if (d.ack && message.byteLength >= 10) {
      d.ackSeq = Number(new DataView(message).getBigUint64(2));
      d.ackTimer ??= setImmediate(sendAck, ws);
    }
  },
  close: (ws) => {
    const d = ws.getUserData();
    d.closed = true;
    if (d.ackTimer) clearImmediate(d.ackTimer);
  },
});

app.listen('127.0.0.1', Number(values.port), (sock) => {
  if (!sock) {
    console.error('relay: could not listen');
    process.exit(1);
  }
  const port = uWS.us_socket_local_port(sock as unknown as uWS.us_socket);
  process.stdout.write(JSON.stringify({ ready: true, url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, fingerprint: values.fingerprint ?? null }) + '\n');
  process.once('SIGTERM', () => {
    uWS.us_listen_socket_close(sock);
    (app as unknown as { close?: () => void }).close?.();
    process.exit(0);
  });
});

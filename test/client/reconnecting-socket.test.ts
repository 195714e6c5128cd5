import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { ReconnectingSocket, type ReconnectPolicy } from '../../cli/client/reconnecting-socket.js';
import { CliError } from '../../cli/exit-codes.js';
import { freePort } from '../helpers/serve.js';

/** What the test server does with the n-th upgrade request (from 1). */
type Answer = 'accept' | { status: number; body: string };

interface Server {
  url: string;
  /** Every upgrade request's headers, in order. */
  upgrades: IncomingMessage['headers'][];
  /** The accepted connections, in order. */
  sockets: WebSocket[];
  /** Resolves with the n-th accepted connection (from 1). */
  accepted(n: number): Promise<WebSocket>;
}

/** A real ws server on 127.0.0.1, port 0; `autoPong: false` makes it a peer that never answers a ping. */
async function startServer(t: TestContext, answer: (n: number) => Answer, opts: { autoPong?: boolean } = {}): Promise<Server> {
  const wss = new WebSocketServer({ noServer: true, autoPong: opts.autoPong ?? true });
  const http = createServer();
  const waiting = new Map<number, (ws: WebSocket) => void>();
  const s: Server = {
    url: '',
    upgrades: [],
    sockets: [],
    accepted: (n) => (s.sockets[n - 1] ? Promise.resolve(s.sockets[n - 1]!) : new Promise((resolve) => waiting.set(n, resolve))),
  };
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    s.upgrades.push(req.headers);
    const a = answer(s.upgrades.length);
    if (a !== 'accept') {
      socket.end(`HTTP/1.1 ${a.status} No\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(a.body)}\r\nconnection: close\r\n\r\n${a.body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      s.sockets.push(ws);
      waiting.get(s.sockets.length)?.(ws);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  s.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  t.after(() => {
    for (const ws of wss.clients) ws.terminate();
    http.closeAllConnections();
    http.close();
  });
  return s;
}

/** The runner's judgement, in short: 4401 and 4xx refusals are final, the rest is retried. */
const POLICY: ReconnectPolicy = {
  refused: (status, code, message) => ({ fatal: status >= 400 && status < 500, err: new CliError(`${status} ${code}: ${message ?? ''}`, 1, code) }),
  closed: (code, reason, noted) => (code === 4401 ? { fatal: true, err: new CliError(reason.message, 77, reason.code ?? 'ERR_CLOSED') } : { fatal: false, err: noted ?? new CliError(`closed ${code}`) }),
  giveUp: () => null,
};

interface Seen {
  opens: number;
  messages: string[];
  retries: { why: CliError; attempt: number; next: string }[];
  fatal: CliError[];
}

interface Client {
  socket: ReconnectingSocket;
  seen: Seen;
  /** Resolves once `pred(seen)` holds (checked after every handler call). */
  until(pred: (seen: Seen) => boolean): Promise<void>;
}

function client(t: TestContext, url: string | string[], over: { heartbeatMs?: number; onOpen?: (seen: Seen) => void; policy?: ReconnectPolicy; backoffMs?: number } = {}): Client {
  const seen: Seen = { opens: 0, messages: [], retries: [], fatal: [] };
  const changed = new EventEmitter();
  const note = () => changed.emit('change');
  let signed = 0;
  const socket = new ReconnectingSocket({
    gateways: (Array.isArray(url) ? url : [url]).map((u) => ({ url: u, fingerprint: undefined })),
    path: '/v1/test',
    // A new value per attempt, as a signed upgrade has.
    headers: () => ({ 'x-attempt': String(++signed) }),
    maxPayload: 1024 * 1024,
    backoffMs: over.backoffMs ?? 1,
    ...(over.heartbeatMs !== undefined ? { heartbeatMs: over.heartbeatMs } : {}),
    policy: over.policy ?? POLICY,
    handlers: {
      open: () => {
        seen.opens++;
        over.onOpen?.(seen);
        note();
      },
      message: (data) => (seen.messages.push(String(data)), note()),
      retrying: (why, attempt, next) => (seen.retries.push({ why, attempt, next }), note()),
      fatal: (err) => (seen.fatal.push(err), note()),
    },
  });
  t.after(() => socket.close());
  const until = (pred: (seen: Seen) => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => pred(seen) && (changed.off('change', check), resolve());
      changed.on('change', check);
      check();
    });
  return { socket, seen, until };
}

test('reconnecting socket: a dropped connection is reopened with fresh headers, and messages flow again', async (t) => {
  const server = await startServer(t, () => 'accept');
  const c = client(t, server.url);
  c.socket.start();
  (await server.accepted(1)).send('welcome 1');
  await c.until((s) => s.messages.length === 1);
  server.sockets[0]!.terminate();
  (await server.accepted(2)).send('welcome 2');
  await c.until((s) => s.messages.length === 2);
  assert.deepEqual(c.seen.messages, ['welcome 1', 'welcome 2']);
  assert.equal(c.seen.opens, 2);
  assert.deepEqual(c.seen.retries.map((r) => r.attempt), [1]);
  assert.deepEqual(server.upgrades.map((h) => h['x-attempt']), ['1', '2'], 'the headers are asked for again on every attempt');
  assert.equal(server.upgrades[0]!['sec-websocket-extensions'], undefined, 'no permessage-deflate');
  const got = new Promise((resolve) => server.sockets[1]!.once('message', resolve));
  assert.equal(c.socket.send('from the client'), true);
  assert.equal(String(await got), 'from the client');
});

test('reconnecting socket: a refused upgrade is retried once, and the backoff restarts after resetBackoff()', async (t) => {
  const server = await startServer(t, (n) => (n <= 2 ? { status: 503, body: '{"error":{"code":"ERR_BUSY","message":"busy"}}' } : 'accept'));
  let retriesAtOpen = -1;
  const c = client(t, server.url, { onOpen: (s) => (retriesAtOpen = s.retries.length) });
  c.socket.start();
  await c.until((s) => s.opens === 1);
  // The close that follows a refusal is not judged again: two refusals, two retries (by the time
  // the third attempt opens, a second verdict on either would have come).
  assert.equal(retriesAtOpen, 2);
  assert.deepEqual(c.seen.retries.map((r) => [r.attempt, r.why.message]), [[1, '503 ERR_BUSY: busy'], [2, '503 ERR_BUSY: busy']]);
  c.socket.resetBackoff();
  server.sockets[0]!.terminate();
  await c.until((s) => s.opens === 2);
  assert.deepEqual(c.seen.retries.map((r) => r.attempt), [1, 2, 1]);
  assert.deepEqual(c.seen.fatal, []);
});

test('reconnecting socket: a fatal refusal or close code stops it for good', async (t) => {
  const refusing = await startServer(t, () => ({ status: 401, body: '{"error":{"code":"ERR_UNAUTHORIZED","message":"bad token"}}' }));
  const a = client(t, refusing.url);
  a.socket.start();
  await a.until((s) => s.fatal.length > 0);
  assert.equal(a.seen.fatal[0]!.message, '401 ERR_UNAUTHORIZED: bad token');
  assert.equal(a.seen.fatal[0]!.code, 'ERR_UNAUTHORIZED');

  const closing = await startServer(t, () => 'accept');
  const b = client(t, closing.url);
  b.socket.start();
  await b.until((s) => s.opens === 1);
  closing.sockets[0]!.close(4401, 'ERR_UNAUTHORIZED: token revoked');
  await b.until((s) => s.fatal.length > 0);
  assert.equal(b.seen.fatal[0]!.message, 'token revoked');
  assert.equal(b.seen.fatal[0]!.code, 'ERR_UNAUTHORIZED');
  assert.equal(b.socket.send('after'), false, 'nothing is sent after a fatal error');

  // Sentinel: a second client connects and is accepted; neither stopped socket tried again.
  client(t, closing.url).socket.start();
  await closing.accepted(2);
  assert.equal(refusing.upgrades.length, 1);
  assert.equal(closing.upgrades.length, 2);
  assert.deepEqual([a.seen.retries.length, b.seen.retries.length, a.seen.fatal.length, b.seen.fatal.length], [0, 0, 1, 1]);
});

test('reconnecting socket: with several gateway URLs, a refused, dead or dropped one moves on to the next, round and round; a welcome keeps it where it is', async (t) => {
  const dead = `http://127.0.0.1:${await freePort()}`; // nobody listens: refused at once
  const a = await startServer(t, () => 'accept');
  const b = await startServer(t, (n) => (n === 1 ? { status: 503, body: '{"error":{"code":"ERR_UNAVAILABLE","message":"store down"}}' } : 'accept'));
  const c = client(t, [dead, a.url, b.url]);
  assert.equal(c.socket.gateway.url, dead);
  c.socket.start();
  // dead → a (accepted)
  await a.accepted(1);
  await c.until((s) => s.opens === 1);
  assert.equal(c.socket.gateway.url, a.url);
  c.socket.resetBackoff(); // as the runner does on a welcome
  // a drops it → b (503) → dead (refused) → a again
  a.sockets[0]!.terminate();
  await a.accepted(2);
  await c.until((s) => s.opens === 2);
  assert.deepEqual(c.seen.retries.map((r) => [r.attempt, r.next]), [[1, a.url], [1, b.url], [2, dead], [3, a.url]]);
  assert.match(c.seen.retries[0]!.why.message, /ECONNREFUSED|refused|unreachable/i);
  assert.equal(c.seen.retries[2]!.why.message, '503 ERR_UNAVAILABLE: store down');
  assert.deepEqual([a.upgrades.length, b.upgrades.length], [2, 1]);
  assert.deepEqual([...a.upgrades, ...b.upgrades].map((h) => h['x-attempt']).sort(), ['2', '3', '5'], 'signed anew for every URL and attempt');
  assert.equal(c.socket.gatewayIndex, 1);
  assert.deepEqual(c.seen.fatal, []);
});

test('reconnecting socket: a connection that answers no ping for three heartbeats is dropped and reopened', async (t) => {
  const server = await startServer(t, () => 'accept', { autoPong: false });
  const c = client(t, server.url, { heartbeatMs: 100 });
  c.socket.start();
  let pings = 0;
  (await server.accepted(1)).on('ping', () => pings++);
  await server.accepted(2);
  assert.ok(pings >= 2, `pinged the silent peer (${pings} pings)`);
  assert.equal(c.seen.retries.length, 1);
  assert.match(c.seen.retries[0]!.why.message, /^no word from the gateway for \d+ s$/);
});

test('reconnecting socket: a peer that answers pings keeps its connection', async (t) => {
  const server = await startServer(t, () => 'accept');
  const c = client(t, server.url, { heartbeatMs: 50 });
  c.socket.start();
  const ws = await server.accepted(1);
  // Ten heartbeats pass (three silent ones would drop it): each ping is answered, by ws itself.
  const tenPings = new Promise<void>((resolve) => {
    let pings = 0;
    ws.on('ping', () => ++pings === 10 && resolve());
  });
  await Promise.race([tenPings, c.until((s) => s.retries.length > 0)]);
  assert.deepEqual(c.seen.retries, []);
  assert.equal(server.upgrades.length, 1);
});

test('reconnecting socket: no backoff waits past the policy\'s deadline, so giving up comes at the deadline (a 5 s connect timeout took up to 9 s)', async (t) => {
  const port = await freePort(); // nothing listens: every attempt is refused at once
  t.mock.method(Math, 'random', () => 0.999); // every backoff as long as it can be: about 5 s
  const deadline = Date.now() + 300;
  const policy: ReconnectPolicy = {
    ...POLICY,
    deadline: () => deadline,
    giveUp: (why) => (Date.now() > deadline ? new CliError(`gave up: ${why.message}`, 69, 'ERR_UNREACHABLE') : null),
  };
  const c = client(t, `http://127.0.0.1:${port}`, { policy, backoffMs: 5000 });
  const t0 = Date.now();
  c.socket.start();
  await c.until((s) => s.fatal.length === 1);
  assert.match(c.seen.fatal[0]!.message, /^gave up/);
  // Well short of one full backoff (5 s), whatever the machine's load.
  assert.ok(Date.now() - t0 < 3000, `gave up after ${Date.now() - t0} ms`);
});

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { STREAM_COMMAND, STREAM_EVENT, decodeOutput } from '../../protocol/frames.js';
import type { RunnerInfo } from '../../protocol/run.js';
import { parseEvents, type RunnerEvent } from '../../protocol/runner-events.js';
import { waitFor } from './processes.js';

export interface FakeUpload {
  target: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/**
 * A stand-in gateway that a real runner process connects to (plain ws on loopback, which the
 * runner allows for 127.0.0.1). It is the runner's peer, so it "passes" every check the runner
 * makes of a gateway: it plays a compromised gateway. It answers hello with welcome, acks every
 * output frame, answers exit with exit_ack, records everything, and lets the test send any
 * message, well-formed or not.
 */
export class FakeGateway {
  url = '';
  connections = 0;
  /** How many connections have been sent their welcome (the runner acts on requests only after it). */
  welcomed = 0;
  hello: RunnerInfo | null = null;
  receivedSeq = 0;
  events: RunnerEvent[] = [];
  commandOutput: Buffer[] = [];
  /** The child's stdout and stderr (streams 0 and 1), as received. */
  childOutput: Buffer[] = [];
  texts: Record<string, unknown>[] = [];
  uploads: FakeUpload[] = [];
  exit: Record<string, unknown> | null = null;
  /** Runs on each new connection right after hello, before the welcome is sent. */
  beforeWelcome: ((ws: WebSocket, n: number) => void) | null = null;
  private ws: WebSocket | null = null;
  private server!: Server;
  private wss!: WebSocketServer;

  static async start(): Promise<FakeGateway> {
    const g = new FakeGateway();
    g.server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        g.uploads.push({ target: req.url ?? '', headers: req.headers, body: Buffer.concat(parts) });
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: 'the fake gateway keeps no artifacts' } }));
      });
    });
    g.wss = new WebSocketServer({ server: g.server, path: '/v1/runner', perMessageDeflate: false });
    g.wss.on('connection', (ws) => g.onConnection(ws));
    await new Promise<void>((r) => g.server.listen(0, '127.0.0.1', r));
    g.url = `http://127.0.0.1:${(g.server.address() as AddressInfo).port}`;
    return g;
  }

  private onConnection(ws: WebSocket): void {
    this.ws = ws;
    const n = ++this.connections;
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const b = data as Buffer;
        const f = decodeOutput(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
        if (!f.ok) return;
        if (f.value.seq === this.receivedSeq + 1) {
          this.receivedSeq = f.value.seq;
          if (f.value.stream === STREAM_EVENT) this.events.push(...parseEvents(f.value.data));
          if (f.value.stream === STREAM_COMMAND) this.commandOutput.push(Buffer.from(f.value.data));
          if (f.value.stream === 0 || f.value.stream === 1) this.childOutput.push(Buffer.from(f.value.data));
        }
        ws.send(JSON.stringify({ type: 'ack', seq: this.receivedSeq }));
        return;
      }
      const msg = JSON.parse(String(data)) as Record<string, unknown>;
      this.texts.push(msg);
      if (msg['type'] === 'hello') {
        this.hello = msg['runner'] as RunnerInfo;
        this.beforeWelcome?.(ws, n);
        ws.send(JSON.stringify({ type: 'welcome', v: 1, runId: 'x', nextSeq: this.receivedSeq + 1, finished: false, exitCode: null, serverTime: Date.now(), limits: { maxChunkBytes: 262144, maxRunBytes: 2 ** 32 } }));
        this.welcomed = n;
      } else if (msg['type'] === 'exit') {
        this.exit = msg;
        ws.send(JSON.stringify({ type: 'exit_ack' }));
      }
    });
  }

  /** Sends a message to the runner as it is: an object is JSON-encoded, a string goes verbatim. */
  send(msg: unknown): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) throw new Error('no runner connected');
    this.ws.send(typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg), { binary: Buffer.isBuffer(msg) });
  }

  /** Drops the runner's current connection (it reconnects). */
  drop(): void {
    this.ws?.terminate();
  }

  /** Waits until the runner is connected and welcomed on connection `n`. */
  async connected(n = 1, ms = 15_000): Promise<void> {
    // `welcomed`, not `hello`: hello stays set from an earlier connection, and a request sent on
    // connection n before its welcome is (rightly) ignored by the runner.
    await waitFor(() => (this.welcomed >= n && this.ws?.readyState === WebSocket.OPEN ? true : undefined), ms, `runner connection ${n}`);
  }

  /** Waits for the first event matching `pred`. */
  async event<T extends RunnerEvent>(pred: (e: RunnerEvent) => e is T, ms?: number, what?: string): Promise<T>;
  async event(pred: (e: RunnerEvent) => boolean, ms?: number, what?: string): Promise<RunnerEvent>;
  async event(pred: (e: RunnerEvent) => boolean, ms = 15_000, what = 'event'): Promise<RunnerEvent> {
    return waitFor(() => this.events.find(pred), ms, what);
  }

  /** Everything the runner's allowlisted commands printed so far. */
  commandText(): string {
    return Buffer.concat(this.commandOutput).toString('utf8');
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

import type { Agent } from 'node:https';
import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { FRAME_OUTPUT, FRAME_VIEW, encodeOutput } from '../../protocol/frames.js';
import { PROTOCOL_VERSION } from '../../protocol/run.js';
import { HEADER_PROTOCOL, signRequest } from '../../protocol/signing.js';

/**
 * In-process load clients. A `LoadRunner` speaks the real runner protocol to the gateway (a
 * signed upgrade with the run's token, `hello`, `welcome`, binary OUTPUT frames, acks) or plain
 * frames to the bare relay; a `LoadViewer` is an operator socket that subscribes to one run (or
 * a relay viewer). They do not spool to disk or coalesce like `ccg runner start`: the bench
 * measures the gateway, and 1,000 runner processes do not fit on 2 cores.
 */

export interface Target {
  kind: 'gateway' | 'relay';
  /** https://127.0.0.1:PORT or http://… */
  url: string;
  fingerprint: string | null;
  /** Operator API token (gateway only). */
  operatorToken?: string;
}

export interface BenchRun {
  id: string;
  token: string;
}

/**
 * The load clients' frames go out with an all-zero mask, which ws then skips applying: the bench
 * measures the server, and masking every byte (plus the random mask) in the generator only
 * starves it. Servers unmask either way.
 */
const zeroMask = (): void => undefined;

const agents = new Map<string, Agent>();
function agentOf(t: Target): Agent | undefined {
  if (!t.fingerprint) return undefined;
  let a = agents.get(t.fingerprint);
  if (!a) agents.set(t.fingerprint, (a = new PinnedAgent(t.fingerprint)));
  return a;
}

function wsUrl(t: Target, path: string): URL {
  const u = new URL(path, t.url);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u;
}

function opened(ws: WebSocket, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`${what}: no answer within 30 s`));
    }, 30_000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`${what}: HTTP ${res.statusCode}`));
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${what}: ${err.message}`));
    });
  });
}

export class LoadRunner {
  /** Last seq sent. */
  seq = 0;
  /** Highest seq the server acknowledged (committed, for the gateway). */
  acked = 0;
  onAck: ((seq: number) => void) | null = null;
  closed = false;
  /** The close code and reason, once closed. */
  closedWith = '';

  private constructor(readonly ws: WebSocket, readonly runId: string) {}

  /**
   * Connects and, for the gateway, completes hello/welcome; numbering continues after the
   * gateway's `nextSeq`. With the relay, `ack` asks it to acknowledge frames on receipt.
   */
  static async open(t: Target, run: BenchRun, opts: { ack?: boolean } = {}): Promise<LoadRunner> {
    let ws: WebSocket;
    const common = { agent: agentOf(t), perMessageDeflate: false, skipUTF8Validation: true, maxPayload: 64 * 1024 * 1024, generateMask: zeroMask };
    if (t.kind === 'gateway') {
      const url = wsUrl(t, '/v1/runner');
      const headers = { ...signRequest(run.token, { method: 'GET', target: url.pathname, runId: run.id }), [HEADER_PROTOCOL]: String(PROTOCOL_VERSION) };
      ws = new WebSocket(url, { ...common, headers });
    } else {
      ws = new WebSocket(wsUrl(t, `/r/${run.id}${opts.ack ? '?ack=1' : ''}`), common);
    }
    const r = new LoadRunner(ws, run.id);
    ws.on('close', (code, reason) => {
      r.closed = true;
      r.closedWith = `${code} ${reason.toString()}`;
    });
    ws.on('error', () => undefined);
    await opened(ws, `${t.kind} runner ${run.id}`);
    if (t.kind === 'gateway') {
      const welcome = new Promise<number>((resolve, reject) => {
        ws.once('message', (data) => {
          const msg = JSON.parse(String(data)) as { type: string; nextSeq?: number; message?: string };
          if (msg.type === 'welcome' && msg.nextSeq) resolve(msg.nextSeq);
          else reject(new Error(`runner ${run.id}: expected welcome, got ${String(data).slice(0, 200)}`));
        });
        ws.once('close', (code, reason) => reject(new Error(`runner ${run.id}: closed ${code} ${reason.toString()}`)));
      });
      ws.send(JSON.stringify({
        type: 'hello',
        v: PROTOCOL_VERSION,
        runner: { hostname: 'bench', pid: process.pid, version: 'bench', mode: 'command', command: ['bench'], cwd: '/', commands: [] },
      }));
      r.seq = (await welcome) - 1;
    }
    r.acked = r.seq;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = String(data);
      // Only acks matter here; a cheap check before parsing.
      if (text.startsWith('{"type":"ack"')) {
        const seq = (JSON.parse(text) as { seq: number }).seq;
        if (seq > r.acked) {
          r.acked = seq;
          r.onAck?.(seq);
        }
      }
    });
    return r;
  }

  /**
   * Ends the run as `ccg runner start` does when its child exits (gateway only): the gateway
   * answers `exit_ack` once every chunk up to the last sent is committed and the run recorded.
   */
  exit(timeoutMs = 60_000): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`runner ${this.runId}: the server closed the socket (${this.closedWith})`));
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.ws.off('message', onMessage);
        this.ws.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => done(new Error(`runner ${this.runId}: no exit_ack within ${timeoutMs} ms`)), timeoutMs);
      const onMessage = (data: unknown, isBinary: boolean) => {
        if (isBinary) return;
        const msg = JSON.parse(String(data)) as { type: string; message?: string };
        if (msg.type === 'exit_ack') done();
        else if (msg.type === 'error') done(new Error(`runner ${this.runId}: exit refused: ${msg.message ?? ''}`));
      };
      const onClose = () => done(new Error(`runner ${this.runId}: closed before its exit was answered (${this.closedWith})`));
      this.ws.on('message', onMessage);
      this.ws.on('close', onClose);
      this.ws.send(JSON.stringify({ type: 'exit', code: 0, signal: null, lastSeq: this.seq }));
    });
  }

  /** Sends one chunk as the next seq; `done` fires once ws has written it to the socket. */
  send(stream: number, data: Uint8Array, done?: (err?: Error) => void): number {
    if (this.closed) throw new Error(`runner ${this.runId}: the server closed the socket (${this.closedWith})`);
    const seq = ++this.seq;
    this.ws.send(encodeOutput({ stream, seq, data }), { binary: true }, done);
    return seq;
  }

  close(): Promise<void> {
    return this.closed ? Promise.resolve() : closeSocket(this.ws);
  }
}

/** Closes a socket politely, or terminates it when the server has not answered within 5 s. */
function closeSocket(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.terminate();
      resolve();
    }, 5000);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.close(1000);
  });
}

export class LoadViewer {
  /** Called with the data of each output chunk received. */
  onData: ((data: Buffer, seq: number) => void) | null = null;
  bytes = 0;
  chunks = 0;
  closed = false;

  private constructor(readonly ws: WebSocket) {}

  /** Subscribes to one run, from `from` (gateway); resolves once it is live (caught up). */
  static async open(t: Target, runId: string, opts: { from?: number } = {}): Promise<LoadViewer> {
    const common = { agent: agentOf(t), perMessageDeflate: false, skipUTF8Validation: true, maxPayload: 64 * 1024 * 1024, generateMask: zeroMask };
    const ws =
      t.kind === 'gateway'
        ? new WebSocket(wsUrl(t, '/v1/operator'), { ...common, headers: { authorization: `Bearer ${t.operatorToken}` } })
        : new WebSocket(wsUrl(t, `/v/${runId}`), common);
    const v = new LoadViewer(ws);
    ws.on('close', () => {
      v.closed = true;
    });
    ws.on('error', () => undefined);
    let live!: () => void;
    const isLive = new Promise<void>((r) => (live = r));
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        const text = String(data);
        if (text.includes('"caught_up"')) live();
        return;
      }
      const buf = data as Buffer;
      let offset: number;
      let seq: number;
      if (buf[0] === FRAME_VIEW) {
        offset = 19 + buf[18]!;
        seq = buf.readUInt32BE(2) * 0x1_0000_0000 + buf.readUInt32BE(6);
      } else if (buf[0] === FRAME_OUTPUT) {
        offset = 10;
        seq = buf.readUInt32BE(2) * 0x1_0000_0000 + buf.readUInt32BE(6);
      } else return;
      v.chunks++;
      v.bytes += buf.length - offset;
      v.onData?.(buf.subarray(offset), seq);
    });
    await opened(ws, `${t.kind} viewer ${runId}`);
    if (t.kind === 'gateway') {
      ws.send(JSON.stringify({ type: 'hello', v: PROTOCOL_VERSION, client: 'bench' }));
      ws.send(JSON.stringify({ type: 'subscribe', runId, ...(opts.from ? { from: opts.from } : {}) }));
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`viewer ${runId}: not caught up within 30 s`)), 30_000).unref());
      await Promise.race([isLive, timeout]);
    }
    return v;
  }

  close(): Promise<void> {
    return this.closed ? Promise.resolve() : closeSocket(this.ws);
  }
}

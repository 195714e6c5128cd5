import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { STREAM_EVENT, encodeOutput } from '../../protocol/frames.js';
import { encodeEvent, type RunnerEvent } from '../../protocol/runner-events.js';
import type { GatewayToRunner } from '../../protocol/runner-messages.js';
import type { AdvertisedCommand } from '../../protocol/run.js';
import type { ApprovalInfo } from '../../protocol/claude-events.js';
import type { TestGateway } from './gateway.js';
import { apiRequest } from './http.js';
import { waitFor } from './processes.js';
import { signedHeaders } from './runner-socket.js';

export interface FakeRunner {
  ws: WebSocket;
  /** Every JSON message the gateway sent, in order. */
  messages: GatewayToRunner[];
  /** Sends runner events as one event-stream chunk; resolves once the gateway acknowledged it. */
  events(...evs: RunnerEvent[]): Promise<number>;
  /** Sends raw output on a stream (e.g. 2, command output); resolves once acknowledged. */
  output(stream: number, data: string | Buffer): Promise<number>;
  /** Sends a JSON message as is (e.g. `assist_status`). */
  send(msg: Record<string, unknown>): void;
  /** Waits for a gateway message of this type (and predicate) not yet consumed by an earlier wait. */
  next<T extends GatewayToRunner['type']>(type: T, pred?: (m: Extract<GatewayToRunner, { type: T }>) => boolean, ms?: number): Promise<Extract<GatewayToRunner, { type: T }>>;
  exit(code: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A runner speaking the wire protocol by hand (signed upgrade, hello, event chunks), for testing
 * the gateway's side of approvals and input without a real child.
 */
export async function fakeRunner(g: TestGateway, runId: string, token: string, info: { mode?: 'claude' | 'command'; pty?: boolean; commands?: AdvertisedCommand[]; assist?: { maxMinutes: number }; remote?: { input: boolean; approval: boolean }; hello?: { hostname?: string; version?: string; command?: string[]; cwd?: string; artifactGlobs?: string[] } } = {}): Promise<FakeRunner> {
  const tls = g.url.startsWith('https:');
  const url = new URL('/v1/runner', g.url.replace(/^http/, 'ws'));
  const ws = new WebSocket(url, { headers: signedHeaders(token, runId), ...(tls ? { agent: new PinnedAgent(g.fingerprint) } : {}), perMessageDeflate: false });
  const messages: GatewayToRunner[] = [];
  const consumed = new Set<number>();
  let acked = 0;
  let closed = '';
  ws.on('close', (code, reason) => { closed = `closed ${code} ${String(reason)}`; });
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const msg = JSON.parse(String(data)) as GatewayToRunner;
    messages.push(msg);
    if (msg.type === 'ack') acked = Math.max(acked, msg.seq);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({
    type: 'hello',
    v: 1,
    runner: { hostname: 'fake', pid: 1, version: 'test', mode: info.mode ?? 'claude', pty: info.pty ?? false, command: ['claude'], cwd: '/w', commands: info.commands ?? [], ...(info.assist ? { assist: info.assist } : {}), ...(info.remote ? { remote: info.remote } : {}), ...info.hello },
  }));
  const helloAt = Date.now();
  // Said in full when it does not come: what did arrive, whether the socket closed, and whether
  // the gateway answers HTTP at all (a blocked loop, or only this socket stuck).
  const welcome = await waitFor(() => messages.find((m) => m.type === 'welcome') as Extract<GatewayToRunner, { type: 'welcome' }> | undefined, 15_000, 'welcome').catch(async (err: Error) => {
    const t0 = Date.now();
    const health = await Promise.race([
      apiRequest(g, 'GET', '/healthz').then((r) => `healthz ${r.status} in ${Date.now() - t0} ms`, (e: Error) => `healthz failed: ${e.message}`),
      new Promise<string>((r) => setTimeout(() => r('healthz: no answer in 5 s'), 5000).unref()),
    ]);
    throw new Error(`${err.message} (run ${runId}, hello sent ${Date.now() - helloAt} ms ago; received [${messages.map((m) => JSON.stringify(m).slice(0, 200)).join(', ')}]; socket ${closed || `readyState ${ws.readyState}`}; ${health})`);
  });
  let seq = welcome.nextSeq - 1;
  ws.send(JSON.stringify({ type: 'started', pid: 2 }));
  return {
    ws,
    messages,
    async events(...evs) {
      seq++;
      ws.send(encodeOutput({ stream: STREAM_EVENT, seq, data: Buffer.concat(evs.map(encodeEvent)) }));
      const mine = seq;
      await waitFor(() => (acked >= mine ? true : undefined), 5000, `ack of ${mine}`);
      return mine;
    },
    async output(stream, data) {
      seq++;
      ws.send(encodeOutput({ stream, seq, data: Buffer.from(data) }));
      const mine = seq;
      await waitFor(() => (acked >= mine ? true : undefined), 5000, `ack of ${mine}`);
      return mine;
    },
    send(msg) {
      ws.send(JSON.stringify(msg));
    },
    async next(type, pred, ms = 5000) {
      const i = await waitFor(() => {
        const idx = messages.findIndex((m, k) => !consumed.has(k) && m.type === type && (!pred || pred(m as never)));
        return idx === -1 ? undefined : idx;
      }, ms, `a ${type} message`);
      consumed.add(i);
      return messages[i] as never;
    },
    async exit(code) {
      ws.send(JSON.stringify({ type: 'exit', code, signal: null, lastSeq: seq }));
      await waitFor(() => (messages.some((m) => m.type === 'exit_ack') ? true : undefined), 5000, 'exit_ack');
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      const closed = new Promise((r) => ws.once('close', r));
      ws.close();
      await closed;
    },
  };
}

/**
 * A sentinel on the gateway → runner socket, for "nothing else reached the runner" checks: asks
 * the gateway (operator API) to send this runner a `collect`, waits for it, and returns every
 * message that came before it. The socket is ordered, so whatever the gateway sent earlier is
 * in that list; no sleep has to guess how long "earlier" takes.
 */
export async function messagesBeforeSentinel(g: TestGateway, r: FakeRunner, runId: string): Promise<GatewayToRunner[]> {
  const asked = await apiRequest(g, 'POST', `/api/v1/runs/${runId}/collect`);
  if (asked.status !== 202) throw new Error(`the sentinel collect was refused: ${asked.status} ${JSON.stringify(asked.json)}`);
  const sentinel = await r.next('collect', (m) => m.requestId === asked.json.requestId);
  return r.messages.slice(0, r.messages.indexOf(sentinel));
}

/** A pending approval as a runner reports it (Bash `npm test`, with a suggested rule), for fake runners to send. */
export function approvalInfo(id: string, over: Partial<ApprovalInfo> = {}): ApprovalInfo {
  return {
    approvalId: id,
    toolName: 'Bash',
    displayName: 'Bash',
    toolUseId: 'toolu_1',
    input: { command: 'npm test', description: 'Run tests' },
    inputTruncated: false,
    description: 'Run tests',
    blockedPath: null,
    rule: { toolName: 'Bash', ruleContent: 'npm test' },
    expiresAt: Date.now() + 600_000,
    ...over,
  };
}

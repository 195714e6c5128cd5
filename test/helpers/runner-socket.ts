import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { HEADER_PROTOCOL, signRequest } from '../../protocol/signing.js';

export interface UpgradeResult {
  status: number;
  body: { error?: { code: string; message: string } } | null;
  ws: WebSocket | null;
}

/**
 * Opens a runner socket with exactly the headers given (signed or forged), and reports how the
 * gateway answered the upgrade: 101 with the open socket, or the status and JSON error body.
 */
export function rawRunnerUpgrade(gatewayUrl: string, fingerprint: string, headers: Record<string, string>, path = '/v1/runner'): Promise<UpgradeResult> {
  const url = new URL(path, gatewayUrl);
  url.protocol = 'wss:';
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, agent: new PinnedAgent(fingerprint), perMessageDeflate: false });
    ws.on('unexpected-response', (_req, res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        let body = null;
        try {
          body = JSON.parse(Buffer.concat(parts).toString('utf8'));
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, body, ws: null });
      });
    });
    ws.on('open', () => resolve({ status: 101, body: null, ws }));
    ws.on('error', (err) => reject(err));
  });
}

export function signedHeaders(token: string, runId: string, opts: { now?: number; nonce?: string; target?: string; body?: string } = {}): Record<string, string> {
  return {
    ...signRequest(token, { method: 'GET', target: opts.target ?? '/v1/runner', runId, ...(opts.body ? { body: opts.body } : {}) }, opts),
    [HEADER_PROTOCOL]: '1',
  };
}

/** Collects JSON text messages and the close event of a socket. */
export function collect(ws: WebSocket): { messages: unknown[]; closed: Promise<{ code: number; reason: string }> } {
  const messages: unknown[] = [];
  ws.on('message', (data, isBinary) => {
    if (!isBinary) messages.push(JSON.parse(String(data)));
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return { messages, closed };
}

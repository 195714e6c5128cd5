import https from 'node:https';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { TestGateway } from './gateway.js';

/** One operator API request with a bearer token; the answer parsed as JSON when it is JSON. */
export function apiRequest(g: Pick<TestGateway, 'url' | 'fingerprint' | 'operatorToken'>, method: string, path: string, body?: unknown, token = g.operatorToken): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const r = https.request(new URL(path, g.url), { method, agent: new PinnedAgent(g.fingerprint), headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: unknown = text;
        try {
          json = JSON.parse(text);
        } catch {
          /* not JSON (e.g. JSON lines): keep the text */
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    r.on('error', reject);
    r.end(payload);
  });
}

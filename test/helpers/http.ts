import https from 'node:https';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The JSON body, or null when it is not JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One HTTPS request to a test gateway, with the body sent exactly as given (hostile bodies included). */
export function request(
  g: { url: string; fingerprint: string },
  method: string,
  path: string,
  opts: { token?: string; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const req = https.request(new URL(path, g.url), {
      method,
      agent: new PinnedAgent(g.fingerprint),
      headers: {
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
        ...opts.headers,
      },
    });
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One operator API request with a bearer token (the gateway's operator token unless another is
 * given); the answer parsed as JSON when it is JSON, else the text (e.g. JSON lines).
 */
export async function apiRequest(
  g: { url: string; fingerprint: string; operatorToken: string },
  method: string,
  path: string,
  body?: unknown,
  token = g.operatorToken,
): Promise<{ status: number; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await request(g, method, path, { token, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  return { status: r.status, json: r.json ?? r.text };
}

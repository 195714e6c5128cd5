import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { Target } from './clients.js';

/** An HTTP(S) request to the bench's gateway, as the phone's browser makes it (pinned certificate). */
export function pageRequest(t: Target, method: string, path: string, headers: Record<string, string>, body?: string): http.ClientRequest {
  const url = new URL(path, t.url);
  return url.protocol === 'https:'
    ? https.request(url, { method, headers, agent: new PinnedAgent(t.fingerprint!) })
    : http.request(url, { method, headers });
}

function fetchPage(t: Target, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string; cookies: string[] }> {
  return new Promise((resolve, reject) => {
    const req = pageRequest(t, method, path, headers, body);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), cookies: ([] as string[]).concat(res.headers['set-cookie'] ?? []) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Creates the gateway's first account with the setup code it wrote into its data directory and
 * returns the session's Cookie header: what a phone holds after `/setup`. The bench's gateway
 * is fresh, so this is the admin.
 */
export async function pageSession(t: Target, dataDir: string): Promise<string> {
  const code = readFileSync(join(dataDir, 'setup.code'), 'utf8').trim();
  const jar = new Map<string, string>();
  const remember = (cookies: string[]) => {
    for (const c of cookies) {
      const pair = c.split(';')[0]!;
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const page = await fetchPage(t, 'GET', '/setup', { accept: 'text/html' });
  remember(page.cookies);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  if (!csrf) throw new Error(`GET /setup: no form (HTTP ${page.status})`);
  const password = 'bench only: correct horse battery';
  const form = new URLSearchParams({ _csrf: csrf, code, username: 'bench', password, password2: password }).toString();
  const done = await fetchPage(t, 'POST', '/setup', {
    accept: 'text/html',
    origin: new URL(t.url).origin,
    cookie: cookie(),
    'content-type': 'application/x-www-form-urlencoded',
    'content-length': String(Buffer.byteLength(form)),
  }, form);
  if (done.status !== 303) throw new Error(`POST /setup: HTTP ${done.status}`);
  remember(done.cookies);
  return cookie();
}

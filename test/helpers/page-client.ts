import https from 'node:https';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';

export interface PageResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Set-Cookie headers of this response. */
  cookies: string[];
}

export interface PostOptions {
  /** Origin header to send (default: the gateway's own origin); null sends none. */
  origin?: string | null;
  /** Sec-Fetch-Site header (default: none sent). */
  site?: string;
  /** Leave out the _csrf field (default: the token scraped from the last page). */
  csrf?: string | null;
  headers?: Record<string, string>;
}

/**
 * A minimal browser for page tests: a cookie jar, forms posted as a browser would (Origin,
 * urlencoded, the CSRF token of the last page), no redirects followed.
 */
export class PageClient {
  readonly jar = new Map<string, string>();
  lastCsrf: string | null = null;
  private readonly agent: PinnedAgent;

  constructor(readonly base: string, fingerprint: string) {
    this.agent = new PinnedAgent(fingerprint);
  }

  cookieHeader(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  request(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<PageResponse> {
    const url = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      const req = https.request(url, {
        method,
        agent: this.agent,
        headers: {
          accept: 'text/html',
          ...(this.jar.size ? { cookie: this.cookieHeader() } : {}),
          ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) } : {}),
          ...headers,
        },
      });
      req.on('response', (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
          for (const c of cookies) {
            const [pair] = c.split(';');
            const eq = pair!.indexOf('=');
            const name = pair!.slice(0, eq);
            const value = pair!.slice(eq + 1);
            if (/Max-Age=0/i.test(c) || value === '') this.jar.delete(name);
            else this.jar.set(name, value);
          }
          const text = Buffer.concat(parts).toString('utf8');
          const m = /name="_csrf" value="([^"]+)"/.exec(text);
          if (m) this.lastCsrf = m[1]!;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, cookies });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  get(path: string, headers: Record<string, string> = {}): Promise<PageResponse> {
    return this.request('GET', path, undefined, headers);
  }

  post(path: string, fields: Record<string, string>, opts: PostOptions = {}): Promise<PageResponse> {
    const form = new URLSearchParams(fields);
    const csrf = opts.csrf === undefined ? this.lastCsrf : opts.csrf;
    if (csrf !== null && csrf !== undefined && !('_csrf' in fields)) form.set('_csrf', csrf);
    const headers: Record<string, string> = { ...opts.headers };
    const origin = opts.origin === undefined ? new URL(this.base).origin : opts.origin;
    if (origin !== null) headers['origin'] = origin;
    if (opts.site) headers['sec-fetch-site'] = opts.site;
    return this.request('POST', path, form.toString(), headers);
  }

  /** GETs a page first (for its CSRF token), then posts the form. */
  async submit(pagePath: string, action: string, fields: Record<string, string>, opts: PostOptions = {}): Promise<PageResponse> {
    await this.get(pagePath);
    return this.post(action, fields, opts);
  }
}

/** The setup code a fresh gateway printed. */
export async function setupAdmin(c: PageClient, setupCode: string, name = 'admin', password = 'correct horse battery'): Promise<PageResponse> {
  return c.submit('/setup', '/setup', { code: setupCode, username: name, password, password2: password });
}

export async function login(c: PageClient, username: string, password: string): Promise<PageResponse> {
  return c.submit('/login', '/login', { username, password, next: '/runs' });
}

/** A JSON API call with a bearer token (or none), pinned to the test gateway. */
export async function fetchJson(g: { url: string; fingerprint: string }, path: string, token: string, method = 'GET', body?: unknown): Promise<{ status: number; json: { error?: { code: string } } & Record<string, unknown> }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, g.url), {
      method,
      agent: new PinnedAgent(g.fingerprint),
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(payload ? { 'content-type': 'application/json' } : {}) },
    });
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(parts).toString() || '{}') }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

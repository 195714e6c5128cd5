import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { isErrorCode } from '../../protocol/errors.js';
import { CliError, exitForCode, networkError } from '../exit-codes.js';
import { agentFor } from './pinned-agent.js';

export interface GatewayTarget {
  /** https://host:port (or http:// for a loopback gateway started with --insecure-http). */
  gateway: string;
  token: string;
  fingerprint: string | undefined;
}

/** The operator HTTP API, with pinning, bearer auth and errors turned into CliErrors. */
export class ApiClient {
  readonly base: URL;
  private readonly agent: https.Agent | undefined;

  constructor(readonly target: GatewayTarget) {
    this.base = new URL(target.gateway);
    this.agent = agentFor(this.base, target.fingerprint);
  }

  /** Opens a request and resolves with the response once headers arrive; non-2xx becomes a CliError. */
  async open(method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const mod = url.protocol === 'https:' ? https : http;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = mod.request(url, {
        method,
        agent: this.agent,
        headers: {
          // No token only for POST /api/v1/login, which is how a token is obtained.
          ...(this.target.token ? { authorization: `Bearer ${this.target.token}` } : {}),
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
        timeout: 30_000,
      });
      req.on('response', resolve);
      req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => reject(networkError(err, this.target.gateway)));
      req.end(payload);
    });
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    const text = (await readAll(res)).toString('utf8');
    let code = 'ERR_HTTP';
    let message = `gateway answered ${status}`;
    try {
      const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      if (typeof parsed.error?.code === 'string') code = parsed.error.code;
      if (typeof parsed.error?.message === 'string') message = parsed.error.message;
    } catch {
      /* not our JSON: keep the status line */
    }
    throw new CliError(message, isErrorCode(code) ? exitForCode(code) : status === 401 || status === 403 ? 77 : 1, code);
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.open(method, path, body);
    const text = (await readAll(res)).toString('utf8');
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`gateway sent a non-JSON answer to ${method} ${path}`);
    }
  }
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import { isErrorCode } from '../../protocol/errors.js';
import { parseByPlan } from '../../protocol/plan-parse.js';
import { CliError, exitForCode, networkError, unexpectedResponse } from '../exit-codes.js';
import type { LazySchema } from './lazy-schemas.js';
import { agentFor } from './pinned-agent.js';

/**
 * The largest JSON answer read (a full chunks page is ~1.4 MB, 500 runs well under that): a
 * gateway that sends more is refused before it can exhaust memory.
 */
export const MAX_JSON_RESPONSE_BYTES = 32 * 1024 * 1024;
/** Only the start of an error body is needed for its code and message. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

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
    const text = (await readUpTo(res, MAX_ERROR_BODY_BYTES))?.toString('utf8') ?? '';
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

  /**
   * Sends a request and returns its JSON answer checked against `schema` (the protocol's schema
   * for that route): anything else is an `unexpectedResponse` CliError here, at the boundary.
   * A LazySchema (cli/client/lazy-schemas.ts) gives the same answer and errors, and loads zod only
   * when its plan is unsure of the answer.
   * @example const { run } = await api.json('GET', `/api/v1/runs/${id}`, RunResponse);
   */
  async json<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.infer<S>>;
  async json<T>(method: string, path: string, schema: LazySchema<T>, body?: unknown): Promise<T>;
  async json(method: string, path: string, given: z.ZodType | LazySchema<unknown>, body?: unknown): Promise<unknown> {
    const res = await this.open(method, path, body);
    const data = await readUpTo(res, MAX_JSON_RESPONSE_BYTES);
    if (data === null) throw unexpectedResponse(method, path, `more than ${MAX_JSON_RESPONSE_BYTES} bytes`);
    let value: unknown;
    try {
      value = JSON.parse(data.toString('utf8'));
    } catch {
      throw unexpectedResponse(method, path, 'not JSON');
    }
    let schema: z.ZodType;
    if ('plan' in given) {
      const fast = parseByPlan(given.plan, value);
      if (fast) return fast.value;
      schema = await given.load();
    } else schema = given;
    const checked = schema.safeParse(value);
    if (!checked.success) throw unexpectedResponse(method, path, describeIssue(checked.error.issues[0]));
    return checked.data;
  }
}

/** The first schema complaint as `path.to[3].field: message`; keys come from the gateway, so each is capped. */
function describeIssue(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return 'does not match the protocol';
  const path = issue.path
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i > 0 ? '.' : ''}${String(k).slice(0, 40)}`))
    .join('');
  return `${path || '(the whole answer)'}: ${issue.message}`;
}

/** A whole stream, however long: only for bodies whose size the caller bounds otherwise. */
export async function readAll(stream: Readable): Promise<Buffer> {
  return (await readUpTo(stream, Infinity))!;
}

/** The whole stream if it is at most `max` bytes; null (and the stream destroyed) if it is longer. */
async function readUpTo(stream: Readable, max: number): Promise<Buffer | null> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of stream) {
    size += (part as Buffer).length;
    // Leaving the loop destroys the stream: the rest is never read.
    if (size > max) return null;
    parts.push(part as Buffer);
  }
  return Buffer.concat(parts);
}

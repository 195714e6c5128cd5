import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../protocol/errors.js';
import type { Logger } from './log.js';

/** Everything a handler may read of a request, copied out of uWS's stack-only `req` at once. */
export interface RequestInfo {
  method: string;
  path: string;
  query: string;
  /** Path plus `?query` as on the request line: what runner signatures cover. */
  target: string;
  headers: Record<string, string>;
  params: string[];
  remote: string;
  /**
   * A header the request sent twice in a way that makes it mean two things (any `x-ccg-*`
   * header, or `content-length` with different values): refused, since a proxy in front may
   * have read the other copy (request smuggling).
   */
  ambiguous: string | null;
}

export type FullReply =
  | { status: number; json: unknown; headers?: Record<string, string>; cookies?: string[] }
  | { status: number; body: string | Buffer; headers: Record<string, string>; cookies?: string[] };

/** A full reply, or the handler took over the response (streaming). */
export type Reply = FullReply | { streamed: true };

export interface Ctx extends RequestInfo {
  res: HttpResponse;
  /** True once the client went away: check after every await. */
  aborted(): boolean;
  /** Runs `fn` when the client goes away (streaming handlers clean up with it). */
  onAborted(fn: () => void): void;
  body(limit: number): Promise<Buffer>;
}

export const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}

/**
 * Percent-decodes a path parameter. A malformed escape (`%E0%A4%A`) makes decodeURIComponent
 * throw inside the uWS callback, which would take the whole gateway down: it is kept raw instead,
 * and then fails the route's own validation (ids and names never contain `%`).
 */
function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export function copyRequest(res: HttpResponse, req: HttpRequest, paramCount: number): RequestInfo {
  const headers: Record<string, string> = {};
  let ambiguous: string | null = null;
  req.forEach((k, v) => {
    if (k in headers && (k.startsWith('x-ccg-') || (k === 'content-length' && headers[k] !== v))) ambiguous ??= k;
    headers[k] = v;
  });
  const path = req.getUrl();
  const query = req.getQuery() ?? '';
  const params: string[] = [];
  for (let i = 0; i < paramCount; i++) params.push(decodeParam(req.getParameter(i) ?? ''));
  return {
    method: req.getMethod().toUpperCase(),
    path,
    query,
    target: query ? `${path}?${query}` : path,
    headers,
    params,
    remote: Buffer.from(res.getRemoteAddressAsText()).toString(),
    ambiguous,
  };
}

/**
 * Writes a full reply. Must be called while the response is still open. `closeConnection` ends
 * the connection after it (a request whose framing is in doubt: what follows it cannot be trusted).
 */
export function writeReply(res: HttpResponse, reply: FullReply, closeConnection = false): void {
  res.cork(() => {
    res.writeStatus(statusLine(reply.status));
    // A reply's own header replaces the default of the same name (e.g. cache-control of static files).
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) if (!reply.headers || !(k in reply.headers)) res.writeHeader(k, v);
    for (const c of reply.cookies ?? []) res.writeHeader('set-cookie', c);
    if ('json' in reply) {
      for (const [k, v] of Object.entries(reply.headers ?? {})) res.writeHeader(k, v);
      res.writeHeader('content-type', 'application/json; charset=utf-8');
      res.end(JSON.stringify(reply.json), closeConnection);
    } else {
      for (const [k, v] of Object.entries(reply.headers)) res.writeHeader(k, v);
      res.end(reply.body, closeConnection);
    }
  });
}

export function errorReply(err: CcgError): FullReply {
  const wait = retryAfter(err);
  return { status: err.http, json: err.toBody(), ...(wait ? { headers: { 'retry-after': wait } } : {}) };
}

/** Seconds a client should wait before trying again, for the errors that have such a wait. */
export function retryAfter(err: CcgError): string | undefined {
  if (err.code === 'ERR_BUSY') return '1';
  if (err.code === 'ERR_THROTTLED') return /(\d+) s/.exec(err.message)?.[1] ?? '60';
  return undefined;
}

/** Reads the request body, refusing (413) past `limit` bytes without buffering the excess. */
function bodyReader(res: HttpResponse, state: { aborted: boolean }): (limit: number) => Promise<Buffer> {
  let promise: Promise<Buffer> | undefined;
  return (limit) =>
    (promise ??= new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      let size = 0;
      let done = false;
      res.onData((ab, isLast) => {
        if (done) return;
        size += ab.byteLength;
        if (size > limit) {
          done = true;
          reject(new CcgError('ERR_TOO_LARGE', `request body exceeds ${limit} bytes`));
          return;
        }
        parts.push(Buffer.from(ab.slice(0)));
        if (isLast) {
          done = true;
          resolve(Buffer.concat(parts));
        }
      });
      if (state.aborted) reject(new CcgError('ERR_BAD_REQUEST', 'client went away'));
    }));
}

/** The refusal of a request with an ambiguous header (see `RequestInfo.ambiguous`). */
export function ambiguousHeader(name: string): CcgError {
  return new CcgError('ERR_BAD_REQUEST', `the ${name} header is sent twice${name === 'content-length' ? ' with different values' : ''}: refused`);
}

/**
 * Credentials never travel in URLs (they end up in logs, history and Referer headers): a query
 * naming one, or holding anything that looks like a ccg token (run, operator or machine).
 */
export function credentialsInQuery(query: string): boolean {
  return /(^|&)(token|access_token|run_token|api_token|key|signature)=/i.test(query) || /ccg[rom]_/.test(query);
}

/**
 * Registers an HTTP route. The handler may be async: `onAborted` is set up front, the request
 * is copied before the first await, errors become the JSON error body from the error table.
 */
export function route(
  app: TemplatedApp,
  method: 'get' | 'post' | 'put' | 'del' | 'any',
  pattern: string,
  log: Logger,
  handler: (ctx: Ctx) => Reply | Promise<Reply>,
): void {
  const paramCount = (pattern.match(/\/:/g) ?? []).length;
  app[method](pattern, (res, req) => {
    const state = { aborted: false };
    const abortListeners: (() => void)[] = [];
    res.onAborted(() => {
      state.aborted = true;
      for (const fn of abortListeners) fn();
    });
    const info = copyRequest(res, req, paramCount);
    const ctx: Ctx = {
      ...info,
      res,
      aborted: () => state.aborted,
      onAborted: (fn) => {
        abortListeners.push(fn);
      },
      body: bodyReader(res, state),
    };
    const finish = (reply: Reply) => {
      if (state.aborted || 'streamed' in reply) return;
      writeReply(res, reply);
    };
    const fail = (err: unknown) => {
      if (!(err instanceof CcgError)) log.error('http.unhandled', { path: info.path, err: String(err) });
      const e = err instanceof CcgError ? err : new CcgError('ERR_INTERNAL');
      if (e.http >= 500 || e.code === 'ERR_INTERNAL') log.warn('http.error', { path: info.path, code: e.code });
      finish(errorReply(e));
    };
    if (info.ambiguous) {
      // The body's length is in doubt, so the connection goes with the answer. The answer is
      // written from a macrotask: uWS runs a request pipelined behind this one at once (what a
      // proxy may have taken for this body) if this one is already answered, but drops the
      // connection unanswered when it meets one while this answer is pending. (Checked with
      // uWS.js 20.30; test/server/ambiguous-headers.test.ts.)
      const refusal = ambiguousHeader(info.ambiguous);
      log.warn('http.ambiguous_header', { path: info.path, remote: info.remote, header: info.ambiguous });
      setImmediate(() => {
        if (!state.aborted) writeReply(res, errorReply(refusal), true);
      });
      return;
    }
    try {
      if (credentialsInQuery(info.query)) throw new CcgError('ERR_TOKEN_IN_URL');
      const out = handler(ctx);
      if (out instanceof Promise) out.then(finish, fail);
      else finish(out);
    } catch (err) {
      fail(err);
    }
  });
}

/** Parses a JSON body and validates it with a schema's `safeParse`, as a 400 with the first issue. */
export function parseJson<T>(
  body: Buffer,
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } },
): T {
  let value: unknown;
  try {
    value = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    throw new CcgError('ERR_BAD_REQUEST', 'request body is not valid JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length ? `${issue.path.map(String).join('.')}: ` : '';
    throw new CcgError('ERR_BAD_REQUEST', `${where}${issue?.message ?? 'invalid body'}`);
  }
  return parsed.data;
}

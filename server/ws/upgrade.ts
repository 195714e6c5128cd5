import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import { CcgError } from '../../protocol/errors.js';
import type { ConnectionLimiter } from '../connection-limits.js';
import type { Logger } from '../log.js';
import { ambiguousHeader, copyRequest, credentialsInQuery, errorReply, writeReply, type RequestInfo } from '../respond.js';

/** A WebSocket upgrade under way (`beginUpgrade`): the request as copied, and the ways to answer it. */
export class Upgrade {
  readonly info: RequestInfo;
  private readonly key: string;
  private readonly protocol: string;
  private readonly extensions: string;
  /** The client went away: nothing may be written to the response any more. */
  aborted = false;

  constructor(
    private readonly res: HttpResponse,
    req: HttpRequest,
    private readonly context: us_socket_context_t,
    private readonly log: Logger,
    private readonly refusedEvent: string,
  ) {
    // uWS's `req` lives only until this callback returns: everything is copied now.
    this.info = copyRequest(res, req, 0);
    this.key = req.getHeader('sec-websocket-key');
    this.protocol = req.getHeader('sec-websocket-protocol');
    this.extensions = req.getHeader('sec-websocket-extensions');
    res.onAborted(() => {
      this.aborted = true;
    });
  }

  /** Answers with the error (logged as `refusedEvent`), unless the client went away. */
  refuse(err: CcgError): void {
    this.log.warn(this.refusedEvent, { remote: this.info.remote, code: err.code, reason: err.message });
    if (!this.aborted) writeReply(this.res, errorReply(err));
  }

  /** Completes the upgrade now: only from inside uWS's upgrade callback itself. */
  accept<T>(data: T): void {
    this.res.upgrade(data, this.key, this.protocol, this.extensions, this.context);
  }

  /**
   * Completes the upgrade from a macrotask, which an answer found asynchronously (a signature's
   * nonce, a run's record) must use, never its promise continuation: uWS.js drains microtasks at
   * the end of every JS callback, so a continuation can run while uWS is parsing ANOTHER
   * socket's HTTP request. uWS (v20.30) then takes the new WebSocket for that socket's upgrade,
   * leaves that socket corked, and aborts the whole process ("Cork buffer must not be held across
   * event loop iterations!"). Found by `npm run bench` with 100 runners connecting at once;
   * test/server/connect-storm.test.ts repeats it. `release` runs instead if the client went away.
   */
  acceptSoon<T>(data: T, release: () => void): void {
    setImmediate(() => {
      if (this.aborted) release();
      else this.res.cork(() => this.accept(data));
    });
  }
}

/**
 * Starts a WebSocket upgrade with the checks every socket makes before any other work, in this
 * order: no credentials in the URL, no header sent twice (`RequestInfo.ambiguous`), the address
 * under its connection cap (an address past it costs nothing more). A refusal is answered and
 * logged as `refusedEvent`, and null returned.
 */
export function beginUpgrade(
  res: HttpResponse,
  req: HttpRequest,
  context: us_socket_context_t,
  o: { log: Logger; limiter: ConnectionLimiter; refusedEvent: string },
): Upgrade | null {
  const up = new Upgrade(res, req, context, o.log, o.refusedEvent);
  try {
    if (credentialsInQuery(up.info.query)) throw new CcgError('ERR_TOKEN_IN_URL');
    if (up.info.ambiguous) throw ambiguousHeader(up.info.ambiguous);
    o.limiter.check(up.info.remote);
  } catch (err) {
    up.refuse(err instanceof CcgError ? err : new CcgError('ERR_INTERNAL'));
    return null;
  }
  return up;
}

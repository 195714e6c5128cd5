import type { HttpResponse } from 'uWebSockets.js';
import { SECURITY_HEADERS, statusLine, type Ctx } from '../respond.js';

export interface SseEvent {
  /** Becomes the browser's Last-Event-ID, sent back on reconnect (the resume point). */
  id?: number;
  event?: string;
  data?: string;
}

/**
 * A server-sent events response on uWebSockets.js. `send` reports backpressure (false: uWS is
 * buffering; stop producing and wait for `onDrain`). Comments keep idle connections (and any
 * proxy in between) from timing out.
 */
export class SseStream {
  private closedFlag = false;
  private drainFn: (() => void) | null = null;
  private readonly closeFns: (() => void)[] = [];
  private readonly res: HttpResponse;
  private ping: NodeJS.Timeout | null = null;

  constructor(private readonly ctx: Ctx, headers: Record<string, string> = {}) {
    this.res = ctx.res;
    ctx.onAborted(() => this.closed());
    this.res.cork(() => {
      this.res.writeStatus(statusLine(200));
      for (const [k, v] of Object.entries({ ...SECURITY_HEADERS, ...headers })) this.res.writeHeader(k, v);
      this.res.writeHeader('content-type', 'text/event-stream; charset=utf-8');
      this.res.writeHeader('x-accel-buffering', 'no');
      // How long the browser waits before reconnecting after a drop.
      this.res.write('retry: 1500\n\n');
    });
    this.res.onWritable(() => {
      const fn = this.drainFn;
      this.drainFn = null;
      fn?.();
      return true;
    });
    this.ping = setInterval(() => this.comment('ping'), 8000);
    this.ping.unref();
  }

  get isClosed(): boolean {
    return this.closedFlag || this.ctx.aborted();
  }

  /** Writes one event; false when the socket is backed up (it is still queued). */
  send(ev: SseEvent): boolean {
    if (this.isClosed) return false;
    let text = '';
    if (ev.event) text += `event: ${ev.event}\n`;
    if (ev.id !== undefined) text += `id: ${ev.id}\n`;
    if (ev.data !== undefined) for (const line of ev.data.split(/\r\n|\r|\n/)) text += `data: ${line}\n`;
    text += '\n';
    let ok = true;
    this.res.cork(() => {
      ok = this.res.write(text);
    });
    return ok;
  }

  comment(text: string): void {
    if (this.isClosed) return;
    this.res.cork(() => this.res.write(`: ${text}\n\n`));
  }

  /** Calls `fn` once when the socket has drained after a `send` returned false. */
  onDrain(fn: () => void): void {
    this.drainFn = fn;
  }

  onClose(fn: () => void): void {
    if (this.isClosed) fn();
    else this.closeFns.push(fn);
  }

  /** Ends the response (the browser will reconnect unless its page told it to stop). */
  end(): void {
    if (this.isClosed) return;
    this.res.cork(() => this.res.end());
    this.closed();
  }

  private closed(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    if (this.ping) clearInterval(this.ping);
    for (const fn of this.closeFns.splice(0)) fn();
  }
}

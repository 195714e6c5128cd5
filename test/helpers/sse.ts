import https from 'node:https';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { TestGateway } from './gateway.js';
import type { PageClient } from './page-client.js';

export interface SseEvent {
  id?: number;
  event: string;
  data: string;
}

/**
 * A server-sent events parser for a UTF-8 text stream: feed it each piece of text as it arrives;
 * `onEvent` gets every event (comments and retry-only blocks are skipped) and returns true to
 * stop parsing (the caller closed the stream).
 */
export function sseParser(onEvent: (ev: SseEvent) => boolean | void): (text: string) => void {
  let buf = '';
  return (text) => {
    buf += text;
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev: SseEvent = { event: 'message', data: '' };
      const data: string[] = [];
      let any = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':') || line.startsWith('retry:')) continue;
        any = true;
        if (line.startsWith('event: ')) ev.event = line.slice(7);
        else if (line.startsWith('id: ')) ev.id = Number(line.slice(4));
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (!any) continue;
      ev.data = data.join('\n');
      if (onEvent(ev)) return;
    }
  };
}

/**
 * Reads a page's live stream as an EventSource would (session cookie, optional Last-Event-ID)
 * until `until` says stop, the server ends it, or `ms` pass.
 */
export function readSse(g: TestGateway, c: PageClient, path: string, until: (events: SseEvent[]) => boolean, opts: { headers?: Record<string, string>; ms?: number } = {}): Promise<{ status: number; events: SseEvent[] }> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    let status = 0;
    const req = https.get(new URL(path, g.url), { agent: new PinnedAgent(g.fingerprint), headers: { accept: 'text/event-stream', cookie: c.cookieHeader(), ...opts.headers } }, (res) => {
      status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on(
        'data',
        sseParser((ev) => {
          events.push(ev);
          if (!until(events)) return false;
          clearTimeout(timer);
          req.destroy();
          resolve({ status, events });
          return true;
        }),
      );
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status, events });
      });
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ status, events });
    }, opts.ms ?? 10_000);
  });
}

/**
 * Asserts HTML is inert: the only scripts, stylesheet and icon are ours (`/static/…`), no tag that loads or runs
 * anything (svg, img, iframe, object, embed, style, base), no event-handler attribute on any
 * tag, no javascript:/data: URL in an href or src, no terminal escape.
 */
export function assertInert(html: string, what = 'page'): void {
  for (const m of html.matchAll(/<script\b[^>]*>/gi)) if (!m[0].startsWith('<script src="/static/')) throw new Error(`${what}: foreign script tag ${m[0]}`);
  const bad = /<(svg|img|iframe|object|embed|style|base|math|link(?![^>]*rel="(?:stylesheet|icon)" href="\/static\/))\b[^>]*>/i.exec(html);
  if (bad) throw new Error(`${what}: foreign tag ${bad[0].slice(0, 120)}`);
  for (const m of html.matchAll(/<[a-z][^>]*>/gi)) {
    if (/\son[a-z]+\s*=/i.test(m[0])) throw new Error(`${what}: event handler in ${m[0].slice(0, 160)}`);
    if (/\s(href|src|action|formaction)\s*=\s*"?\s*(javascript|data|vbscript):/i.test(m[0])) throw new Error(`${what}: script URL in ${m[0].slice(0, 160)}`);
  }
  if (/[\u001b\u009b]/.test(html)) throw new Error(`${what}: a terminal escape reached the HTML`);
}

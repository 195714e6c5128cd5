import https from 'node:https';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { sseParser, type SseEvent } from './sse.js';


export interface SseReader {
  status: Promise<number>;
  events: SseEvent[];
  /** Resolves once the server ended the stream (or the connection dropped). */
  closed: Promise<void>;
  close(): void;
}

/**
 * Opens a server-sent event stream as an EventSource would (session cookie, optional
 * Last-Event-ID) and collects its events until closed. Bounded: destroyed after `maxMs`.
 */
export function openSse(g: { url: string; fingerprint: string }, path: string, cookie: string, maxMs = 60_000): SseReader {
  const events: SseEvent[] = [];
  let setStatus!: (n: number) => void;
  const status = new Promise<number>((r) => (setStatus = r));
  let setClosed!: () => void;
  const closed = new Promise<void>((r) => (setClosed = r));
  const req = https.get(new URL(path, g.url), { agent: new PinnedAgent(g.fingerprint), headers: { accept: 'text/event-stream', cookie } }, (res) => {
    setStatus(res.statusCode ?? 0);
    res.setEncoding('utf8');
    res.on('data', sseParser((ev) => void events.push(ev)));
    res.on('close', () => setClosed());
  });
  req.on('error', () => {
    setStatus(0);
    setClosed();
  });
  const timer = setTimeout(() => req.destroy(), maxMs);
  timer.unref();
  return {
    status,
    events,
    closed,
    close() {
      clearTimeout(timer);
      req.destroy();
    },
  };
}

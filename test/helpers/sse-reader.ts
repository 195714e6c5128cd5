import https from 'node:https';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';

export interface SseEvent {
  id?: number;
  event: string;
  data: string;
}

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
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buf += d;
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
        events.push(ev);
      }
    });
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

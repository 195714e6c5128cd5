import type { TemplatedApp } from 'uWebSockets.js';
import { isFinal, type RunSummary } from '../../../protocol/run.js';
import { OutputRenderer, WINDOW_BYTES, WINDOW_CHUNKS, runView } from '../../render/run-view.js';
import type { LiveChunk } from '../../live/bus.js';
import { Follower } from '../../live/follower.js';
import type { CredentialWatch } from '../../live/recheck.js';
import { SseStream, type SseEvent } from '../sse.js';
import { pageHeaders, pageRoute, runIdOf, type BrowserDeps, type PageCtx } from './browser.js';
import { partialData, type RunPageView, type SectionCtx, type SectionLive } from './run-sections.js';
import { eventWindowOf, lazyWindow, readEventWindow } from './run/events.js';
import { isClaudeRun } from './run/timeline.js';
import { listRuns, parseFilter, statusData } from './runs-pages.js';

/** Past this many chunks behind, a reconnecting page reloads (showing the tail) instead of replaying. */
const MAX_REPLAY_CHUNKS = 5000;
/** Each catch-up read from the store. */
const BATCH = { limit: 256, maxBytes: 256 * 1024 };

/**
 * Open live streams by session, so logout can end them at once. Streams also re-check their
 * session (expiry, a disabled user, a password change elsewhere) through the one credential watch.
 */
export class LiveStreams {
  private readonly bySession = new Map<string, Set<SseStream>>();

  constructor(readonly watch: CredentialWatch) {}

  add(sessionHash: string, s: SseStream): void {
    let set = this.bySession.get(sessionHash);
    if (!set) this.bySession.set(sessionHash, (set = new Set()));
    set.add(s);
    s.onClose(() => {
      set.delete(s);
      if (set.size === 0) this.bySession.delete(sessionHash);
    });
  }

  closeSession(hash: string): void {
    for (const s of [...(this.bySession.get(hash) ?? [])]) s.end();
  }

  closeAll(): void {
    for (const set of [...this.bySession.values()]) for (const s of [...set]) s.end();
  }
}

function parseSeq(v: string | null | undefined): number | undefined {
  return v && /^\d{1,16}$/.test(v) ? Number(v) : undefined;
}

function openStream(pc: PageCtx, streams: LiveStreams): SseStream {
  const s = new SseStream(pc.ctx, { 'cache-control': 'no-store', 'content-security-policy': pageHeaders(pc)['content-security-policy']! });
  const hash = pc.session!.hash;
  const role = pc.principal?.role;
  streams.add(hash, s);
  // A stream shows what its role may see (approval buttons, links): when the session ends or the
  // user's role changes, it ends, and the page reconnects as who the user is now.
  const recheck = () => {
    const still = pc.d.sessions.resolve(pc.ctx.headers['cookie']);
    if (!still || still.hash !== hash || still.record.stage !== 'full' || still.user.role !== role) s.end();
  };
  const off = streams.watch.add(() => {
    if (!s.isClosed) recheck();
  });
  s.onClose(off);
  return s;
}

/**
 * `GET /runs/:id/live`: the run page's live updates as server-sent events.
 *
 * - `output`: HTML of the child's output (escaped, colours as classes), one event per batch of
 *   chunks, with `id:` = the last seq it covers. The browser sends that back as Last-Event-ID
 *   when it reconnects, and the stream resumes right after it: nothing twice, nothing missing.
 *   (`?after=N` does the same for a fresh EventSource; the larger of the two wins.)
 * - `status`: the run header (status badge, exit code, times, actions) when the run changes.
 * - `end`: all output of a finished run was sent; the page stops listening.
 * - `reset`: the page is too far behind to replay; it reloads and shows the tail.
 *
 * Committed chunks come live from the bus; when the socket backs up, or a chunk arrives out of
 * order, the stream falls back to reading the store from the exact seq it needs once drained.
 */
export function mountRunLive(app: TemplatedApp, d: BrowserDeps, streams: LiveStreams): void {
  pageRoute(app, d, 'get', '/runs/:id/live', { auth: 'user' }, (pc) => {
    const id = runIdOf(pc);
    const run = d.runs.mustGet(id);
    const q = new URLSearchParams(pc.ctx.query);
    const after = Math.max(parseSeq(q.get('after')) ?? 0, parseSeq(pc.ctx.headers['last-event-id']) ?? 0);
    if (pc.ctx.aborted()) return { streamed: true };
    const s = openStream(pc, streams);
    const principal = pc.principal!;
    const csrf = pc.csrf;

    if (d.runs.committedSeq(id) - after > MAX_REPLAY_CHUNKS) {
      s.send({ event: 'reset', data: 'reload' });
      s.end();
      return { streamed: true };
    }

    // `view=timeline`: the page shows Claude's timeline, not the raw output, which then is not sent
    // (events with only an id still move the resume point). A page that shows the raw view only
    // because the run had no runner yet reloads once the run turns out to be a Claude run.
    const view: RunPageView = q.get('view') === 'timeline' ? 'timeline' : 'raw';
    const rawChosen = q.get('view') === 'raw';
    const mustReload = (r: RunSummary) => view === 'raw' && !rawChosen && isClaudeRun(r);
    if (mustReload(d.runs.summary(run))) {
      s.send({ event: 'reset', data: 'reload' });
      s.end();
      return { streamed: true };
    }
    const windowBefore = (before: number) =>
      lazyWindow(() => (view === 'timeline' ? readEventWindow(d.store, id, before) : eventWindowOf(d.store.readChunksBefore(id, before, { limit: WINDOW_CHUNKS, maxBytes: WINDOW_BYTES }), before)));
    const ctxOf = (r: RunSummary, before: number): SectionCtx => ({ run: r, viewer: principal, csrf, from: pc.ip, view, events: windowBefore(before) });

    // Each section follows the run for this stream. Their events carry no id (ids are output
    // resume points) and go out before the output event of the same chunks: a reconnect may send
    // them twice, never lose them (the page merges them by element id).
    const sectionEvents: SseEvent[] = [];
    let flushing = false;
    const startCtx = ctxOf(d.runs.summary(run), after + 1);
    const sectionKeys = new Map<string, string>();
    const lives: SectionLive[] = [];
    for (const sec of d.sections) {
      if (sec.key) sectionKeys.set(sec.id, sec.key(startCtx.run, principal));
      const l = sec.live?.(startCtx, (ev) => {
        sectionEvents.push(ev);
        // Events raised while chunks are handled go out with them (before their output event); others at once.
        if (!flushing) for (const e of sectionEvents.splice(0)) s.send(e);
      });
      if (l) lives.push(l);
    }

    const renderer = view === 'raw' ? new OutputRenderer(d.store, id, after + 1) : null;
    let ended = false;

    const sendChunks = (chunks: readonly LiveChunk[]): boolean => {
      const first = chunks[0]!.seq;
      const last = chunks.at(-1)!.seq;
      flushing = true;
      for (const l of lives) for (const c of chunks) l.onChunk?.(c);
      flushing = false;
      let ok = true;
      for (const ev of sectionEvents.splice(0)) ok = s.send(ev) && ok;
      const htmlText = renderer ? renderer.render(chunks) : '';
      return s.send(htmlText ? { id: last, event: 'output', data: `<span data-seq="${first}">${htmlText}</span>` } : { id: last }) && ok;
    };

    const maybeEnd = (summary: RunSummary) => {
      if (ended || !isFinal(summary.status) || follower.nextSeq <= summary.lastSeq) return;
      ended = true;
      s.send({ event: 'end', data: 'end' });
      // The page closes its EventSource on `end`; close our side too if it does not.
      setTimeout(() => s.end(), 5000).unref();
    };

    // The output follows the run like an operator socket's subscription does (live/follower.ts).
    const follower: Follower = new Follower(d.runs.followSource, id, after + 1, {
      deliver(chunks) {
        if (s.isClosed) return false;
        const ok = sendChunks(chunks);
        if (!ok) s.onDrain(() => follower.resume());
        return ok;
      },
      congested: () => false,
      caughtUp: () => maybeEnd(d.runs.summary(d.runs.mustGet(id))),
    }, BATCH);

    // The header is re-sent only when what it shows changes (not on every progress tick), so an
    // open "Cancel…" disclosure does not snap shut while output flows.
    const headerKey = (r: RunSummary) => JSON.stringify([r.status, r.runnerConnected, r.exitCode, r.signal, r.reason, r.startedAt, r.endedAt, r.runner?.hostname ?? null, r.claude ?? null, r.runnerLostAt ?? null]);
    let sentKey = '';
    const sendStatus = (r: RunSummary) => {
      const key = headerKey(r);
      if (key === sentKey) return;
      sentKey = key;
      s.send({ event: 'status', data: d.views.partial('run-status', statusData(d, r, principal, csrf)) });
    };
    let statusTimer: NodeJS.Timeout | null = null;
    const offRun = d.bus.on('run', (summary) => {
      if (summary.id !== id || s.isClosed) return;
      // Progress updates arrive up to once a second per run; coalesce them.
      statusTimer ??= setTimeout(() => {
        statusTimer = null;
        if (s.isClosed) return;
        const latest = d.runs.summary(d.runs.mustGet(id));
        sendStatus(latest);
        if (mustReload(latest)) {
          s.send({ event: 'reset', data: 'reload' });
          s.end();
          return;
        }
        for (const l of lives) l.onRun?.(latest);
        // A section whose offer changed (runner connected, run ended…) is sent again, whole.
        for (const sec of d.sections) {
          if (!sec.key) continue;
          const key = sec.key(latest, principal);
          if (key === sectionKeys.get(sec.id)) continue;
          sectionKeys.set(sec.id, key);
          const data = sec.data(ctxOf(latest, d.runs.committedSeq(id) + 1));
          s.send({ event: `${sec.id}-section`, data: data ? d.views.partial(`run/${sec.id}`, partialData(data, runView(latest, d.now()), csrf)) : '' });
        }
        if (follower.isLive) maybeEnd(latest);
      }, 200);
    });

    s.onClose(() => {
      follower.close();
      offRun();
      if (statusTimer) clearTimeout(statusTimer);
      for (const l of lives) l.close?.();
    });
    // The page may have been rendered a moment before a change: send the current header once.
    sendStatus(d.runs.summary(run));
    follower.pump();
    return { streamed: true };
  });

  /** `GET /runs/live`: the runs list, re-rendered at most once a second while runs change. */
  pageRoute(app, d, 'get', '/runs/live', { auth: 'user' }, (pc) => {
    const filter = parseFilter(pc.ctx.query);
    if (pc.ctx.aborted()) return { streamed: true };
    const s = openStream(pc, streams);
    let timer: NodeJS.Timeout | null = null;
    let lastSent = '';
    const send = () => {
      timer = null;
      if (s.isClosed) return;
      const body = d.views.partial('runs-list', { runs: listRuns(d, filter), filter });
      if (body === lastSent) return;
      lastSent = body;
      s.send({ event: 'runs', data: body });
    };
    const schedule = (ms: number) => {
      timer ??= setTimeout(send, ms);
    };
    const off = d.bus.on('run', () => schedule(1000));
    // Ages ("2 min ago") move on even when nothing happens.
    const tick = setInterval(() => schedule(0), 30_000);
    tick.unref();
    s.onClose(() => {
      off();
      clearInterval(tick);
      if (timer) clearTimeout(timer);
    });
    return { streamed: true };
  });

}

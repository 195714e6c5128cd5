import type { TemplatedApp } from 'uWebSockets.js';
import { isFinal, type RunSummary } from '../../../protocol/run.js';
import { OutputRenderer, WINDOW_BYTES, WINDOW_CHUNKS, runView } from '../../render/run-view.js';
import type { LiveChunk } from '../../live/bus.js';
import { Follower } from '../../live/follower.js';
import type { CredentialWatch } from '../../live/recheck.js';
import { SseStream, type SseEvent } from '../sse.js';
import { pageHeaders, pageRoute, runIdOf, type BrowserDeps, type PageCtx } from './browser.js';
import { partialData, type RunPageView, type SectionCtx, type SectionLive } from './run-sections.js';
import { eventWindowOf, readEventWindow } from './run/events.js';
import type { EventWindow } from './run-sections.js';
import { isClaudeRun } from './run/timeline.js';
import { listRuns, parseFilter, statusData } from './runs-pages.js';
import type { ConnectionLimiter } from '../../connection-limits.js';

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

  constructor(
    readonly watch: CredentialWatch,
    /** Connection caps: a live stream holds a connection as long as a WebSocket does. */
    readonly limiter: ConnectionLimiter | null = null,
  ) {}

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

/** An SSE response for a page: ended on logout, a changed role or an expired session. */
export function openStream(pc: PageCtx, streams: LiveStreams): SseStream {
  // Refused (503 ERR_TOO_MANY_CONNECTIONS) before anything is written: the page falls back to reloads.
  const release = streams.limiter?.acquire(pc.ctx.remote, 'other');
  const s = new SseStream(pc.ctx, { 'cache-control': 'no-store', 'content-security-policy': pageHeaders(pc)['content-security-policy']! });
  const hash = pc.session!.hash;
  const role = pc.principal?.role;
  streams.add(hash, s);
  // A stream shows what its role may see (approval buttons, links): when the session ends or the
  // user's role changes, it ends, and the page reconnects as who the user is now.
  const recheck = () => {
    let still;
    try {
      still = pc.d.sessions.resolve(pc.ctx.headers['cookie']);
    } catch {
      return s.end(); // this node cannot vouch for the session now (cut off from NATS)
    }
    if (!still || still.hash !== hash || still.record.stage !== 'full' || still.user.role !== role) s.end();
  };
  const off = streams.watch.add(() => {
    if (!s.isClosed) recheck();
  });
  s.onClose(off);
  if (release) s.onClose(release);
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
  pageRoute(app, d, 'get', '/runs/:id/live', { auth: 'user' }, async (pc) => {
    const id = runIdOf(pc);
    d.runs.mustGet(id);
    const q = new URLSearchParams(pc.ctx.query);
    const after = Math.max(parseSeq(q.get('after')) ?? 0, parseSeq(pc.ctx.headers['last-event-id']) ?? 0);
    const committedAtStart = await d.runs.latestSeq(id);
    if (pc.ctx.aborted()) return { streamed: true };
    const run = d.runs.mustGet(id);
    const s = openStream(pc, streams);
    const principal = pc.principal!;
    const csrf = pc.csrf;

    if (committedAtStart - after > MAX_REPLAY_CHUNKS) {
      s.send({ event: 'reset', data: 'reload' });
      s.end();
      return { streamed: true };
    }

    // `view=timeline`: the page shows Claude's timeline, not the raw output, which then is not sent
    // (events with only an id still move the resume point). A page that shows the raw view only
    // because the run had no runner yet reloads once the run turns out to be a Claude run.
    // `view=terminal` likewise: a pty run's screen comes from its own stream (run-term.ts).
    const view: RunPageView = q.get('view') === 'timeline' ? 'timeline' : q.get('view') === 'terminal' ? 'terminal' : 'raw';
    const rawChosen = q.get('view') === 'raw';
    const mustReload = (r: RunSummary) => view === 'raw' && !rawChosen && (isClaudeRun(r) || r.runner?.pty === true);
    if (mustReload(d.runs.summary(run))) {
      s.send({ event: 'reset', data: 'reload' });
      s.end();
      return { streamed: true };
    }
    const readWindow = async (before: number): Promise<EventWindow> =>
      view === 'timeline' ? readEventWindow(d.store, id, before) : eventWindowOf(await d.store.readChunksBefore(id, before, { limit: WINDOW_CHUNKS, maxBytes: WINDOW_BYTES }), before);
    const ctxOf = (r: RunSummary, w: EventWindow): SectionCtx => ({ run: r, viewer: principal, csrf, from: pc.ip, view, events: () => w });
    // Read before anything follows the run (the follower starts at after + 1 whatever happens meanwhile).
    const startWindow = await readWindow(after + 1);
    const renderer = view === 'raw' ? await OutputRenderer.at(d.store, id, after + 1) : null;
    if (s.isClosed) return { streamed: true };

    // Each section follows the run for this stream. Their events carry no id (ids are output
    // resume points) and go out before the output event of the same chunks: a reconnect may send
    // them twice, never lose them (the page merges them by element id).
    const sectionEvents: SseEvent[] = [];
    let flushing = false;
    const startCtx = ctxOf(d.runs.summary(d.runs.mustGet(id)), startWindow);
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
      // A section holding a change back keeps the resume point below it (only the timeline view
      // holds, and it sends no output: nothing is sent twice but what the page merges by id).
      let resumeAt = last;
      for (const l of lives) {
        const held = l.holding?.() ?? null;
        if (held !== null) resumeAt = Math.min(resumeAt, held - 1);
      }
      return s.send(htmlText ? { id: resumeAt, event: 'output', data: `<span data-seq="${first}">${htmlText}</span>` } : { id: resumeAt }) && ok;
    };

    const maybeEnd = (summary: RunSummary) => {
      if (ended || !isFinal(summary.status) || follower.nextSeq <= summary.lastSeq) return;
      ended = true;
      for (const l of lives) l.flush?.();
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
        const changed = d.sections.filter((sec) => {
          if (!sec.key) return false;
          const key = sec.key(latest, principal);
          if (key === sectionKeys.get(sec.id)) return false;
          sectionKeys.set(sec.id, key);
          return true;
        });
        // The end goes out after the sections it changed (the page closes its stream on it).
        const ended = () => {
          if (follower.isLive && !s.isClosed) maybeEnd(d.runs.summary(d.runs.mustGet(id)));
        };
        if (changed.length > 0) void resend(changed, latest).then(ended);
        else ended();
      }, 200);
    }, { run: id });

    // One window read for the sections sent again together; sent in their order.
    const resend = async (changed: typeof d.sections, latest: RunSummary) => {
      try {
        const c = ctxOf(latest, await readWindow(d.runs.committedSeq(id) + 1));
        const datas = await Promise.all(changed.map((sec) => sec.data(c)));
        if (s.isClosed) return;
        changed.forEach((sec, i) => {
          const data = datas[i];
          s.send({ event: `${sec.id}-section`, data: data ? d.views.partial(`run/${sec.id}`, partialData(data, runView(latest, d.now()), csrf)) : '' });
        });
      } catch (err) {
        d.log.warn('page.section_failed', { run: id, err: String(err).slice(0, 200) });
      }
    };

    s.onClose(() => {
      follower.close();
      offRun();
      if (statusTimer) clearTimeout(statusTimer);
      for (const l of lives) l.close?.();
    });
    // The page may have been rendered a moment before a change: send the current header once.
    sendStatus(d.runs.summary(d.runs.mustGet(id)));
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
      void listRuns(d, filter).then((runs) => {
        const body = d.views.partial('runs-list', { runs, filter });
        if (body === lastSent || s.isClosed) return;
        lastSent = body;
        s.send({ event: 'runs', data: body });
      }, (err: unknown) => d.log.warn('page.runs_list_failed', { err: String(err).slice(0, 200) }));
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

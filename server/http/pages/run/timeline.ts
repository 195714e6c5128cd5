import type { TemplatedApp } from 'uWebSockets.js';
import { STREAM_EVENT } from '../../../../protocol/frames.js';
import type { RunSummary } from '../../../../protocol/run.js';
import { Timeline, buildTimeline, type ApprovalState, type TimelineEntry, type TimelineOptions } from '../../../../protocol/timeline.js';
import { canOperate, type Principal } from '../../../auth/operator-auth.js';
import { runView } from '../../../render/run-view.js';
import { escapeHtml, html as markup, raw, type SafeHtml } from '../../../render/html.js';
import { renderTimelineHtml, type HtmlOptions } from '../../../render/timeline-html.js';
import { html, pageRoute, runIdOf, type BrowserDeps } from '../browser.js';
import type { RunPageView, RunSection, SectionCtx } from '../run-sections.js';
import { readEventWindow } from './events.js';
import { followLiveText } from './live-text.js';

/** Entries put on a page at once; older ones are a link away. */
const MAX_ENTRIES = 300;

/** A Claude run (stream-json mode) has a timeline; a plain command or a --pty run has only output. */
export function isClaudeRun(run: RunSummary): boolean {
  return run.runner?.mode === 'claude' && !run.runner.pty;
}

/**
 * The page's main view: a Claude run opens on its timeline, a `--pty` run on its terminal;
 * `?view=raw` shows either as raw output text. Other runs have only that.
 */
export function pageView(run: RunSummary, query: string): RunPageView {
  if (new URLSearchParams(query).get('view') === 'raw') return 'raw';
  return isClaudeRun(run) ? 'timeline' : run.runner?.pty ? 'terminal' : 'raw';
}

/**
 * In the timeline, a pending approval points at its card in the approvals section (where the
 * buttons are), so one question never has two sets of buttons on the page.
 */
function timelineOptions(d: BrowserDeps, runId: string, viewer: Principal, now: number): HtmlOptions {
  return {
    now,
    resultText: false,
    settled: (approvalId) => {
      const r = d.powers.approvals.get(runId, approvalId)?.resolution;
      return r ? { approvalId, decision: r.decision, always: r.always, message: r.message, by: r.by, reason: r.reason } : null;
    },
    approvalActions: (a: ApprovalState) =>
      canOperate(viewer)
        ? markup`<p class="tl-answer"><a class="button small primary" href="#approval-${escapeHtml(a.info.approvalId)}">Answer it above</a></p>`
        : raw('<p class="tl-answer">Waiting for an operator to answer.</p>'),
  };
}

/** A live timeline stream re-renders its changed entries at most this often (the first at once). */
const LIVE_FLUSH_MS = 100;

function entriesHtml(d: BrowserDeps, runId: string, entries: readonly TimelineEntry[], viewer: Principal, now: number): SafeHtml {
  return renderTimelineHtml(entries, timelineOptions(d, runId, viewer, now));
}

/** The page's timeline credits an operator with an approval only as the gateway's record does (a runner's word is not enough). */
function credited(d: BrowserDeps, runId: string): TimelineOptions {
  return { creditFor: (ev) => d.powers.approvals.creditFor(runId, ev) };
}

/**
 * The readable timeline of a Claude run (protocol/timeline.ts + render/timeline-html.ts): the
 * newest entries on the page, new ones and changed ones (a tool call gets its approval, then its
 * result) over the live stream as `timeline-entries`, merged into the list by element id.
 */
export function timelineSection(d: BrowserDeps): RunSection {
  return {
    id: 'timeline',
    data(c: SectionCtx) {
      if (c.view !== 'timeline') return null;
      const w = c.events();
      const entries = buildTimeline(w.items, credited(d, c.run.id));
      const shown = entries.slice(-MAX_ENTRIES);
      const earlierBefore = entries.length > shown.length ? shown[0]!.seq : w.firstSeq > 1 ? w.firstSeq : null;
      return {
        html: entriesHtml(d, c.run.id, shown, c.viewer, d.now()),
        count: shown.length,
        earlier: earlierBefore === null ? null : `/runs/${c.run.id}/timeline?before=${earlierBefore}`,
        rawHref: `/runs/${c.run.id}?view=raw`,
      };
    },
    live(c, send) {
      if (c.view !== 'timeline') return null;
      const tl = new Timeline(credited(d, c.run.id));
      for (const item of c.events().items) tl.add(item);
      // The reply Claude is writing, as one growing entry (live-text.ts); never stored.
      const stopLive = followLiveText(d, c, send);
      // Changed entries go out at once, then at most every LIVE_FLUSH_MS: a busy subagent changes
      // its top-level entry with every step, and a runner could send thousands a second.
      const changed = new Map<string, TimelineEntry>();
      let timer: NodeJS.Timeout | null = null;
      let sentAt = Number.NEGATIVE_INFINITY;
      /** The first chunk whose changes wait (the stream's resume point stays below it). */
      let heldFrom: number | null = null;
      const flush = () => {
        timer = null;
        heldFrom = null;
        if (changed.size === 0) return;
        const entries = [...changed.values()];
        changed.clear();
        send({ event: 'timeline-entries', data: entriesHtml(d, c.run.id, entries, c.viewer, d.now()) });
        // From the end of the render: a render slower than the interval is not followed at once by another.
        sentAt = performance.now();
      };
      return {
        flush() {
          if (timer) clearTimeout(timer);
          flush();
        },
        close() {
          stopLive();
          if (timer) clearTimeout(timer);
        },
        holding: () => heldFrom,
        onChunk(chunk) {
          if (chunk.stream !== STREAM_EVENT) return;
          for (const item of chunk.items) for (const e of tl.add(item)) changed.set(e.id, e);
          if (changed.size === 0) return;
          heldFrom ??= chunk.seq;
          if (timer) return;
          const wait = sentAt + LIVE_FLUSH_MS - performance.now();
          if (wait <= 0) flush();
          else timer = setTimeout(flush, wait);
        },
      };
    },
  };
}

/** `/runs/:id/timeline?before=N`: an earlier window of the timeline, as a page of its own (no live updates). */
export function mountTimelinePages(app: TemplatedApp, d: BrowserDeps): void {
  pageRoute(app, d, 'get', '/runs/:id/timeline', { auth: 'user' }, async (pc) => {
    const id = runIdOf(pc);
    d.runs.mustGet(id);
    const committed = await d.runs.latestSeq(id);
    const run = d.runs.summary(d.runs.mustGet(id));
    const raw = new URLSearchParams(pc.ctx.query).get('before') ?? '';
    const before = /^[1-9]\d{0,15}$/.test(raw) ? Math.min(Number(raw), committed + 1) : committed + 1;
    const w = await readEventWindow(d.store, id, before);
    const entries = buildTimeline(w.items, credited(d, id));
    const shown = entries.slice(-MAX_ENTRIES);
    const earlierBefore = entries.length > shown.length ? shown[0]!.seq : w.firstSeq > 1 ? w.firstSeq : null;
    return html(pc, 200, 'run-timeline', `${run.name}: timeline`, {
      run: runView(run, d.now()),
      html: entriesHtml(d, id, shown, pc.principal!, d.now()),
      count: shown.length,
      earlier: earlierBefore === null ? null : `/runs/${id}/timeline?before=${earlierBefore}`,
    }, { nav: 'runs' });
  });
}

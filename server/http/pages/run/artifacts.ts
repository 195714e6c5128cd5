import { closeSync, openSync, readSync } from 'node:fs';
import type { TemplatedApp } from 'uWebSockets.js';
import { isArtifactName, type ArtifactInfo } from '../../../../protocol/artifacts.js';
import { CcgError } from '../../../../protocol/errors.js';
import { STREAM_EVENT } from '../../../../protocol/frames.js';
import { isFinal, type RunSummary } from '../../../../protocol/run.js';
import type { TimelineItem } from '../../../../protocol/timeline.js';
import { canOperate, type Principal } from '../../../auth/operator-auth.js';
import { renderDiffHtml } from '../../../render/diff-html.js';
import { ago, bytesText, runView } from '../../../render/run-view.js';
import { AnsiHtml } from '../../../render/ansi.js';
import { sendArtifact } from '../../send-file.js';
import type { ViewData } from '../../views.js';
import { fragment, html, pageRoute, redirect, runIdOf, type BrowserDeps, type PageCtx } from '../browser.js';
import type { RunSection } from '../run-sections.js';

/** Artifact kinds the page can show (rendered), besides downloading them. */
const VIEWABLE = new Set(['diff', 'diff-staged', 'untracked', 'log']);
/** At most this much of an artifact is read to show it; the rest is a download away. */
const VIEW_BYTES = 1024 * 1024;

const KIND_LABEL: Record<string, string> = { log: 'log', diff: 'diff', 'diff-staged': 'staged diff', untracked: 'untracked files', file: 'file' };

/** The URL path segment of an artifact name (`/` inside a name travels as %2F). */
const seg = (name: string) => encodeURIComponent(name);

export function artifactView(runId: string, a: ArtifactInfo, now: number) {
  return {
    name: a.name,
    kind: KIND_LABEL[a.kind] ?? a.kind,
    size: bytesText(a.bytes),
    truncated: a.truncated,
    at: new Date(a.uploadedAt).toISOString().replace(/\.\d+Z$/, 'Z'),
    ago: ago(a.uploadedAt, now),
    download: `/runs/${runId}/artifacts/${seg(a.name)}`,
    view: VIEWABLE.has(a.kind) ? `/runs/${runId}/view/${seg(a.name)}` : null,
    viewLabel: a.kind === 'diff' || a.kind === 'diff-staged' ? 'View diff' : a.kind === 'untracked' ? 'View list' : 'View',
  };
}

/** What the last collection is doing, from the runner's collect events. */
function collectNote(items: Iterable<TimelineItem>, prev: string | null = null): string | null {
  let note = prev;
  for (const { event: ev } of items) {
    if (ev.type === 'collect_started') note = ev.trigger === 'exit' ? 'Collecting at exit…' : 'Collecting…';
    else if (ev.type === 'collect_done') {
      note = ev.error
        ? `Collection failed: ${ev.error}`
        : `Collected ${ev.uploaded.length} artifact${ev.uploaded.length === 1 ? '' : 's'}${ev.skipped.length ? `; skipped ${ev.skipped.map((s) => `${s.name} (${s.reason})`).join(', ')}` : ''}.`;
    }
  }
  return note;
}

function listData(d: BrowserDeps, runId: string) {
  const now = d.now();
  return { runId, artifacts: d.powers.artifacts.list(runId).map((a) => artifactView(runId, a, now)) };
}

function artifactsData(d: BrowserDeps, run: RunSummary, viewer: Principal, items: TimelineItem[] | null, extra: { problem?: string | null } = {}): Record<string, unknown> | null {
  const list = listData(d, run.id);
  if (!run.runner && list.artifacts.length === 0) return null;
  return {
    ...list,
    canCollect: canOperate(viewer) && !isFinal(run.status) && run.runnerConnected,
    note: items ? collectNote(items) : null,
    problem: null,
    ...extra,
  };
}

/**
 * Artifacts of the run: name, kind, size, time; download (an attachment, authorised and
 * audited like the API's), and a readable view of diffs, the untracked list and the log. A
 * Collect button asks the runner to collect now. Live: `artifacts-list` when the list changes,
 * `artifacts-note` with the collection's progress.
 */
export function artifactsSection(d: BrowserDeps): RunSection {
  return {
    id: 'artifacts',
    data: (c) => artifactsData(d, c.run, c.viewer, c.events().items),
    key: (run, viewer) => JSON.stringify([Boolean(run.runner), canOperate(viewer) && !isFinal(run.status) && run.runnerConnected]),
    live(c, send) {
      const off = d.bus.on('artifacts', ({ runId }) => {
        if (runId === c.run.id) send({ event: 'artifacts-list', data: d.views.partial('run/artifacts-list', listData(d, runId)) });
      }, { run: c.run.id });
      let note: string | null = null;
      return {
        onChunk(chunk) {
          if (chunk.stream !== STREAM_EVENT) return;
          const next = collectNote(chunk.items, note);
          if (next !== note && next) {
            note = next;
            send({ event: 'artifacts-note', data: d.views.partial('run/artifacts-note', { note }) });
          }
        },
        close: off,
      };
    },
  };
}

/** The first VIEW_BYTES of a stored blob, as text. */
function readHead(path: string, size: number): { text: string; cut: boolean } {
  const n = Math.min(size, VIEW_BYTES);
  const buf = Buffer.alloc(n);
  const fd = openSync(path, 'r');
  try {
    let off = 0;
    while (off < n) {
      const got = readSync(fd, buf, off, n - off, off);
      if (got === 0) break;
      off += got;
    }
    return { text: buf.subarray(0, off).toString('utf8'), cut: size > n };
  } finally {
    closeSync(fd);
  }
}

const COLLECT_REFUSALS = ['ERR_RUNNER_AWAY', 'ERR_RUN_FINISHED'];

/**
 * `GET /runs/:id/artifacts/:name` (download), `GET /runs/:id/view/:name` (a diff rendered, a list,
 * a log), `POST /runs/:id/collect` (operators and admins).
 */
export function mountArtifactPages(app: TemplatedApp, d: BrowserDeps): void {
  pageRoute(app, d, 'get', '/runs/:id/artifacts/:name', { auth: 'user' }, (pc) => {
    const id = runIdOf(pc);
    // Same as the API: a 404 for unknown names, an attachment that no browser renders, audited.
    return d.powers.requests.openArtifact({ principal: pc.principal!, from: pc.ip }, id, pc.ctx.params[1] ?? '', 'download').then((opened) => sendArtifact(pc.ctx, opened));
  });

  pageRoute(app, d, 'get', '/runs/:id/view/:name', { auth: 'user' }, async (pc) => {
    const id = runIdOf(pc);
    const run = d.runs.summary(d.runs.mustGet(id));
    const name = pc.ctx.params[1] ?? '';
    if (!isArtifactName(name) || !d.powers.artifacts.get(id, name)) throw new CcgError('ERR_NOT_FOUND', 'This run has no artifact by that name.');
    const { info, path } = await d.powers.requests.openArtifact({ principal: pc.principal!, from: pc.ip }, id, name, 'view', (i) => {
      if (!VIEWABLE.has(i.kind)) throw new CcgError('ERR_NOT_FOUND', 'This artifact can only be downloaded.');
    });
    const { text, cut } = readHead(path, info.bytes);
    const view = artifactView(id, info, d.now());
    let body: ViewData;
    if (info.kind === 'diff' || info.kind === 'diff-staged') {
      const diff = renderDiffHtml(text);
      body = { mode: 'diff', html: diff.html, files: diff.files, empty: text.trim() === '', cut: cut || diff.truncated || info.truncated };
    } else if (info.kind === 'untracked') {
      const paths = text.split('\n').filter(Boolean);
      body = { mode: 'list', paths: paths.slice(0, 5000), empty: paths.length === 0, cut: cut || paths.length > 5000 || info.truncated };
    } else {
      body = { mode: 'log', html: new AnsiHtml().render(Buffer.from(text)), empty: text === '', cut: cut || info.truncated };
    }
    return html(pc, 200, 'artifact-view', info.name, { run: runView(run, d.now()), artifact: view, ...body }, { nav: 'runs' });
  });

  pageRoute(app, d, 'post', '/runs/:id/collect', { auth: 'user', role: 'operator' }, async (pc: PageCtx) => {
    const id = runIdOf(pc);
    let problem: string | null = null;
    try {
      await d.powers.requests.collect({ principal: pc.principal!, from: pc.ip, via: 'page' }, id);
    } catch (err) {
      if (!(err instanceof CcgError) || !COLLECT_REFUSALS.includes(err.code) || !pc.htmx) throw err;
      problem = err.message.charAt(0).toUpperCase() + err.message.slice(1) + '.';
    }
    if (!pc.htmx) return redirect(pc, `/runs/${id}?notice=collect-sent#run-artifacts`);
    return fragment(pc, 200, 'run/artifacts-note', { note: problem ? null : 'Asked the runner to collect…', problem });
  });
}

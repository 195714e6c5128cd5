import type { TemplatedApp } from 'uWebSockets.js';
import { BudgetUsd } from '../../../protocol/claude-run-state.js';
import { RunName, RUN_STATUSES, isFinal, type RunStatus, type RunSummary } from '../../../protocol/run.js';
import { CcgError } from '../../../protocol/errors.js';
import { canOperate, type Principal } from '../../auth/operator-auth.js';
import { qrDataUrl } from '../../render/qr.js';
import { lastLine, outputWindow, runView, WINDOW_BYTES, WINDOW_CHUNKS, type RunView } from '../../render/run-view.js';
import { runnerCommand, type RunnerStart } from '../../core/requests.js';
import { safeEqual } from '../../auth/sessions.js';
import type { RunRecord } from '../../store/types.js';
import { fragment, html, pageRoute, redirect, runIdOf, type BrowserDeps, type PageCtx } from './browser.js';
import { notice } from './notices.js';
import { OnceForms } from './once-forms.js';
import { sectionsFor, type SectionCtx } from './run-sections.js';
import { eventWindowOf, readEventWindow } from './run/events.js';
import { isClaudeRun, pageView } from './run/timeline.js';

/** The filters of the runs list: every status, plus "active" and "away". */
export const RUN_FILTERS = ['all', 'active', 'away', ...RUN_STATUSES] as const;
export type RunFilter = (typeof RUN_FILTERS)[number];

export function parseFilter(query: string): RunFilter {
  const v = new URLSearchParams(query).get('status') ?? 'all';
  return (RUN_FILTERS as readonly string[]).includes(v) ? (v as RunFilter) : 'all';
}

const LIST_LIMIT = 50;
const PROMPT_MAX = 4000;
const COMMAND_MAX = 1000;

/** The "Run created" form: start Claude Code with a prompt, or a command. */
interface StartPick {
  mode: 'prompt' | 'command';
  prompt: string;
  command: string;
}

async function createdData(d: BrowserDeps, pc: PageCtx, run: RunRecord, token: string, pick: StartPick): Promise<Record<string, unknown>> {
  const start: RunnerStart = pick.mode === 'command' ? { command: pick.command } : { prompt: pick.prompt };
  const command = runnerCommand({ url: d.runnerUrl(pc.ctx.headers['host']), runId: run.id, token, fingerprint: d.fingerprint, start });
  return { run: runView(d.runs.summary(run), d.now()), token, command, qr: await qrDataUrl(command), pick, promptMax: PROMPT_MAX, commandMax: COMMAND_MAX };
}

export async function listRuns(d: BrowserDeps, filter: RunFilter): Promise<(RunView & { lastLine: string })[]> {
  let runs: RunSummary[];
  if (filter === 'all' || filter === 'active' || filter === 'away') {
    runs = d.runs.list({ limit: filter === 'all' ? LIST_LIMIT : 500 });
    if (filter === 'active') runs = runs.filter((r) => !isFinal(r.status));
    if (filter === 'away') runs = runs.filter((r) => !isFinal(r.status) && r.status !== 'created' && !r.runnerConnected);
    runs = runs.slice(0, LIST_LIMIT);
  } else {
    runs = d.runs.list({ limit: LIST_LIMIT, status: filter as RunStatus });
  }
  const now = d.now();
  return Promise.all(runs.map(async (r) => ({ ...runView(r, now), lastLine: await lastLine(d.store, r) })));
}

/** The data of the run header partial (status, times, actions): also sent live over SSE. */
export function statusData(d: BrowserDeps, run: RunSummary, principal: Principal, csrf: string): Record<string, unknown> {
  return { run: runView(run, d.now()), canCancel: canOperate(principal) && !isFinal(run.status), csrf };
}

/** What the terminal view (views/partials/run-terminal.eta, views/static/terminal.js) needs. */
function terminalData(run: RunSummary, pc: PageCtx): Record<string, unknown> {
  const operator = canOperate(pc.principal!) && !isFinal(run.status) && run.runner?.remote?.input !== false;
  return { runId: run.id, user: pc.principal!.name, canType: operator, finished: isFinal(run.status) };
}

export function mountRunsPages(app: TemplatedApp, d: BrowserDeps): void {
  // A double tap on Create run made two runs (and showed the second's token): each form makes one.
  const creates = new OnceForms<{ run: RunRecord; token: string }>(d.now);
  pageRoute(app, d, 'get', '/runs', { auth: 'user' }, async (pc) => {
    const filter = parseFilter(pc.ctx.query);
    const runs = await listRuns(d, filter);
    if (pc.htmx) return fragment(pc, 200, 'runs-list', { runs, filter });
    return html(pc, 200, 'runs', 'Runs', { runs, filter, filters: RUN_FILTERS}, { nav: 'runs', notice: notice(pc.ctx.query) });
  });

  pageRoute(app, d, 'get', '/runs/new', { auth: 'user', role: 'operator' }, (pc) => html(pc, 200, 'run-new', 'New run', { error: null, name: '', once: creates.issue() }, { nav: 'new' }));

  pageRoute(app, d, 'post', '/runs/new', { auth: 'user', role: 'operator' }, async (pc) => {
    const f = await pc.form();
    const rawName = (f.get('name') ?? '').trim();
    let name: string | undefined;
    if (rawName) {
      const parsed = RunName.safeParse(rawName);
      if (!parsed.success) return html(pc, 400, 'run-new', 'New run', { error: parsed.error.issues[0]?.message ?? 'bad name', name: rawName.slice(0, 200), budget: '', once: creates.issue() }, { nav: 'new' });
      name = parsed.data;
    }
    const rawBudget = (f.get('budget') ?? '').trim().replace(/^\$/, '');
    let maxBudgetUsd: number | undefined;
    if (rawBudget) {
      const parsed = BudgetUsd.safeParse(/^\d{1,6}(\.\d{1,6})?$/.test(rawBudget) ? Number(rawBudget) : NaN);
      if (!parsed.success) return html(pc, 400, 'run-new', 'New run', { error: 'The spending limit is an amount of US dollars, like 2.50', name: rawName.slice(0, 200), budget: rawBudget.slice(0, 20), once: creates.issue() }, { nav: 'new' });
      maxBudgetUsd = parsed.data;
    }
    const { run, token } = await creates.run(pc.session!.hash, f.get('_once'), `new\0${rawName}\0${rawBudget}`, () => d.powers.requests.createRun({ principal: pc.principal!, from: pc.ip, via: 'page' }, name, { maxBudgetUsd }));
    // The token is on this response only, never cached; shown again only to a repeat of this very
    // form (same session and fields, within 2 minutes: a double tap's second post, see OnceForms).
    return html(pc, 201, 'run-created', 'Run created', await createdData(d, pc, run, token, { mode: 'prompt', prompt: '', command: '' }), { nav: 'new' });
  });

  // The "Run created" page's choice, prompt or command: the printed command again (the fragment
  // for htmx as the person types, the whole page without JavaScript). The form carries the token
  // back, as the page already holds it; the gateway never shows a token it was not given here.
  pageRoute(app, d, 'post', '/runs/:id/runner-command', { auth: 'user', role: 'operator' }, async (pc) => {
    const id = runIdOf(pc);
    const run = d.runs.mustGet(id);
    const f = await pc.form();
    const token = f.get('token') ?? '';
    const known = d.runs.tokenOf(run);
    if (!known || !safeEqual(token, known)) throw new CcgError('ERR_FORBIDDEN', 'that is not this run\'s token');
    const pick: StartPick = {
      mode: f.get('start') === 'command' ? 'command' : 'prompt',
      prompt: (f.get('prompt') ?? '').slice(0, PROMPT_MAX),
      command: (f.get('command') ?? '').slice(0, COMMAND_MAX),
    };
    const data = await createdData(d, pc, run, token, pick);
    if (pc.htmx) return fragment(pc, 200, 'runner-command', data);
    return html(pc, 200, 'run-created', 'Run created', data, { nav: 'new' });
  });

  pageRoute(app, d, 'get', '/runs/:id', { auth: 'user' }, async (pc) => {
    const id = runIdOf(pc);
    d.runs.mustGet(id);
    const committed = await d.runs.latestSeq(id);
    const summary = d.runs.summary(d.runs.mustGet(id));
    const query = new URLSearchParams(pc.ctx.query);
    const beforeRaw = query.get('before');
    // `?before=N`: an earlier window of the output, without live updates (the no-JavaScript way to page back).
    const before = beforeRaw && /^[1-9]\d{0,15}$/.test(beforeRaw) ? Math.min(Number(beforeRaw), committed + 1) : committed + 1;
    const paged = before <= committed;
    // A Claude run opens on its timeline; "Raw output" (`?view=raw`) is the terminal view of the same stream.
    const view = paged ? 'raw' : pageView(summary, pc.ctx.query);
    const output = view === 'raw' ? await outputWindow(d.store, id, before) : null;
    // The raw view already read a window of every stream: the sections reuse it. The terminal
    // view reads as small a window (its screen comes from a snapshot, not from this).
    const events = paged ? null
      : output ? eventWindowOf(output.chunks, before)
      : view === 'terminal' ? eventWindowOf(await d.store.readChunksBefore(id, before, { limit: WINDOW_CHUNKS, maxBytes: WINDOW_BYTES }), before)
      : await readEventWindow(d.store, id, before);
    const ctx: SectionCtx = {
      run: summary,
      viewer: pc.principal!,
      csrf: pc.csrf,
      from: pc.ip,
      view,
      events: () => events ?? eventWindowOf([], before),
    };
    const sections = paged ? { above: [], below: [] } : await sectionsFor(ctx, d.sections);
    const lastSeq = output ? output.lastSeq : committed;
    const live = !paged && !(isFinal(summary.status) && lastSeq >= summary.lastSeq);
    const liveView = view === 'timeline' ? '&view=timeline' : view === 'terminal' ? '&view=terminal' : query.get('view') === 'raw' ? '&view=raw' : '';
    const main = isClaudeRun(summary) ? { label: 'Timeline', view: 'timeline' } : summary.runner?.pty ? { label: 'Terminal', view: 'terminal' } : null;
    return html(pc, 200, 'run', summary.name, {
      run: runView(summary, d.now()),
      status: statusData(d, summary, pc.principal!, pc.csrf),
      output,
      view,
      tabs: main && !paged ? [{ label: main.label, href: `/runs/${id}`, current: view === main.view }, { label: 'Raw output', href: `/runs/${id}?view=raw`, current: view === 'raw' }] : null,
      terminal: view === 'terminal' ? terminalData(summary, pc) : null,
      paged,
      lastSeq,
      liveUrl: live ? `/runs/${id}/live?after=${lastSeq}${liveView}` : null,
      sections,
    }, { nav: 'runs', notice: notice(pc.ctx.query), ...(view === 'terminal' ? { scripts: ['xterm.js', 'terminal.js'], styles: ['xterm.css'] } : {}) });
  });

  // Older output, paged in on demand: a fragment for htmx, the paged page otherwise.
  pageRoute(app, d, 'get', '/runs/:id/output', { auth: 'user' }, async (pc) => {
    const id = runIdOf(pc);
    d.runs.mustGet(id);
    const beforeRaw = new URLSearchParams(pc.ctx.query).get('before') ?? '';
    if (!/^[1-9]\d{0,15}$/.test(beforeRaw)) throw new CcgError('ERR_BAD_REQUEST', 'before must be a positive number');
    if (!pc.htmx) return redirect(pc, `/runs/${id}?before=${beforeRaw}`);
    const output = await outputWindow(d.store, id, Math.min(Number(beforeRaw), (await d.runs.latestSeq(id)) + 1));
    return fragment(pc, 200, 'run-earlier', { runId: id, output });
  });

  pageRoute(app, d, 'post', '/runs/:id/cancel', { auth: 'user', role: 'operator' }, async (pc) => {
    const id = runIdOf(pc);
    await d.powers.requests.cancelRun({ principal: pc.principal!, from: pc.ip, via: 'page' }, id);
    return redirect(pc, `/runs/${id}?notice=run-cancelled`);
  });

  pageRoute(app, d, 'post', '/runs/:id/revoke', { auth: 'user', role: 'operator' }, async (pc) => {
    const id = runIdOf(pc);
    await d.powers.requests.revokeRun({ principal: pc.principal!, from: pc.ip, via: 'page' }, id);
    return redirect(pc, `/runs/${id}?notice=run-revoked`);
  });
}

import type { TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../../../../protocol/errors.js';
import { STREAM_COMMAND, STREAM_EVENT } from '../../../../protocol/frames.js';
import { isFinal, type AdvertisedCommand, type RunSummary } from '../../../../protocol/run.js';
import { fmtDuration, type TimelineItem } from '../../../../protocol/timeline.js';
import type { Principal } from '../../../auth/operator-auth.js';
import { AnsiHtml } from '../../../render/ansi.js';
import { describePattern } from '../../../render/pattern-words.js';
import { escapeHtml, html, joinHtml, raw, type SafeHtml } from '../../../render/html.js';
import type { LiveChunk } from '../../../live/bus.js';
import type { StoredChunk } from '../../../store/types.js';
import { fragment, pageRoute, redirect, runIdOf, type BrowserDeps, type PageCtx } from '../browser.js';
import type { EventWindow, RunSection } from '../run-sections.js';

/** Command runs kept on a page (the newest). */
export const CMD_RUNS_SHOWN = 3;

/** One request to run a command, as the page shows it: a heading that changes, output that grows. */
interface CmdRun {
  requestId: string;
  name: string;
  params: Record<string, string>;
  state: 'running' | 'done' | 'refused';
  /** The heading's text: what ran and how it ended. */
  head: string;
  /** How it ended, for colour: ok, bad, or null while running. */
  tone: 'ok' | 'bad' | null;
  html: SafeHtml;
  lastSeq: number;
  ansi: AnsiHtml;
}

function label(name: string, params: Record<string, string>): string {
  const p = Object.entries(params).map(([k, v]) => `${k}=${v}`).join(' ');
  return p ? `${name} ${p}` : name;
}

/** DOM ids from request ids (base64url, checked: anything else would not be a safe id). */
function domId(requestId: string): string {
  return /^[A-Za-z0-9_-]{1,64}$/.test(requestId) ? requestId : 'x';
}

/**
 * The command runs of a run, built from its runner events (exec_started / exec_refused /
 * exec_exit) and the command output (stream 2) between them. The runner runs one command at a
 * time, so output belongs to the command started last.
 */
export class CommandRuns {
  readonly runs = new Map<string, CmdRun>();
  private current: CmdRun | null = null;

  /** An event; returns the run it changed (null: not a command event). */
  event(item: TimelineItem): { run: CmdRun; created: boolean } | null {
    const ev = item.event;
    if (ev.type !== 'exec_started' && ev.type !== 'exec_refused' && ev.type !== 'exec_exit') return null;
    let run = this.runs.get(ev.requestId);
    const created = !run;
    if (!run) {
      run = { requestId: ev.requestId, name: ev.name, params: ev.type === 'exec_started' ? ev.params : {}, state: 'running', head: '', tone: null, html: raw(''), lastSeq: item.seq, ansi: new AnsiHtml() };
      this.runs.set(ev.requestId, run);
      if (this.runs.size > CMD_RUNS_SHOWN * 4) this.runs.delete(this.runs.keys().next().value!);
    }
    const what = label(run.name, run.params);
    if (ev.type === 'exec_started') {
      run.head = `${what}: running…`;
      this.current = run;
    } else if (ev.type === 'exec_refused') {
      run.state = 'refused';
      run.tone = 'bad';
      run.head = `${what}: refused by the runner: ${ev.reason}`;
      if (this.current === run) this.current = null;
    } else {
      run.state = 'done';
      const how = ev.timedOut ? 'timed out' : ev.signal ? `ended by ${ev.signal}` : `exited ${ev.code ?? '?'}`;
      run.tone = ev.code === 0 && !ev.timedOut && !ev.signal ? 'ok' : 'bad';
      run.head = `${what}: ${how} after ${fmtDuration(ev.durationMs)}${ev.truncated ? ' (output cut at its limit)' : ''}`;
      if (this.current === run) this.current = null;
    }
    return { run, created };
  }

  /** Command output; returns the run it belongs to and its HTML (null: no command is known to be running). */
  output(chunk: StoredChunk): { run: CmdRun; html: SafeHtml } | null {
    const run = this.current;
    if (!run) return null;
    const html = run.ansi.render(chunk.data);
    run.html = joinHtml([run.html, html]);
    run.lastSeq = chunk.seq;
    return { run, html };
  }

  /** Both, in seq order, from a window of the run. */
  static of(w: EventWindow): CommandRuns {
    const runs = new CommandRuns();
    const items = [...w.items];
    let i = 0;
    for (const c of w.commandChunks) {
      while (i < items.length && items[i]!.seq < c.seq) runs.event(items[i++]!);
      runs.output(c);
    }
    while (i < items.length) runs.event(items[i++]!);
    return runs;
  }

  /** The newest few, oldest first. */
  shown(): CmdRun[] {
    return [...this.runs.values()].slice(-CMD_RUNS_SHOWN);
  }
}

/** The heading of a command run: replaced whenever the run changes. */
export function headHtml(r: CmdRun): SafeHtml {
  const id = raw(domId(r.requestId));
  const badge = raw(r.state === 'running' ? 'running' : r.state === 'refused' ? 'refused' : r.tone === 'ok' ? 'ok' : 'failed');
  return html`<p class="cmd-head cmd-${badge}" id="cmd-${id}-head"><span class="badge tone-${raw(r.state === 'running' ? 'live' : r.tone === 'ok' ? 'ok' : 'bad')}">${badge}</span> ${escapeHtml(r.head)}</p>`;
}

/** A whole command run; `data-keep`: a live update never replaces it (that would lose its output), only its heading. */
export function runHtml(r: CmdRun): SafeHtml {
  const id = raw(domId(r.requestId));
  const out = r.state === 'refused' && !r.html ? null : html`<pre class="term cmd-out" id="cmd-${id}-out" tabindex="0" aria-label="Output of ${escapeHtml(r.name)}" data-last="${r.lastSeq}">${r.html}</pre>`;
  return html`<article class="cmd-run" id="cmd-${id}" data-keep>${headHtml(r)}${out}</article>`;
}

interface CommandView {
  name: string;
  description: string | null;
  params: { name: string; pattern: string; words: string | null; id: string }[];
  mayRun: boolean;
}

// No HTML `pattern` attribute: the browser would refuse a value with its own generic bubble
// ("Match the requested format") before the runner could say what is wrong. The page describes
// the pattern in words and the runner's refusal ("who: "Bob" does not match …") is shown instead.
function commandViews(d: BrowserDeps, run: RunSummary, viewer: Principal): CommandView[] {
  return (run.runner?.commands ?? []).map((c: AdvertisedCommand) => ({
    name: c.name,
    description: c.description ?? null,
    params: c.params.map((p) => ({ name: p.name, pattern: p.pattern, words: describePattern(p.pattern), id: `p-${c.name}-${p.name}` })),
    mayRun: d.powers.requests.mayRun(viewer, c.name),
  }));
}

function commandsData(d: BrowserDeps, run: RunSummary, viewer: Principal, w: EventWindow | null, extra: { sent?: string | null; problem?: string | null } = {}): Record<string, unknown> | null {
  if (!run.runner || run.runner.commands.length === 0) return null;
  const commands = commandViews(d, run, viewer);
  const open = !isFinal(run.status) && run.runnerConnected;
  return {
    runId: run.id,
    commands,
    open,
    anyAllowed: commands.some((c) => c.mayRun),
    runsHtml: w ? joinHtml(CommandRuns.of(w).shown().reverse().map(runHtml), raw('\n')) : null,
    sent: null,
    problem: null,
    ...extra,
  };
}

/**
 * The runner's allowlisted commands as buttons (the ones the command policy lets this viewer's
 * role run), parameter fields with the runner's patterns, and the output of the last few runs as
 * it streams (stream 2), with how each ended. Live: `commands-runs` (runs and headings, merged by
 * id) and `commands-output` (output, appended once by seq).
 */
export function commandsSection(d: BrowserDeps): RunSection {
  return {
    id: 'commands',
    data: (c) => commandsData(d, c.run, c.viewer, c.events()),
    key: (run, viewer) => JSON.stringify([!isFinal(run.status) && run.runnerConnected, commandViews(d, run, viewer)]),
    live(c, send) {
      if (!c.run.runner || c.run.runner.commands.length === 0) {
        // The runner may not have connected yet: follow from here (the section appears by `key`).
        return liveRuns(new CommandRuns(), send);
      }
      return liveRuns(CommandRuns.of(c.events()), send);
    },
  };
}

function liveRuns(runs: CommandRuns, send: (ev: { event: string; data: string }) => void) {
  return {
    onChunk(chunk: LiveChunk) {
      if (chunk.stream === STREAM_EVENT) {
        const parts: string[] = [];
        for (const item of chunk.items) {
          const got = runs.event(item);
          if (got) parts.push(got.created ? runHtml(got.run) : headHtml(got.run));
        }
        if (parts.length) send({ event: 'commands-runs', data: parts.join('\n') });
      } else if (chunk.stream === STREAM_COMMAND) {
        const got = runs.output(chunk);
        if (got && got.html) send({ event: 'commands-output', data: `<span data-seq="${chunk.seq}" data-into="cmd-${domId(got.run.requestId)}-out">${got.html}</span>` });
      }
    },
  };
}

const REFUSALS = ['ERR_FORBIDDEN', 'ERR_RUNNER_AWAY', 'ERR_RUN_FINISHED', 'ERR_NOT_FOUND', 'ERR_BAD_REQUEST'];

/**
 * `POST /runs/:id/exec`: name, and `p.NAME` per parameter. Checked against the command policy
 * (Requests.exec, as the API does); the runner checks the allowlist and the patterns and answers in
 * the event stream.
 */
export function mountCommandActions(app: TemplatedApp, d: BrowserDeps): void {
  pageRoute(app, d, 'post', '/runs/:id/exec', { auth: 'user' }, async (pc: PageCtx) => {
    const id = runIdOf(pc);
    const f = await pc.form();
    const name = f.get('name') ?? '';
    const params: Record<string, string> = {};
    for (const [k, v] of f) {
      if (!k.startsWith('p.')) continue;
      const pname = k.slice(2);
      if (!/^[a-z][a-z0-9_]{0,31}$/.test(pname) || v.length > 1024 || Object.hasOwn(params, pname)) throw new CcgError('ERR_BAD_REQUEST', 'malformed parameter');
      params[pname] = v;
    }
    let sent: string | null = null;
    let problem: string | null = null;
    try {
      await d.powers.requests.exec({ principal: pc.principal!, from: pc.ip, via: 'page' }, id, { name, params });
      sent = label(name, params);
    } catch (err) {
      if (!(err instanceof CcgError) || !REFUSALS.includes(err.code) || !pc.htmx) throw err;
      problem = err.message.charAt(0).toUpperCase() + err.message.slice(1) + '.';
    }
    if (!pc.htmx) return redirect(pc, `/runs/${id}?notice=command-sent#run-commands`);
    const run = d.runs.summary(d.runs.mustGet(id));
    return fragment(pc, 200, 'run/command-message', { ...(commandsData(d, run, pc.principal!, null) ?? {}), sent, problem });
  });
}

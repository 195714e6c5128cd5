import { MAX_DIFF } from '../../protocol/claude-steer.js';
import type { ClaudeResult } from '../../protocol/claude-events.js';
import { visibleText } from '../../protocol/terminal-escapes.js';
import { fmtDuration, toolSummary, type ApprovalState, type TimelineEntry } from '../../protocol/timeline.js';
import { renderDiffHtml } from './diff-html.js';
import { money, resultHeadline, type AgentGroup } from '../../protocol/timeline-narrative.js';
import { escapeHtml, html, joinHtml, raw, type SafeHtml } from './html.js';
import { renderMarkdown } from './markdown.js';

export { renderMarkdown };

/**
 * The timeline as HTML fragments for the phone pages. Pure: entries in, a string out; the page
 * decides where it goes (each entry is one `<article id="tl-<id>">`, so an htmx swap can
 * replace an entry when its approval or result arrives).
 *
 * Everything in an entry came from the model, a tool or a file, and is hostile:
 * - every text is HTML-escaped; Claude's markdown is rendered by markdown-it with raw HTML off,
 *   links limited to http(s) and mailto (rel="noopener noreferrer nofollow"), images shown as
 *   links (no remote loads), and control characters removed first, at a bounded cost
 *   (markdown.ts: size cap, a linear path for pathological text, a cache);
 * - no inline script or style is produced (the pages' CSP forbids them): collapsing uses
 *   `<details>`, styling uses the `tl-*` classes.
 */

export interface HtmlOptions {
  /**
   * Trusted HTML with the buttons for a pending approval (the page adds its forms and CSRF
   * token). Called only for approvals nobody answered yet. Default: no buttons.
   */
  approvalActions?: (a: ApprovalState) => SafeHtml;
  /**
   * The gateway's resolution of an approval the runner never reported resolved (the run ended,
   * the runner was lost or revoked): shown instead of "denied automatically in … · Answer it".
   */
  settled?: (approvalId: string) => ApprovalState['resolved'];
  /** Lines of a tool result shown before "more" (default 12). */
  resultLines?: number;
  /** Tool inputs longer than this many characters (or 8 lines) start collapsed (default 300). */
  inputInlineChars?: number;
  /** Current time, for "expires in" (default Date.now()). */
  now?: number;
  /**
   * Show the result's text in the final result (default true). Claude's `result` repeats the
   * last assistant text, which a page showing every entry has just shown.
   */
  resultText?: boolean;
}

// Terminal escape sequences and other control characters (tab and newline kept) mean nothing in a
// page and would only show as garbage; bidi controls are shown as U+FFFD, as everywhere.
function clean(s: string): string {
  return visibleText(s, { cr: 'newline' });
}

function pre(text: string, cls = ''): SafeHtml {
  return cls ? html`<pre class="${raw(cls)}">${escapeHtml(clean(text))}</pre>` : html`<pre>${escapeHtml(clean(text))}</pre>`;
}

/**
 * A tool input as people read it: one `key: value` per field, string values as they are (a file
 * being written shows as the file, not as one escaped JSON line), other values as JSON.
 */
function prettyInput(input: unknown): string {
  if (typeof input === 'string') return input;
  if (input && typeof input === 'object' && !Array.isArray(input)) {
    return Object.entries(input as Record<string, unknown>)
      .map(([k, v]) => (typeof v === 'string' ? (v.includes('\n') ? `${k}:\n${v}` : `${k}: ${v}`) : `${k}: ${JSON.stringify(v)}`))
      .join('\n');
  }
  return JSON.stringify(input, null, 2) ?? 'null';
}

function inputBlock(name: string, input: unknown, truncated: boolean, o: Required<Pick<HtmlOptions, 'resultLines' | 'inputInlineChars' | 'now'>>): SafeHtml {
  const text = prettyInput(input);
  const note = truncated ? raw('<p class="tl-note">input truncated; the raw stream has all of it</p>') : null;
  if (text.length <= o.inputInlineChars && text.split('\n').length <= 8) return html`${pre(text, 'tl-input')}${note}`;
  return html`<details class="tl-input"><summary>input (${text.split('\n').length} lines)</summary>${pre(text)}</details>${note}`;
}

function resultBlock(content: string, isError: boolean, truncated: boolean, chars: number, o: Required<Pick<HtmlOptions, 'resultLines' | 'inputInlineChars' | 'now'>>): SafeHtml {
  const lines = clean(content).replace(/\n+$/, '').split('\n');
  const head = lines.slice(0, o.resultLines).join('\n');
  const rest = lines.slice(o.resultLines);
  const cls = raw(isError ? 'tl-output tl-error' : 'tl-output');
  const more = rest.length
    ? html`<details class="tl-more"><summary>more (${rest.length} line${raw(rest.length === 1 ? '' : 's')})</summary><pre class="${cls}">${escapeHtml(rest.join('\n'))}</pre></details>`
    : null;
  const cut = truncated ? html`<p class="tl-note">result cut at ${escapeHtml(content.length.toLocaleString('en-US'))} of ${escapeHtml(chars.toLocaleString('en-US'))} characters</p>` : null;
  return html`<pre class="${cls}">${escapeHtml(head)}</pre>${more}${cut}`;
}

/** A unified diff (an edit's preview, Claude's patch) as the phone's coloured diff, bounded. */
export function diffBlock(text: string, truncated: boolean, cls = 'tl-diff'): SafeHtml {
  // No line is cut (the page wraps them; the runner bounds the whole at MAX_DIFF): the end of a long added line is what gets approved.
  const d = renderDiffHtml(text, { maxLines: 400, maxLineChars: MAX_DIFF });
  const cut = truncated || d.truncated ? raw('<p class="tl-note">diff truncated: too large to show whole</p>') : raw('');
  return html`<div class="${raw(cls)} diff-view">${d.html}</div>${cut}`;
}

/** What a special approval holds: an edit's diff, Claude's questions (read only), its plan. */
function approvalExtras(info: ApprovalState['info'], withQuestions: boolean): SafeHtml {
  const parts: SafeHtml[] = [];
  if (info.diff) {
    parts.push(html`<p class="tl-note">${info.diff.text ? raw('Change to') : raw('No preview of')} <code>${escapeHtml(clean(info.diff.path))}</code>${info.diff.note ? html` — ${escapeHtml(clean(info.diff.note))}` : null}</p>`);
    if (info.diff.text) parts.push(diffBlock(info.diff.text, info.diff.truncated));
  }
  if (info.questions && withQuestions) {
    parts.push(html`<ol class="tl-questions">${info.questions.map((q) => html`<li><p>${q.header ? html`<span class="q-header">${escapeHtml(clean(q.header))}</span> ` : null}${escapeHtml(clean(q.question))}${q.multiSelect ? raw(' <span class="tl-note">(one or more)</span>') : null}</p><ul>${q.options.map((op) => html`<li><strong>${escapeHtml(clean(op.label))}</strong>${op.description ? html` — ${escapeHtml(clean(op.description))}` : null}</li>`)}</ul></li>`)}</ol>`);
  }
  if (info.toolName === 'ExitPlanMode') {
    parts.push(info.plan ? html`<div class="tl-plan tl-md">${renderMarkdown(info.plan)}</div>${info.planTruncated ? raw('<p class="tl-note">plan truncated</p>') : null}` : raw('<p class="tl-note">Claude wants to leave plan mode; ccg found no plan text.</p>'));
  }
  return joinHtml(parts);
}

/** True when the approval shows something better than its raw input (a diff, questions, a plan). */
export function hasExtras(info: ApprovalState['info']): boolean {
  return !!info.diff || !!info.questions || info.toolName === 'ExitPlanMode';
}

/** How an approval ended: as the runner said, or else as the gateway recorded it (`settled`); null while open. */
function resolutionOf(a: ApprovalState, o: HtmlOptions): ApprovalState['resolved'] {
  return a.resolved ?? o.settled?.(a.info.approvalId) ?? null;
}

function approvalBlock(a: ApprovalState, o: HtmlOptions & { now: number }): SafeHtml {
  const { info } = a;
  const resolved = resolutionOf(a, o);
  const id = escapeHtml(info.approvalId);
  const rule = info.rule ? `${info.rule.toolName}${info.rule.ruleContent !== null ? `(${info.rule.ruleContent})` : ''}` : null;
  if (resolved) {
    const verb = resolved.decision === 'allow' ? (resolved.always ? 'Always allowed' : 'Allowed') : 'Denied';
    const who = resolved.reason === 'operator' ? `by ${resolved.by}` : resolved.reason === 'timeout' ? 'because nobody answered in time' : `(${resolved.reason})`;
    const msg = resolved.decision === 'deny' && resolved.message ? html`: ${escapeHtml(clean(resolved.message))}` : null;
    return html`<div class="tl-approval tl-approval-${escapeHtml(resolved.decision)}" data-approval-id="${id}"><p>${raw(verb)} ${escapeHtml(who)}${msg}</p></div>`;
  }
  const left = Math.max(0, Math.round((info.expiresAt - o.now) / 60_000));
  return joinHtml([
    html`<div class="tl-approval tl-approval-pending" data-approval-id="${id}">`,
    info.toolName === 'AskUserQuestion'
      ? raw('<p><strong>Claude asks you</strong></p>')
      : info.toolName === 'ExitPlanMode'
        ? raw('<p><strong>Claude’s plan</strong>: approve it to let Claude start</p>')
        : html`<p><strong>Approval needed</strong> for ${escapeHtml(info.toolName)}${info.description ? html` — ${escapeHtml(clean(info.description))}` : null}</p>`,
    info.blockedPath ? html`<p class="tl-note">path: <code>${escapeHtml(clean(info.blockedPath))}</code></p>` : raw(''),
    rule ? html`<p class="tl-note">“Always allow” adds <code>${escapeHtml(clean(rule))}</code> for this run</p>` : raw(''),
    approvalExtras(info, !o.approvalActions),
    html`<p class="tl-note">denied automatically in ${left} min</p>`,
    o.approvalActions ? o.approvalActions(a) : raw(''),
    raw(`</div>`),
  ]);
}

const int = (n: number) => n.toLocaleString('en-US');

function resultHtml(r: ClaudeResult, turnCostUsd: number | null, withText: boolean): SafeHtml {
  const stats: [string, string][] = [];
  // Claude Code reports the session's total so far; the turn's share is the difference to the previous total.
  if (turnCostUsd !== null) stats.push(['this turn', money(turnCostUsd)]);
  if (r.costUsd !== null) stats.push(['session total', money(r.costUsd)]);
  stats.push(['tokens', `${int(r.usage.inputTokens + r.usage.cacheReadTokens + r.usage.cacheCreationTokens)} in · ${int(r.usage.outputTokens)} out`]);
  if (r.numTurns !== null) stats.push(['turns', String(r.numTurns)]);
  if (r.durationMs !== null) stats.push(['duration', fmtDuration(r.durationMs)]);
  stats.push(['denials', String(r.denials.length)]);
  const denials = r.denials.length
    ? html`<ul class="tl-denials">${r.denials.map((d) => html`<li>${escapeHtml(d.toolName)}: <code>${escapeHtml(toolSummary(d.toolName, d.input, 120))}</code></li>`)}</ul>`
    : null;
  const errors = r.errors.length ? html`<ul class="tl-errors">${r.errors.map((e) => html`<li>${escapeHtml(clean(e))}</li>`)}</ul>` : null;
  const title = escapeHtml(resultHeadline(r));
  return joinHtml([
    html`<h3>${title}</h3>`,
    r.result && withText ? html`<div class="tl-md">${renderMarkdown(r.result)}</div>` : raw(''),
    html`<dl class="tl-stats">${stats.map(([k, v]) => html`<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`)}</dl>`,
    denials ?? raw(''),
    errors ?? raw(''),
  ]);
}

function time(ms: number): SafeHtml {
  const iso = escapeHtml(new Date(ms).toISOString());
  return html`<time datetime="${iso}">${raw(iso.slice(11, 19))}</time>`;
}

/**
 * A subagent's steps, collapsed (a `<details>`: no script needed), labelled with its type and
 * task. The label and summary come from the model: escaped like everything else.
 */
function agentHtml(g: AgentGroup, opts: HtmlOptions): SafeHtml {
  const steps = g.children.length + g.dropped;
  const state = g.status ? html` · ${escapeHtml(g.status)}` : null;
  return joinHtml([
    html`<details class="tl-agent"><summary>Subagent <strong class="tl-agent-name">${escapeHtml(clean(g.label))}</strong>${g.description ? html`: ${escapeHtml(clean(g.description))}` : null}${state} · ${steps} step${raw(steps === 1 ? '' : 's')}</summary>`,
    g.dropped ? html`<p class="tl-note">${g.dropped} earlier step${raw(g.dropped === 1 ? '' : 's')} not shown; the raw stream has them</p>` : raw(''),
    html`<div class="tl-agent-steps">${joinHtml(g.children.map((c) => renderEntryHtml(c, opts)), raw('\n'))}</div>`,
    g.summary ? html`<p class="tl-note">Summary: ${escapeHtml(clean(g.summary))}</p>` : raw(''),
    raw('</details>'),
  ]);
}

/** Characters of live text the page shows while Claude writes (its end). */
export const LIVE_PAGE_CHARS = 4096;

/**
 * The reply Claude is writing, as one growing entry (live text, protocol/claude-live.ts). Its id
 * is `tl-live-<key>` (key: letters, digits, '-', '_' only); the page swaps it as it grows and hides
 * it once the stored message arrives.
 */
export function renderLiveHtml(key: string, text: string | null): SafeHtml {
  const id = escapeHtml(key.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 80));
  if (text === null) return html`<article id="tl-live-${id}" class="tl tl-live" hidden></article>`;
  // The page re-renders the growing entry a few times a second: only its end is shown (the stored message has all of it).
  const tail = text.length > LIVE_PAGE_CHARS ? `…${text.slice(text.length - LIVE_PAGE_CHARS)}` : text;
  const note = text.length > LIVE_PAGE_CHARS ? `Claude is writing… (the last ${LIVE_PAGE_CHARS.toLocaleString('en-US')} of ${text.length.toLocaleString('en-US')} characters)` : 'Claude is writing…';
  return html`<article id="tl-live-${id}" class="tl tl-text tl-live" aria-live="polite"><p class="tl-note">${escapeHtml(note)}</p><div class="tl-md">${renderMarkdown(tail)}</div></article>`;
}

/** One entry as `<article id="tl-<id>" class="tl tl-<kind>">…</article>`. */
export function renderEntryHtml(e: TimelineEntry, opts: HtmlOptions = {}): SafeHtml {
  const o = { resultLines: opts.resultLines ?? 12, inputInlineChars: opts.inputInlineChars ?? 300, now: opts.now ?? Date.now() };
  const open = (kind: string, extra = '') => html`<article id="tl-${escapeHtml(e.id)}" class="tl tl-${raw(kind)}${raw(extra)}">${time(e.time)}`;
  const note = (text: string) => html`<p class="tl-note">${raw(text)}</p>`;
  switch (e.kind) {
    case 'session':
      return html`${open('session')}<p>Session ${escapeHtml(e.init.sessionId?.slice(0, 8) ?? '?')} · ${escapeHtml(e.init.model ?? '?')} · Claude Code ${escapeHtml(e.init.version ?? '?')} · ${escapeHtml(e.init.permissionMode ?? '')}</p><p class="tl-note"><code>${escapeHtml(clean(e.init.cwd ?? ''))}</code></p></article>`;
    case 'text':
      return html`${open('text', `${e.error ? ' tl-error' : ''}${e.sub ? ' tl-sub' : ''}`)}${e.error ? html`<p class="tl-note">API error: ${escapeHtml(e.error)}</p>` : null}<div class="tl-md">${renderMarkdown(e.text)}</div>${e.truncated ? note('truncated; the raw stream has all of it') : null}</article>`;
    case 'thinking':
      return html`${open('thinking', e.sub ? ' tl-sub' : '')}<details><summary>thinking</summary>${pre(e.text)}</details></article>`;
    case 'tool': {
      const summary = e.input === null ? null : html` <code>${escapeHtml(toolSummary(e.name, e.input, 120))}</code>`;
      return joinHtml([
        open('tool', `${e.sub ? ' tl-sub' : ''}${e.result?.isError ? ' tl-error' : ''}`),
        html`<h3><span class="tl-tool-name">${escapeHtml(e.name)}</span>${summary}</h3>`,
        e.input === null ? raw('') : inputBlock(e.name, e.input, e.inputTruncated, { ...o }),
        e.approval ? approvalBlock(e.approval, { ...opts, now: o.now }) : raw(''),
        e.result ? resultBlock(e.result.content, e.result.isError, e.result.truncated, e.result.chars, { ...o }) : (e.approval && resolutionOf(e.approval, o)?.decision === 'deny') ? raw('') : raw('<p class="tl-note tl-running">running…</p>'),
        e.result?.patch ? diffBlock(e.result.patch, e.result.patchTruncated === true, 'tl-diff tl-patch') : raw(''),
        e.agent ? agentHtml(e.agent, opts) : raw(''),
        raw('</article>'),
      ]);
    }
    case 'approval':
      // A diff, questions or a plan say it better than the raw input.
      const sum = toolSummary(e.approval.info.toolName, e.approval.info.input, 120);
      return html`${open('approval')}<h3><span class="tl-tool-name">${escapeHtml(e.approval.info.toolName)}</span>${sum === '{}' ? null : html` <code>${escapeHtml(sum)}</code>`}</h3>${hasExtras(e.approval.info) ? null : inputBlock(e.approval.info.toolName, e.approval.info.input, e.approval.info.inputTruncated, { ...o })}${approvalBlock(e.approval, { ...opts, now: o.now })}</article>`;
    case 'prompt':
      return html`${open('prompt')}<p class="tl-who">${raw(e.initial ? 'Prompt' : 'Follow-up')} from ${escapeHtml(e.by)}</p>${e.text === null ? html`<p class="tl-note">${e.bytes} bytes typed</p>` : pre(e.text, 'tl-prompt-text')}</article>`;
    case 'user':
      return html`${open('user')}<p>${escapeHtml(clean(e.text))}</p></article>`;
    case 'result':
      return html`${open('result', e.result.isError ? ' tl-error' : '')}${resultHtml(e.result, e.turnCostUsd, opts.resultText !== false)}</article>`;
    case 'system':
      return html`${open('system')}<p>${escapeHtml(clean(e.summary))}</p></article>`;
    case 'raw':
      return html`${open('raw')}<details><summary>unrecognised output (${escapeHtml(e.label)})${raw(e.truncated ? ', truncated' : '')}</summary>${pre(e.raw)}</details></article>`;
    case 'notice':
      return html`${open('notice', e.level === 'warn' ? ' tl-warn' : '')}<p>${escapeHtml(clean(e.text))}</p></article>`;
    default: {
      const never: never = e;
      return never;
    }
  }
}

/** The whole timeline, entries in order. */
export function renderTimelineHtml(entries: readonly TimelineEntry[], opts: HtmlOptions = {}): SafeHtml {
  return joinHtml(entries.map((e) => renderEntryHtml(e, opts)), raw('\n'));
}

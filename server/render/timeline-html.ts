import { createRequire } from 'node:module';
import type MarkdownItType from 'markdown-it';
import type { ClaudeResult } from '../../protocol/claude-events.js';
import { fmtDuration, toolSummary, type ApprovalState, type TimelineEntry } from '../../protocol/timeline.js';

/**
 * The timeline as HTML fragments for the phone pages. Pure: entries in, a string out; the page
 * decides where it goes (each entry is one `<article id="tl-<id>">`, so an htmx swap can
 * replace an entry when its approval or result arrives).
 *
 * Everything in an entry came from the model, a tool or a file, and is hostile:
 * - every text is HTML-escaped; Claude's markdown is rendered by markdown-it with raw HTML off,
 *   links limited to http(s) and mailto (rel="noopener noreferrer nofollow"), images shown as
 *   links (no remote loads), and control characters removed first;
 * - no inline script or style is produced (the pages' CSP forbids them): collapsing uses
 *   `<details>`, styling uses the `tl-*` classes.
 */

export interface HtmlOptions {
  /**
   * Trusted HTML with the buttons for a pending approval (the page adds its forms and CSRF
   * token). Called only for approvals nobody answered yet. Default: no buttons.
   */
  approvalActions?: (a: ApprovalState) => string;
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

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]!);
}

// Terminal escape sequences and other control characters (tab and newline kept): they mean
// nothing in a page and would only show as garbage.
const CONTROL_SEQ = /\u001b\[[0-?]*[ -/]*[@-~]?|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[ -/]*[0-~]?|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
function clean(s: string): string {
  return s.replace(/\r\n?/g, '\n').replace(CONTROL_SEQ, '');
}

const SAFE_LINK = /^(https?:\/\/|mailto:)/i;

function createMarkdown(): InstanceType<typeof MarkdownItType> {
  // Required on first use (the first Claude timeline rendered), not at gateway start.
  const MarkdownIt = createRequire(import.meta.url)('markdown-it') as typeof MarkdownItType;
  const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false });
  // No images: a remote image is a tracking pixel and a CSP violation; its alt text and URL stay visible as text.
  md.disable('image');
  md.validateLink = (url: string) => SAFE_LINK.test(url.trim());
  const defaultLinkOpen = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    const t = tokens[idx]!;
    t.attrSet('rel', 'noopener noreferrer nofollow');
    t.attrSet('target', '_blank');
    return defaultLinkOpen(tokens, idx, options, env, self);
  };
  return md;
}

let md: InstanceType<typeof MarkdownItType> | undefined;

/** Claude's markdown as safe HTML (no raw HTML, safe links only, no images). */
export function renderMarkdown(text: string): string {
  return (md ??= createMarkdown()).render(clean(text));
}

function pre(text: string, cls = ''): string {
  return `<pre${cls ? ` class="${cls}"` : ''}>${escapeHtml(clean(text))}</pre>`;
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

function inputBlock(name: string, input: unknown, truncated: boolean, o: Required<Pick<HtmlOptions, 'resultLines' | 'inputInlineChars' | 'now'>>): string {
  const text = prettyInput(input);
  const note = truncated ? '<p class="tl-note">input truncated; the raw stream has all of it</p>' : '';
  if (text.length <= o.inputInlineChars && text.split('\n').length <= 8) return `${pre(text, 'tl-input')}${note}`;
  return `<details class="tl-input"><summary>input (${text.split('\n').length} lines)</summary>${pre(text)}</details>${note}`;
}

function resultBlock(content: string, isError: boolean, truncated: boolean, chars: number, o: Required<Pick<HtmlOptions, 'resultLines' | 'inputInlineChars' | 'now'>>): string {
  const lines = clean(content).replace(/\n+$/, '').split('\n');
  const head = lines.slice(0, o.resultLines).join('\n');
  const rest = lines.slice(o.resultLines);
  const cls = isError ? 'tl-output tl-error' : 'tl-output';
  let html = `<pre class="${cls}">${escapeHtml(head)}</pre>`;
  if (rest.length) html += `<details class="tl-more"><summary>more (${rest.length} line${rest.length === 1 ? '' : 's'})</summary><pre class="${cls}">${escapeHtml(rest.join('\n'))}</pre></details>`;
  if (truncated) html += `<p class="tl-note">result cut at ${content.length.toLocaleString('en-US')} of ${chars.toLocaleString('en-US')} characters</p>`;
  return html;
}

function approvalBlock(a: ApprovalState, o: HtmlOptions & { now: number }): string {
  const { info, resolved } = a;
  const rule = info.rule ? `${info.rule.toolName}${info.rule.ruleContent !== null ? `(${info.rule.ruleContent})` : ''}` : null;
  if (resolved) {
    const verb = resolved.decision === 'allow' ? (resolved.always ? 'Always allowed' : 'Allowed') : 'Denied';
    const who = resolved.reason === 'operator' ? `by ${resolved.by}` : resolved.reason === 'timeout' ? 'because nobody answered in time' : `(${resolved.reason})`;
    const msg = resolved.decision === 'deny' && resolved.message ? `: ${escapeHtml(clean(resolved.message))}` : '';
    return `<div class="tl-approval tl-approval-${resolved.decision}" data-approval-id="${escapeHtml(info.approvalId)}"><p>${verb} ${escapeHtml(who)}${msg}</p></div>`;
  }
  const left = Math.max(0, Math.round((info.expiresAt - o.now) / 60_000));
  return [
    `<div class="tl-approval tl-approval-pending" data-approval-id="${escapeHtml(info.approvalId)}">`,
    `<p><strong>Approval needed</strong> for ${escapeHtml(info.toolName)}${info.description ? ` — ${escapeHtml(clean(info.description))}` : ''}</p>`,
    info.blockedPath ? `<p class="tl-note">path: <code>${escapeHtml(clean(info.blockedPath))}</code></p>` : '',
    rule ? `<p class="tl-note">“Always allow” adds <code>${escapeHtml(clean(rule))}</code> for this run</p>` : '',
    `<p class="tl-note">denied automatically in ${left} min</p>`,
    o.approvalActions ? o.approvalActions(a) : '',
    `</div>`,
  ].join('');
}

const money = (usd: number) => (usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`);
const int = (n: number) => n.toLocaleString('en-US');

function resultHtml(r: ClaudeResult, withText: boolean): string {
  const stats: [string, string][] = [];
  if (r.costUsd !== null) stats.push(['cost', money(r.costUsd)]);
  stats.push(['tokens', `${int(r.usage.inputTokens + r.usage.cacheReadTokens + r.usage.cacheCreationTokens)} in · ${int(r.usage.outputTokens)} out`]);
  if (r.numTurns !== null) stats.push(['turns', String(r.numTurns)]);
  if (r.durationMs !== null) stats.push(['duration', fmtDuration(r.durationMs)]);
  stats.push(['denials', String(r.denials.length)]);
  const denials = r.denials.length
    ? `<ul class="tl-denials">${r.denials.map((d) => `<li>${escapeHtml(d.toolName)}: <code>${escapeHtml(toolSummary(d.toolName, d.input, 120))}</code></li>`).join('')}</ul>`
    : '';
  const errors = r.errors.length ? `<ul class="tl-errors">${r.errors.map((e) => `<li>${escapeHtml(clean(e))}</li>`).join('')}</ul>` : '';
  const title = r.isError ? `Ended with an error (${escapeHtml(r.subtype)}${r.apiErrorStatus ? `, API ${r.apiErrorStatus}` : ''})` : 'Done';
  return [
    `<h3>${title}</h3>`,
    r.result && withText ? `<div class="tl-md">${renderMarkdown(r.result)}</div>` : '',
    `<dl class="tl-stats">${stats.map(([k, v]) => `<dt>${k}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`,
    denials,
    errors,
  ].join('');
}

function time(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `<time datetime="${iso}">${iso.slice(11, 19)}</time>`;
}

/** One entry as `<article id="tl-<id>" class="tl tl-<kind>">…</article>`. */
export function renderEntryHtml(e: TimelineEntry, opts: HtmlOptions = {}): string {
  const o = { resultLines: opts.resultLines ?? 12, inputInlineChars: opts.inputInlineChars ?? 300, now: opts.now ?? Date.now() };
  const open = (kind: string, extra = '') => `<article id="tl-${e.id}" class="tl tl-${kind}${extra}">${time(e.time)}`;
  switch (e.kind) {
    case 'session':
      return `${open('session')}<p>Session ${escapeHtml(e.init.sessionId?.slice(0, 8) ?? '?')} · ${escapeHtml(e.init.model ?? '?')} · Claude Code ${escapeHtml(e.init.version ?? '?')} · ${escapeHtml(e.init.permissionMode ?? '')}</p><p class="tl-note"><code>${escapeHtml(clean(e.init.cwd ?? ''))}</code></p></article>`;
    case 'text':
      return `${open(e.error ? 'text' : 'text', `${e.error ? ' tl-error' : ''}${e.sub ? ' tl-sub' : ''}`)}${e.error ? `<p class="tl-note">API error: ${escapeHtml(e.error)}</p>` : ''}<div class="tl-md">${renderMarkdown(e.text)}</div>${e.truncated ? '<p class="tl-note">truncated; the raw stream has all of it</p>' : ''}</article>`;
    case 'thinking':
      return `${open('thinking', e.sub ? ' tl-sub' : '')}<details><summary>thinking</summary>${pre(e.text)}</details></article>`;
    case 'tool': {
      const summary = e.input === null ? '' : ` <code>${escapeHtml(toolSummary(e.name, e.input, 120))}</code>`;
      return [
        open('tool', `${e.sub ? ' tl-sub' : ''}${e.result?.isError ? ' tl-error' : ''}`),
        `<h3><span class="tl-tool-name">${escapeHtml(e.name)}</span>${summary}</h3>`,
        e.input === null ? '' : inputBlock(e.name, e.input, e.inputTruncated, { ...o }),
        e.approval ? approvalBlock(e.approval, { ...opts, now: o.now }) : '',
        e.result ? resultBlock(e.result.content, e.result.isError, e.result.truncated, e.result.chars, { ...o }) : e.approval?.resolved?.decision === 'deny' ? '' : '<p class="tl-note tl-running">running…</p>',
        '</article>',
      ].join('');
    }
    case 'approval':
      return `${open('approval')}<h3><span class="tl-tool-name">${escapeHtml(e.approval.info.toolName)}</span> <code>${escapeHtml(toolSummary(e.approval.info.toolName, e.approval.info.input, 120))}</code></h3>${inputBlock(e.approval.info.toolName, e.approval.info.input, e.approval.info.inputTruncated, { ...o })}${approvalBlock(e.approval, { ...opts, now: o.now })}</article>`;
    case 'prompt':
      return `${open('prompt')}<p class="tl-who">${e.initial ? 'Prompt' : 'Follow-up'} from ${escapeHtml(e.by)}</p>${e.text === null ? `<p class="tl-note">${e.bytes} bytes typed</p>` : pre(e.text, 'tl-prompt-text')}</article>`;
    case 'user':
      return `${open('user')}<p>${escapeHtml(clean(e.text))}</p></article>`;
    case 'result':
      return `${open('result', e.result.isError ? ' tl-error' : '')}${resultHtml(e.result, opts.resultText !== false)}</article>`;
    case 'system':
      return `${open('system')}<p>${escapeHtml(clean(e.summary))}</p></article>`;
    case 'raw':
      return `${open('raw')}<details><summary>unrecognised output (${escapeHtml(e.label)})${e.truncated ? ', truncated' : ''}</summary>${pre(e.raw)}</details></article>`;
    case 'notice':
      return `${open('notice', e.level === 'warn' ? ' tl-warn' : '')}<p>${escapeHtml(clean(e.text))}</p></article>`;
    default: {
      const never: never = e;
      return never;
    }
  }
}

/** The whole timeline, entries in order. */
export function renderTimelineHtml(entries: readonly TimelineEntry[], opts: HtmlOptions = {}): string {
  return entries.map((e) => renderEntryHtml(e, opts)).join('\n');
}

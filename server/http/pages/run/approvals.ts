import type { TemplatedApp } from 'uWebSockets.js';
import type { Approval } from '../../../../protocol/claude-control.js';
import { APPROVAL_ID_RE, MAX_MESSAGE } from '../../../../protocol/claude-events.js';
import { CcgError } from '../../../../protocol/errors.js';
import { canOperate, type Principal } from '../../../auth/operator-auth.js';
import { toolSummary, type ApprovalState } from '../../../../protocol/timeline.js';
import { escapeHtml, html, joinHtml, raw, type SafeHtml } from '../../../render/html.js';
import { renderEntryHtml } from '../../../render/timeline-html.js';
import { fragment, pageRoute, redirect, runIdOf, type BrowserDeps, type PageCtx } from '../browser.js';
import type { RunSection, SectionCtx } from '../run-sections.js';
import { isClaudeRun } from './timeline.js';

/** Answered approvals stay on the page this long (one line each, at most RESOLVED_SHOWN), so whoever was about to answer sees who did. */
const RESOLVED_SHOWN_MS = 2 * 60_000;
const RESOLVED_SHOWN = 3;

/** The gateway's approval as the timeline renderer's state: an answer on its way counts as given. */
function stateOf(a: Approval): ApprovalState {
  const { runId: _r, state: _s, requestedAt: _q, answer, resolution, ...info } = a;
  const done = resolution ?? (answer ? { ...answer, reason: 'operator' as const } : null);
  return { info, resolved: done ? { approvalId: a.approvalId, decision: done.decision, always: done.always, message: done.message, by: done.by, reason: done.reason } : null };
}

/** Open approvals first (oldest first), then those answered in the last few minutes. */
export function approvalsShown(d: BrowserDeps, runId: string): Approval[] {
  const now = d.now();
  const all = d.powers.approvals.list(runId, { all: true });
  const open = all.filter((a) => a.state !== 'resolved');
  const recent = all.filter((a) => a.state === 'resolved' && now - (a.resolution?.at ?? 0) < RESOLVED_SHOWN_MS).reverse().slice(0, RESOLVED_SHOWN);
  return [...open, ...recent];
}

/** The cards: the timeline's approval entry, with the page's forms as its buttons. */
export function approvalCards(d: BrowserDeps, runId: string, viewer: Principal, csrf: string): SafeHtml {
  const now = d.now();
  return joinHtml(
    approvalsShown(d, runId).map((a) => {
      if (a.state !== 'pending') return doneCard(a);
      const card = renderEntryHtml(
        { kind: 'approval', id: `ap-${a.approvalId}`, seq: 0, time: a.requestedAt, approval: stateOf(a) },
        {
          now,
          approvalActions: (s) =>
            canOperate(viewer)
              ? d.views.partial('run/approval-actions', { runId, approvalId: s.info.approvalId, csrf, always: s.info.rule !== null, maxMessage: MAX_MESSAGE })
              : raw('<p class="tl-note">An operator or admin can answer this; you can watch.</p>'),
        },
      );
      // One wrapper per approval, versioned by its state, so a live update replaces only the cards that changed.
      return html`<div class="approval-card approval-${raw(a.state)}" id="approval-${escapeHtml(a.approvalId)}" data-v="${raw(a.state)}">${card}</div>`;
    }),
    raw('\n'),
  );
}

/** An answered approval: one line, who answered and how. */
function doneCard(a: Approval): SafeHtml {
  const s = stateOf(a).resolved!;
  const verb = s.decision === 'allow' ? (s.always ? 'Always allowed' : 'Allowed') : 'Denied';
  const who = s.reason === 'operator' ? `by ${s.by}` : s.reason === 'timeout' ? 'because nobody answered in time' : `(${s.reason})`;
  const waiting = raw(a.state === 'answered' ? ' · sending to Claude…' : '');
  return html`<div class="approval-card approval-done${raw(s.decision === 'deny' ? ' denied' : '')}" id="approval-${escapeHtml(a.approvalId)}" data-v="${raw(a.state)}"><p><span class="tl-tool-name">${escapeHtml(a.toolName)}</span> <code>${escapeHtml(toolSummary(a.toolName, a.input, 80))}</code> — ${raw(verb)} ${escapeHtml(who)}${waiting}</p></div>`;
}

/**
 * Pending permission requests of a Claude run, above everything else: tool, input, what "always
 * allow" would add, and Approve / Deny (with a message) / Always allow for operators and admins.
 * Viewers see them without buttons. Every change of the run's approvals (requested, answered by
 * anyone, resolved by the runner) re-sends the list live as `approvals-list`.
 */
export function approvalsSection(d: BrowserDeps): RunSection {
  return {
    id: 'approvals',
    data(c: SectionCtx) {
      if (!isClaudeRun(c.run)) return null;
      return { cards: approvalCards(d, c.run.id, c.viewer, c.csrf) };
    },
    live(c, send) {
      if (!isClaudeRun(c.run)) return null;
      const push = () => send({ event: 'approvals-list', data: approvalCards(d, c.run.id, c.viewer, c.csrf) });
      const off = d.bus.on('approval', ({ approval }) => {
        if (approval.runId === c.run.id) push();
      });
      // Whatever changed between the page's render and this stream.
      push();
      return { close: off };
    },
  };
}

/**
 * Refusals shown as news next to the approvals (htmx), or as a notice after the redirect (no
 * JavaScript) when they are about timing rather than a mistake: someone answered first, the run
 * ended. The rest are error pages without JavaScript.
 */
function answerError(err: unknown, htmx: boolean): CcgError | null {
  if (!(err instanceof CcgError)) return null;
  const news = ['ERR_APPROVAL_RESOLVED', 'ERR_RUN_FINISHED'];
  return news.includes(err.code) || (htmx && ['ERR_APPROVAL_NOT_FOUND', 'ERR_BAD_REQUEST'].includes(err.code)) ? err : null;
}

/** `POST /runs/:id/approvals/:approvalId`: decision=allow|deny|always, message (deny). Operators and admins. */
export function mountApprovalActions(app: TemplatedApp, d: BrowserDeps): void {
  pageRoute(app, d, 'post', '/runs/:id/approvals/:approval', { auth: 'user', role: 'operator' }, async (pc: PageCtx) => {
    const id = runIdOf(pc);
    d.runs.mustGet(id);
    const approvalId = pc.ctx.params[1] ?? '';
    if (!APPROVAL_ID_RE.test(approvalId)) throw new CcgError('ERR_APPROVAL_NOT_FOUND', 'There is no such approval.');
    const f = await pc.form();
    const decision = f.get('decision');
    if (decision !== 'allow' && decision !== 'deny' && decision !== 'always') throw new CcgError('ERR_BAD_REQUEST', 'pick Approve, Deny or Always allow');
    const message = (f.get('message') ?? '').trim();
    if (message.length > MAX_MESSAGE) throw new CcgError('ERR_BAD_REQUEST', `the message may be at most ${MAX_MESSAGE} characters`);
    let problem: string | null = null;
    try {
      await d.powers.approvals.answer(
        id,
        approvalId,
        { decision: decision === 'deny' ? 'deny' : 'allow', always: decision === 'always', ...(decision === 'deny' && message ? { message } : {}) },
        pc.principal!,
        pc.ip,
      );
    } catch (err) {
      const known = answerError(err, pc.htmx);
      if (!known) throw err;
      // First answer wins: a late tap is not an error page, just news.
      problem = known.message.charAt(0).toUpperCase() + known.message.slice(1) + '.';
      if (!pc.htmx) return redirect(pc, `/runs/${id}?notice=${known.code === 'ERR_APPROVAL_RESOLVED' ? 'approval-taken' : 'approval-failed'}#run-approvals`);
    }
    if (!pc.htmx) return redirect(pc, `/runs/${id}?notice=approval-sent#run-approvals`);
    return fragment(pc, 200, 'run/approvals-list', { cards: approvalCards(d, id, pc.principal!, pc.csrf), problem });
  });
}

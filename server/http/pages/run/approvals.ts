import type { TemplatedApp } from 'uWebSockets.js';
import type { Approval } from '../../../../protocol/claude-control.js';
import type { QuestionAnswers } from '../../../../protocol/claude-steer.js';
import { visibleText } from '../../../../protocol/terminal-escapes.js';
import { APPROVAL_ID_RE, MAX_MESSAGE } from '../../../../protocol/claude-events.js';
import { CcgError } from '../../../../protocol/errors.js';
import { canOperate, type Principal } from '../../../auth/operator-auth.js';
import { toolSummary, type ApprovalState } from '../../../../protocol/timeline.js';
import { escapeHtml, html, joinHtml, raw, type SafeHtml } from '../../../render/html.js';
import { renderEntryHtml } from '../../../render/timeline-html.js';
import { approvalKind, MAX_ANSWER, modeLabel } from '../../../../protocol/claude-steer.js';
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
          approvalActions: (s) => (canOperate(viewer) ? actionsFor(d, runId, s.info, csrf) : raw('<p class="tl-note">An operator or admin can answer this; you can watch.</p>')),
        },
      );
      // One wrapper per approval, versioned by its state, so a live update replaces only the cards that changed.
      return html`<div class="approval-card approval-${raw(a.state)}" id="approval-${escapeHtml(a.approvalId)}" data-v="${raw(a.state)}">${card}</div>`;
    }),
    raw('\n'),
  );
}

/** The buttons of a pending approval, by what it asks: questions, a plan, or a tool use. */
function actionsFor(d: BrowserDeps, runId: string, info: ApprovalState['info'], csrf: string): SafeHtml {
  const base = { runId, approvalId: info.approvalId, csrf, maxMessage: MAX_MESSAGE };
  switch (approvalKind(info.toolName)) {
    case 'questions': {
      const qs = info.questions ?? [];
      // One single-choice question: each option is a button that answers at once.
      const buttons = qs.length === 1 && !qs[0]!.multiSelect;
      // Claude's text is shown cleaned (no control characters); the form names options by number, so what Claude gets back is its own label, exactly.
      const questions = qs.map((q, i) => ({
        i,
        question: visibleText(q.question),
        header: visibleText(q.header),
        multiSelect: q.multiSelect,
        type: q.multiSelect ? 'checkbox' : 'radio',
        options: q.options.map((o, j) => ({ j, label: visibleText(o.label), description: visibleText(o.description) })),
      }));
      return d.views.partial('run/approval-questions', { ...base, buttons, questions, maxAnswer: MAX_ANSWER });
    }
    case 'plan': {
      // Only where the runner lets Claude continue in acceptEdits (--modes, a machine workspace's modes).
      const modes = d.runs.get(runId)?.runner?.remote?.modes;
      return d.views.partial('run/approval-plan', { ...base, allowEdits: !modes || modes.includes('acceptEdits') });
    }
    case 'tool': {
      const always = info.rule !== null || !!info.modeSuggestion;
      const alwaysLabel = info.rule === null && info.modeSuggestion === 'acceptEdits' ? 'Allow all edits this session' : info.rule === null && info.modeSuggestion ? `Switch to ${modeLabel(info.modeSuggestion)}` : 'Always allow this';
      return d.views.partial('run/approval-actions', { ...base, always, alwaysLabel });
    }
  }
}

/** One line of Claude's text for a card: controls and invisible characters shown, cut at `max`. */
function cardText(s: string, max: number): string {
  const one = visibleText(s).replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/**
 * How an operator answered, when the gateway holds that answer and it is what was decided: the
 * options chosen for questions, the mode a plan continues in.
 */
function howAnswered(a: Approval, decision: string): string {
  const ans = a.answer;
  if (!ans || ans.decision !== decision || decision !== 'allow') return '';
  if (ans.answers) return `: ${Object.entries(ans.answers).map(([q, v]) => `${cardText(q, 80)} → ${cardText(Array.isArray(v) ? v.join(', ') : v, 120)}`).join('; ')}`;
  if (ans.mode) return `, continuing in ${modeLabel(ans.mode)}`;
  return '';
}

/** An answered approval: one line, who answered and how. */
function doneCard(a: Approval): SafeHtml {
  const s = stateOf(a).resolved!;
  const kind = approvalKind(a.toolName);
  const verb =
    kind === 'plan' ? (s.decision === 'allow' ? 'Plan approved' : 'Kept planning')
    : kind === 'questions' ? (s.decision === 'allow' ? 'Answered' : 'Not answered')
    : s.decision === 'allow' ? (s.always ? 'Always allowed' : 'Allowed') : 'Denied';
  const who = s.reason === 'operator' ? `by ${s.by}` : s.reason === 'timeout' ? 'because nobody answered in time' : `(${s.reason})`;
  const how = s.decision === 'deny' && s.message ? `: ${cardText(s.message, 160)}` : s.reason === 'operator' ? howAnswered(a, s.decision) : '';
  const waiting = raw(a.state === 'answered' ? ' · sending to Claude…' : '');
  const what = kind === 'plan' ? raw('Claude’s plan') : kind === 'questions' ? raw('Claude’s questions') : html`<span class="tl-tool-name">${escapeHtml(a.toolName)}</span> <code>${escapeHtml(toolSummary(a.toolName, a.input, 80))}</code>`;
  return html`<div class="approval-card approval-done${raw(s.decision === 'deny' ? ' denied' : '')}" id="approval-${escapeHtml(a.approvalId)}" data-v="${raw(a.state)}"><p>${what} — ${raw(verb)} ${escapeHtml(who)}${escapeHtml(how)}${waiting}</p></div>`;
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
      }, { run: c.run.id });
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

/** The answers in a question form: `q<i>` (one, or several for multi-select) or `q<i>_other` (free text, wins when given). */
function answersOf(a: Approval, f: URLSearchParams): QuestionAnswers {
  const answers: QuestionAnswers = {};
  (a.questions ?? []).forEach((q, i) => {
    const other = (f.get(`q${i}_other`) ?? '').trim();
    const picked = f.getAll(`q${i}`).flatMap((n) => (/^\d{1,2}$/.test(n) && q.options[Number(n)] ? [q.options[Number(n)]!.label] : []));
    if (other) answers[q.question] = other.slice(0, MAX_ANSWER);
    else if (picked.length) answers[q.question] = q.multiSelect ? [...new Set(picked)] : picked[0]!;
  });
  if (Object.keys(answers).length === 0) throw new CcgError('ERR_BAD_REQUEST', 'choose an option or type an answer first');
  return answers;
}

/** Runs one answer; refusals that are news (someone was faster) come back in the list, not as an error page. */
async function answerWith(pc: PageCtx, d: BrowserDeps, id: string, fn: () => Promise<unknown>): Promise<ReturnType<typeof redirect>> {
  let problem: string | null = null;
  try {
    await fn();
  } catch (err) {
    const known = answerError(err, pc.htmx);
    if (!known) throw err;
    problem = known.message.charAt(0).toUpperCase() + known.message.slice(1) + '.';
    if (!pc.htmx) return redirect(pc, `/runs/${id}?notice=${known.code === 'ERR_APPROVAL_RESOLVED' ? 'approval-taken' : 'approval-failed'}#run-approvals`);
  }
  if (!pc.htmx) return redirect(pc, `/runs/${id}?notice=approval-sent#run-approvals`);
  return fragment(pc, 200, 'run/approvals-list', { cards: approvalCards(d, id, pc.principal!, pc.csrf), problem });
}

/** `POST /runs/:id/approvals/:approvalId`: decision=allow|deny|always, message (deny). Operators and admins. */
export function mountApprovalActions(app: TemplatedApp, d: BrowserDeps): void {
  const target = (pc: PageCtx) => {
    const id = runIdOf(pc);
    d.runs.mustGet(id);
    const approvalId = pc.ctx.params[1] ?? '';
    if (!APPROVAL_ID_RE.test(approvalId)) throw new CcgError('ERR_APPROVAL_NOT_FOUND', 'There is no such approval.');
    return { id, approvalId };
  };

  // AskUserQuestion: the options chosen (buttons, radios, checkboxes) or a free answer.
  pageRoute(app, d, 'post', '/runs/:id/approvals/:approval/answers', { auth: 'user', role: 'operator' }, async (pc: PageCtx) => {
    const { id, approvalId } = target(pc);
    const f = await pc.form();
    return answerWith(pc, d, id, async () => {
      const a = d.powers.approvals.get(id, approvalId);
      if (!a) throw new CcgError('ERR_APPROVAL_NOT_FOUND', 'There is no such approval.');
      await d.powers.approvals.answerQuestions(id, approvalId, answersOf(a, f), pc.principal!, pc.ip);
    });
  });

  // ExitPlanMode: approve (keep asking / allow edits) or keep planning with a message.
  pageRoute(app, d, 'post', '/runs/:id/approvals/:approval/plan', { auth: 'user', role: 'operator' }, async (pc: PageCtx) => {
    const { id, approvalId } = target(pc);
    const f = await pc.form();
    const choice = f.get('decision');
    if (choice !== 'approve' && choice !== 'approve-edits' && choice !== 'keep_planning') throw new CcgError('ERR_BAD_REQUEST', 'pick Approve, Approve and allow edits, or Keep planning');
    const message = (f.get('message') ?? '').trim();
    if (message.length > MAX_MESSAGE) throw new CcgError('ERR_BAD_REQUEST', `the message may be at most ${MAX_MESSAGE} characters`);
    return answerWith(pc, d, id, () =>
      d.powers.approvals.answerPlan(
        id,
        approvalId,
        choice === 'keep_planning' ? { decision: 'keep_planning', ...(message ? { message } : {}) } : { decision: 'approve', mode: choice === 'approve-edits' ? 'acceptEdits' : 'default' },
        pc.principal!,
        pc.ip,
      ),
    );
  });

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

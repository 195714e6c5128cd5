import type { Approval } from '../../protocol/claude-control.js';
import { MAX_PENDING_APPROVALS, type ApprovalInfo, type ApprovalResolved } from '../../protocol/claude-events.js';
import { answersProblem, approvalKind, type PlanExitMode, type QuestionAnswers } from '../../protocol/claude-steer.js';
import { CcgError } from '../../protocol/errors.js';
import { isFinal, runEnded, type RunSummary } from '../../protocol/run.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { requireRole, type Principal } from '../auth/operator-auth.js';
import type { EventBus } from '../live/bus.js';
import type { Logger } from '../log.js';
import type { Credits } from './credits.js';
import type { RunService } from './runs.js';
import type { ClaudeStore } from '../store/types.js';
import type { AuthStore } from '../store/types.js';

export interface ApprovalServiceOptions {
  store: ClaudeStore;
  audit: Pick<AuthStore, 'appendAudit'>;
  runs: RunService;
  /** Mints the id an answer carries to a runner that echoes it (`approval_decision.creditId`). */
  credits: Pick<Credits, 'mint'>;
  /** Where changes are announced (`approval`), in order per run, after they are written. */
  bus: EventBus;
  log: Logger;
  now: () => number;
}

export interface AnswerInput {
  decision: 'allow' | 'deny';
  always?: boolean | undefined;
  message?: string | undefined;
}


const RESOLVED_KEPT = 200;

/** Who resolved an approval the runner says an operator answered, when no operator's answer matches (shown as "allowed by …"). */
export const RUNNER_CLAIMED_OPERATOR = 'the runner (no operator answered so)';
/** Resolved approvals kept in memory until (and a while after) their write is durable. */
const RECENT_MAX = 1000;

const key = (runId: string, approvalId: string) => `${runId}/${approvalId}`;

/**
 * Remote approvals on the gateway. The runner owns the truth (it answers Claude and reports how,
 * in its event stream); the gateway keeps every approval in LMDB, lets the first operator answer
 * win, forwards that answer, and follows what the runner reports:
 *
 *   approval_requested  → pending (run status "waiting")
 *   operator answers    → answered, the decision is sent to the runner (again after a reconnect)
 *   approval_resolved   → resolved (by the operator, a timeout, Claude withdrawing it, or the run ending)
 *   approvals_sync      → after every runner (re)connect: add what is missing, re-send answers, close the rest
 *
 * State changes apply in memory at once, in the order the events were committed, so an operator
 * who answers the moment the event reaches them finds the approval; writing it down, telling
 * subscribers and the run status follow in the same order, one run at a time.
 */
/** How far an approval got: a change never goes back. */
const STATE_RANK: Record<Approval['state'], number> = { pending: 0, answered: 1, resolved: 2 };

export class ApprovalService {
  /** Approvals not yet resolved, by run, then by id. */
  private readonly open = new Map<string, Map<string, Approval>>();
  /** Recently resolved approvals (the store may not have them yet). */
  private readonly recent = new Map<string, Approval>();
  /** Runs where Claude finished a turn and waits for a follow-up. */
  private readonly awaitingInput = new Set<string>();
  /** Per run, the writes and announcements of its changes, one after the other. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly o: ApprovalServiceOptions) {
    for (const a of o.store.listOpenApprovals()) this.cache(a);
    // Clustered gateway: approvals other nodes' runners asked for, and answers given on other
    // nodes, so an operator here can answer them and a runner here gets its answers again after a
    // reconnect. A change never goes back (a late 'pending' after 'answered' is ignored).
    o.bus.on('approval', ({ approval: a }) => {
      const held = this.open.get(a.runId)?.get(a.approvalId) ?? this.recent.get(key(a.runId, a.approvalId));
      if (held && STATE_RANK[held.state] > STATE_RANK[a.state]) return;
      this.cache(a);
    }, { keep: true, remote: true });
  }

  private cache(a: Approval): void {
    let m = this.open.get(a.runId);
    if (a.state === 'resolved') {
      m?.delete(a.approvalId);
      if (m && m.size === 0) this.open.delete(a.runId);
      this.recent.delete(key(a.runId, a.approvalId));
      this.recent.set(key(a.runId, a.approvalId), a);
      if (this.recent.size > RECENT_MAX) this.recent.delete(this.recent.keys().next().value!);
      return;
    }
    if (!m) this.open.set(a.runId, (m = new Map()));
    m.set(a.approvalId, a);
  }

  /** A run's approvals: the open ones, or (`all`) the last ones including resolved. */
  list(runId: string, opts: { all?: boolean } = {}): Approval[] {
    if (!opts.all) return [...(this.open.get(runId)?.values() ?? [])].sort((a, b) => a.requestedAt - b.requestedAt);
    const all = new Map(this.o.store.listApprovals(runId, RESOLVED_KEPT).map((a) => [a.approvalId, a]));
    for (const a of this.recent.values()) if (a.runId === runId) all.set(a.approvalId, a);
    for (const a of this.open.get(runId)?.values() ?? []) all.set(a.approvalId, a);
    return [...all.values()].sort((a, b) => a.requestedAt - b.requestedAt).slice(-RESOLVED_KEPT);
  }

  get(runId: string, approvalId: string): Approval | undefined {
    return this.open.get(runId)?.get(approvalId) ?? this.recent.get(key(runId, approvalId)) ?? this.o.store.getApproval(runId, approvalId);
  }

  private serial(runId: string, fn: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(runId) ?? Promise.resolve()).then(fn).catch((err: unknown) => {
      this.o.log.error('approval.write_failed', { run: runId, err: String(err) });
    });
    this.chains.set(runId, next);
    void next.finally(() => {
      if (this.chains.get(runId) === next) this.chains.delete(runId);
    });
    return next;
  }

  /** Applies a change now; writes it, tells subscribers and updates the run's status in order. */
  private change(a: Approval, created = false, written = false): Promise<void> {
    this.cache(a);
    const waiting = this.isWaiting(a.runId);
    return this.serial(a.runId, async () => {
      if (!written) await this.o.store.putApproval(a);
      this.o.bus.publish('approval', { approval: a, created });
      await this.o.runs.setWaiting(a.runId, waiting);
    });
  }

  private isWaiting(runId: string): boolean {
    return (this.open.get(runId)?.size ?? 0) > 0 || this.awaitingInput.has(runId);
  }

  private statusChanged(runId: string): void {
    const waiting = this.isWaiting(runId);
    void this.serial(runId, () => this.o.runs.setWaiting(runId, waiting));
  }

  private audit(actor: string, action: string, runId: string, from: string | null, detail: Record<string, string | number | boolean | null>): void {
    this.o.audit.appendAudit({ at: this.o.now(), actor, action, target: runId, from, detail }).catch((err: unknown) => this.o.log.warn('audit.write_failed', { err: String(err) }));
  }

  /**
   * An operator's answer. The first answer wins: a second one (from this or another viewer)
   * gets ERR_APPROVAL_RESOLVED. The decision goes to the runner at once (or when it reconnects);
   * the promise resolves once the answer is durable.
   */
  async answer(runId: string, approvalId: string, input: AnswerInput, who: Principal, from: string | null): Promise<Approval> {
    await this.heardOf(runId, approvalId);
    const current = this.claimable(runId, approvalId, who);
    const kind = approvalKind(current.toolName);
    // Allowing a question without answers tells Claude "the user did not answer"; a plan's plain approval continues asking before edits.
    if (input.decision === 'allow' && kind === 'questions') throw new CcgError('ERR_BAD_REQUEST', 'Claude asked questions: answer them (ccg runs answer, POST …/answers) or deny');
    if (input.decision === 'allow' && kind === 'plan') return this.answerPlan(runId, approvalId, { decision: 'approve', mode: 'default' }, who, from);
    const always = input.decision === 'allow' && input.always === true;
    if (always && !current.rule && !current.modeSuggestion) throw new CcgError('ERR_BAD_REQUEST', `Claude suggested no rule for "always allow" on this ${current.toolName} request; allow it once instead`);
    const message = input.decision === 'deny' ? (input.message?.trim() || `Denied by ${who.name} (via ccg).`) : null;
    return this.claim(current, { decision: input.decision, always, message }, who, from, { kind, ...(message ? { message: message.slice(0, 300) } : {}) });
  }

  /**
   * Answers an AskUserQuestion: `answers` maps each question's text to an option's label, several
   * labels (multi-select) or free text. First answer wins, as for every approval.
   */
  async answerQuestions(runId: string, approvalId: string, answers: QuestionAnswers, who: Principal, from: string | null): Promise<Approval> {
    await this.heardOf(runId, approvalId);
    const current = this.claimable(runId, approvalId, who);
    if (approvalKind(current.toolName) !== 'questions') throw new CcgError('ERR_BAD_REQUEST', `approval ${approvalId} is a ${current.toolName} request, not questions`);
    const problem = answersProblem(current.questions ?? [], answers);
    if (problem) throw new CcgError('ERR_BAD_REQUEST', problem);
    const summary = Object.entries(answers).map(([q, a]) => `${q.slice(0, 60)}=${(Array.isArray(a) ? a.join(', ') : a).slice(0, 100)}`).join('; ');
    return this.claim(current, { decision: 'allow', always: false, message: null, answers }, who, from, { kind: 'questions', answers: summary.slice(0, 500) });
  }

  /**
   * Answers an ExitPlanMode: approve (and continue in `mode`: default asks before edits,
   * acceptEdits allows them), or keep planning (a deny; `message` tells Claude what to change).
   */
  async answerPlan(runId: string, approvalId: string, input: { decision: 'approve' | 'keep_planning'; mode?: PlanExitMode | undefined; message?: string | undefined }, who: Principal, from: string | null): Promise<Approval> {
    await this.heardOf(runId, approvalId);
    const current = this.claimable(runId, approvalId, who);
    if (approvalKind(current.toolName) !== 'plan') throw new CcgError('ERR_BAD_REQUEST', `approval ${approvalId} is a ${current.toolName} request, not a plan`);
    if (input.decision === 'approve') {
      const mode = input.mode ?? 'default';
      const modes = this.o.runs.get(runId)?.runner?.remote?.modes;
      if (modes && !modes.includes(mode)) throw new CcgError('ERR_NOT_ENABLED', `the runner lets Claude continue only in ${modes.join(', ')} (--modes, or its machine workspace's modes): approve without allowing edits, or keep planning`);
      return this.claim(current, { decision: 'allow', always: false, message: null, mode }, who, from, { kind: 'plan', mode });
    }
    const message = input.message?.trim() ? `Keep planning. ${who.name} says: ${input.message.trim()}` : `Keep planning: ${who.name} did not approve the plan yet (via ccg).`;
    return this.claim(current, { decision: 'deny', always: false, message }, who, from, { kind: 'plan', mode: 'keep_planning', message: message.slice(0, 300) });
  }

  /**
   * A cluster: an operator on this node can see an approval's event (fanned out by the node that
   * holds the runner) a moment before this node has heard of the approval itself (written, then
   * announced, by that node). Waits up to 3 s for it rather than refusing what the operator sees.
   */
  private async heardOf(runId: string, approvalId: string): Promise<void> {
    if (!this.o.store.updateApproval || this.get(runId, approvalId)) return;
    for (const t0 = Date.now(); Date.now() - t0 < 3000 && !this.get(runId, approvalId); ) {
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The pending approval an operator may answer now, or the reason they may not. */
  private claimable(runId: string, approvalId: string, who: Principal): Approval {
    requireRole(who, 'operator');
    const run = this.o.runs.mustGet(runId);
    if (run.runner?.remote?.approval === false) throw new CcgError('ERR_NOT_ENABLED', 'the runner takes no remote approvals (started with --no-remote-approval): it denies permission requests itself');
    let current = this.open.get(runId)?.get(approvalId);
    if (!current && this.o.store.updateApproval) {
      // A cluster: the store's copy can have another node's approval before its announcement
      // reaches this node; pending there is pending (the store still decides the first answer).
      const stored = this.o.store.getApproval(runId, approvalId);
      if (stored?.state === 'pending') {
        this.cache(stored);
        current = stored;
      }
    }
    if (!current) {
      const done = this.get(runId, approvalId);
      if (done?.resolution?.reason === 'ended') throw new CcgError('ERR_APPROVAL_RESOLVED', `approval ${approvalId} was already closed: the run ended (or its runner went) before anyone answered; nothing was sent`);
      if (done) throw new CcgError('ERR_APPROVAL_RESOLVED', `approval ${approvalId} was already ${done.resolution ? `${done.resolution.decision === 'allow' ? 'allowed' : 'denied'} ${done.resolution.reason === 'operator' ? `by ${done.resolution.by}` : `(${done.resolution.reason})`}` : 'answered'}`);
      throw new CcgError('ERR_APPROVAL_NOT_FOUND', `run ${runId} has no approval ${approvalId.slice(0, 64)}`);
    }
    if (current.state !== 'pending') {
      throw new CcgError('ERR_APPROVAL_RESOLVED', `approval ${approvalId} was already ${current.answer?.decision === 'allow' ? 'allowed' : 'denied'} by ${current.answer?.by ?? 'someone'}`);
    }
    if (isFinal(run.status)) throw runEnded(runId, run.status);
    return current;
  }

  /**
   * Claims the approval for this answer (synchronously, before any await: a concurrent second
   * answer sees `answered`), sends it to the runner, audits it with who answered and how.
   */
  private async claim(current: Approval, a: { decision: 'allow' | 'deny'; always: boolean; message: string | null; answers?: QuestionAnswers; mode?: PlanExitMode }, who: Principal, from: string | null, detail: Record<string, string>): Promise<Approval> {
    const answered: Approval = { ...current, state: 'answered', answer: { ...a, by: who.name, at: this.o.now() } };
    const cluster = Boolean(this.o.store.updateApproval);
    if (this.o.store.updateApproval) {
      // A cluster: the store decides which node's answer was first (and has written it).
      this.cache(answered);
      const won = await this.o.store.updateApproval(current.runId, current.approvalId, (latest) => (latest.state === 'pending' ? answered : undefined));
      if (!won) {
        const latest = this.o.store.getApproval(current.runId, current.approvalId) ?? current;
        this.cache(latest.state === 'pending' ? current : latest);
        throw new CcgError('ERR_APPROVAL_RESOLVED', `approval ${current.approvalId} was already ${latest.answer?.decision === 'allow' ? 'allowed' : latest.answer ? 'denied' : 'resolved'} by ${latest.answer?.by ?? 'someone'}`);
      }
    }
    const durable = this.change(answered, false, cluster);
    const delivered = this.deliver(answered);
    this.audit(who.name, 'approval.answer', current.runId, from, { approvalId: current.approvalId, tool: current.toolName, decision: a.decision, always: a.always, ...detail });
    this.o.log.info('approval.answered', { run: current.runId, approval: current.approvalId, decision: a.decision, always: a.always, by: who.name, delivered });
    await durable;
    return answered;
  }

  private deliver(a: Approval): boolean {
    if (!a.answer) return false;
    const { decision, always, message, by } = a.answer;
    // For a runner that reports the approval resolved with it: its event then names `by` as the gateway vouches (credits.ts).
    const echoes = this.o.runs.get(a.runId)?.runner?.approvalCredits === true;
    const creditId = echoes ? this.o.credits.mint(a.runId, { kind: 'approval', approvalId: a.approvalId, decision, always, message: decision === 'deny' ? message : null }, by) : undefined;
    return this.o.runs.sendToRunner(a.runId, {
      type: 'approval_decision',
      approvalId: a.approvalId,
      decision,
      always,
      message,
      by,
      ...(a.answer.answers ? { answers: a.answer.answers } : {}),
      ...(a.answer.mode ? { mode: a.answer.mode } : {}),
      ...(creditId ? { creditId } : {}),
    });
  }

  private requested(runId: string, info: ApprovalInfo): void {
    if (this.get(runId, info.approvalId)) return;
    // Claude asks one at a time; a runner reporting more than this is broken or hostile.
    if ((this.open.get(runId)?.size ?? 0) >= MAX_PENDING_APPROVALS) {
      this.o.log.warn('approval.too_many', { run: runId, open: MAX_PENDING_APPROVALS });
      return;
    }
    this.o.log.info('approval.requested', { run: runId, approval: info.approvalId, tool: info.toolName });
    void this.change({ ...info, runId, state: 'pending', requestedAt: this.o.now(), answer: null, resolution: null }, true);
  }

  /**
   * Who resolved an approval, as the runner's `approval_resolved` says and the gateway can vouch
   * for. An operator is credited only with the answer the gateway holds from them (the same
   * decision and always, or an "always" the runner narrowed to once): a runner saying "olivia allowed it" for an approval nobody answered,
   * or answered otherwise, decided it itself (RUNNER_CLAIMED_OPERATOR). The timeline asks too.
   */
  creditFor(runId: string, ev: Pick<ApprovalResolved, 'approvalId' | 'decision' | 'always' | 'by' | 'reason'>): string {
    if (ev.reason !== 'operator') return ev.by;
    const a = this.get(runId, ev.approvalId);
    if (a?.resolution) return a.resolution.by; // resolved already: what was decided then
    // A runner may narrow an operator's "always" to once (its --modes refuse the mode it would switch to), never widen it.
    const answered = a?.answer && a.answer.decision === ev.decision && (a.answer.always === ev.always || (a.answer.always && !ev.always));
    return answered ? a.answer!.by : RUNNER_CLAIMED_OPERATOR;
  }

  /** Runner events of one committed chunk (called in commit order). Returns when their writes are done. */
  onEvents(runId: string, events: readonly RunnerEvent[]): Promise<void> {
    for (const ev of events) {
      switch (ev.type) {
        case 'approval_requested': {
          const { type: _t, ...info } = ev;
          this.requested(runId, info);
          break;
        }
        case 'approval_resolved': {
          const a = this.get(runId, ev.approvalId);
          if (!a || a.state === 'resolved') break;
          const by = this.creditFor(runId, ev);
          if (ev.reason !== 'operator' || by === RUNNER_CLAIMED_OPERATOR) {
            const detail: Record<string, string> = { approvalId: ev.approvalId, tool: a.toolName, decision: ev.decision };
            if (ev.reason === 'operator') detail['claimedBy'] = ev.by;
            this.audit(ev.reason === 'timeout' ? 'timeout' : 'runner', `approval.${ev.reason === 'operator' ? 'runner' : ev.reason}`, runId, null, detail);
          }
          void this.change({ ...a, state: 'resolved', resolution: { decision: ev.decision, always: ev.always, message: ev.message, by, reason: ev.reason, at: this.o.now() } });
          break;
        }
        case 'approvals_sync': {
          const live = new Set(ev.pending.map((p) => p.approvalId));
          for (const info of ev.pending) {
            const known = this.get(runId, info.approvalId);
            if (!known) this.requested(runId, info);
            else if (known.state === 'answered') this.deliver(known); // the answer may have been lost with the old connection
          }
          for (const a of [...(this.open.get(runId)?.values() ?? [])]) {
            if (live.has(a.approvalId)) continue;
            // The runner no longer waits for it (it restarted, or the resolution was lost).
            void this.change({ ...a, state: 'resolved', resolution: { decision: 'deny', always: false, message: null, by: 'runner', reason: 'ended', at: this.o.now() } });
          }
          this.statusChanged(runId);
          break;
        }
        case 'awaiting_input':
          this.awaitingInput.add(runId);
          this.statusChanged(runId);
          break;
        case 'input_sent':
        case 'input_closed':
          if (this.awaitingInput.delete(runId)) this.statusChanged(runId);
          break;
        case 'pty_waiting':
          // Interactive Claude in a pty (its Notification hook): waiting until keys reach it.
          if (ev.waiting) this.awaitingInput.add(runId);
          else this.awaitingInput.delete(runId);
          this.statusChanged(runId);
          break;
        default:
          break;
      }
    }
    return this.chains.get(runId) ?? Promise.resolve();
  }

  /** A run reached a final state: whatever is still open will never be answered. */
  onRun(run: RunSummary): void {
    if (!isFinal(run.status)) return;
    this.awaitingInput.delete(run.id);
    for (const a of [...(this.open.get(run.id)?.values() ?? [])]) {
      void this.change({ ...a, state: 'resolved', resolution: { decision: 'deny', always: false, message: null, by: 'gateway', reason: 'ended', at: this.o.now() } });
    }
  }
}

import type { Approval } from '../../protocol/claude-control.js';
import { MAX_PENDING_APPROVALS, type ApprovalInfo } from '../../protocol/claude-events.js';
import { CcgError } from '../../protocol/errors.js';
import { isFinal, type RunSummary } from '../../protocol/run.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import type { Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { RunService } from '../runs.js';
import type { ClaudeStore } from '../store/claude-store.js';
import type { AuthStore } from '../store/types.js';

export interface ApprovalServiceOptions {
  store: ClaudeStore;
  audit: Pick<AuthStore, 'appendAudit'>;
  runs: RunService;
  log: Logger;
  now: () => number;
}

export interface AnswerInput {
  decision: 'allow' | 'deny';
  always?: boolean | undefined;
  message?: string | undefined;
}

/** What the notifier hears: an approval appeared or changed. */
export interface ApprovalSignal {
  approval: Approval;
  created: boolean;
}

const RELEVANT = new Set(['approval_requested', 'approval_resolved', 'approvals_sync', 'awaiting_input', 'input_sent', 'input_closed']);

const RESOLVED_KEPT = 200;

/**
 * Remote approvals on the gateway. The runner owns the truth (it answers Claude and reports how,
 * in its event stream); the gateway keeps every approval in LMDB, lets the first operator answer
 * win, forwards that answer, and follows what the runner reports:
 *
 *   approval_requested  → pending (run status "waiting")
 *   operator answers    → answered, the decision is sent to the runner (again after a reconnect)
 *   approval_resolved   → resolved (by the operator, a timeout, Claude withdrawing it, or the run ending)
 *   approvals_sync      → after every runner (re)connect: add what is missing, re-send answers, close the rest
 */
export class ApprovalService {
  /** Approvals not yet resolved, by run, then by id: the write-through cache of the store. */
  private readonly open = new Map<string, Map<string, Approval>>();
  /** Runs where Claude finished a turn and waits for a follow-up. */
  private readonly awaitingInput = new Set<string>();
  private readonly listeners = new Map<string, Set<(a: Approval) => void>>();
  private readonly signalListeners = new Set<(s: ApprovalSignal) => void>();
  /** Per run, the processing of its events and state changes, one after the other. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly o: ApprovalServiceOptions) {
    for (const a of o.store.listOpenApprovals()) this.cache(a);
  }

  private cache(a: Approval): void {
    let m = this.open.get(a.runId);
    if (a.state === 'resolved') {
      m?.delete(a.approvalId);
      if (m && m.size === 0) this.open.delete(a.runId);
      return;
    }
    if (!m) this.open.set(a.runId, (m = new Map()));
    m.set(a.approvalId, a);
  }

  /** A run's approvals: the open ones, or (`all`) the last ones including resolved. */
  list(runId: string, opts: { all?: boolean } = {}): Approval[] {
    if (!opts.all) return [...(this.open.get(runId)?.values() ?? [])].sort((a, b) => a.requestedAt - b.requestedAt);
    const stored = new Map(this.o.store.listApprovals(runId, RESOLVED_KEPT).map((a) => [a.approvalId, a]));
    for (const a of this.open.get(runId)?.values() ?? []) stored.set(a.approvalId, a);
    return [...stored.values()].sort((a, b) => a.requestedAt - b.requestedAt);
  }

  get(runId: string, approvalId: string): Approval | undefined {
    return this.open.get(runId)?.get(approvalId) ?? this.o.store.getApproval(runId, approvalId);
  }

  /** Changes of one run's approvals (operator sockets subscribed to the run). */
  onChange(runId: string, listener: (a: Approval) => void): () => void {
    let set = this.listeners.get(runId);
    if (!set) this.listeners.set(runId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(runId);
    };
  }

  onSignal(listener: (s: ApprovalSignal) => void): () => void {
    this.signalListeners.add(listener);
    return () => this.signalListeners.delete(listener);
  }

  private async save(a: Approval, created = false): Promise<void> {
    this.cache(a);
    await this.o.store.putApproval(a);
    for (const l of this.listeners.get(a.runId) ?? []) l(a);
    for (const l of this.signalListeners) l({ approval: a, created });
    await this.updateStatus(a.runId);
  }

  private async updateStatus(runId: string): Promise<void> {
    const waiting = (this.open.get(runId)?.size ?? 0) > 0 || this.awaitingInput.has(runId);
    await this.o.runs.setWaiting(runId, waiting);
  }

  private audit(actor: string, action: string, runId: string, from: string | null, detail: Record<string, string | number | boolean | null>): void {
    this.o.audit.appendAudit({ at: this.o.now(), actor, action, target: runId, from, detail }).catch((err: unknown) => this.o.log.warn('audit.write_failed', { err: String(err) }));
  }

  /**
   * An operator's answer. The first answer wins: a second one (from this or another viewer)
   * gets ERR_APPROVAL_RESOLVED. The decision is sent to the runner now, or when it reconnects.
   */
  async answer(runId: string, approvalId: string, input: AnswerInput, who: Principal, from: string | null): Promise<Approval> {
    const run = this.o.runs.mustGet(runId);
    const current = this.open.get(runId)?.get(approvalId);
    if (!current) {
      const stored = this.o.store.getApproval(runId, approvalId);
      if (stored) throw new CcgError('ERR_APPROVAL_RESOLVED', `approval ${approvalId} was already ${stored.resolution ? `${stored.resolution.decision === 'allow' ? 'allowed' : 'denied'} by ${stored.resolution.by}` : 'answered'}`);
      throw new CcgError('ERR_APPROVAL_NOT_FOUND', `run ${runId} has no approval ${approvalId.slice(0, 64)}`);
    }
    if (current.state !== 'pending') {
      throw new CcgError('ERR_APPROVAL_RESOLVED', `approval ${approvalId} was already ${current.answer?.decision === 'allow' ? 'allowed' : 'denied'} by ${current.answer?.by ?? 'someone'}`);
    }
    if (isFinal(run.status)) throw new CcgError('ERR_RUN_FINISHED', `run ${runId} is already ${run.status}`);
    const always = input.decision === 'allow' && input.always === true;
    if (always && !current.rule) throw new CcgError('ERR_BAD_REQUEST', `Claude suggested no rule for "always allow" on this ${current.toolName} request; allow it once instead`);
    const message = input.decision === 'deny' ? (input.message?.trim() || `Denied by ${who.name} (via ccg).`) : null;
    const answered: Approval = { ...current, state: 'answered', answer: { decision: input.decision, always, message, by: who.name, at: this.o.now() } };
    // Claimed synchronously, before any await: a concurrent second answer sees `answered`.
    this.cache(answered);
    this.audit(who.name, 'approval.answer', runId, from, {
      approvalId,
      tool: current.toolName,
      decision: input.decision,
      always,
      ...(message ? { message: message.slice(0, 300) } : {}),
    });
    await this.save(answered);
    const delivered = this.deliver(answered);
    this.o.log.info('approval.answered', { run: runId, approval: approvalId, decision: input.decision, always, by: who.name, delivered });
    return answered;
  }

  private deliver(a: Approval): boolean {
    if (!a.answer) return false;
    return this.o.runs.sendToRunner(a.runId, {
      type: 'approval_decision',
      approvalId: a.approvalId,
      decision: a.answer.decision,
      always: a.answer.always,
      message: a.answer.message,
      by: a.answer.by,
    });
  }

  private requested(runId: string, info: ApprovalInfo): Promise<void> {
    if (this.open.get(runId)?.has(info.approvalId) || this.o.store.getApproval(runId, info.approvalId)) return Promise.resolve();
    // Claude asks one at a time; a runner reporting more than this is broken or hostile.
    if ((this.open.get(runId)?.size ?? 0) >= MAX_PENDING_APPROVALS) {
      this.o.log.warn('approval.too_many', { run: runId, open: MAX_PENDING_APPROVALS });
      return Promise.resolve();
    }
    const a: Approval = { ...info, runId, state: 'pending', requestedAt: this.o.now(), answer: null, resolution: null };
    this.o.log.info('approval.requested', { run: runId, approval: info.approvalId, tool: info.toolName });
    return this.save(a, true);
  }

  private serial(runId: string, fn: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(runId) ?? Promise.resolve()).then(fn).catch((err: unknown) => {
      this.o.log.error('approval.state_failed', { run: runId, err: String(err) });
    });
    this.chains.set(runId, next);
    void next.finally(() => {
      if (this.chains.get(runId) === next) this.chains.delete(runId);
    });
    return next;
  }

  /** Runner events of one committed chunk (called in commit order; processed in that order). */
  onEvents(runId: string, events: RunnerEvent[]): Promise<void> {
    const relevant = events.filter((e) => RELEVANT.has(e.type));
    if (relevant.length === 0) return Promise.resolve();
    return this.serial(runId, () => this.process(runId, relevant));
  }

  private async process(runId: string, events: RunnerEvent[]): Promise<void> {
    for (const ev of events) {
      switch (ev.type) {
        case 'approval_requested': {
          const { type: _t, ...info } = ev;
          await this.requested(runId, info);
          break;
        }
        case 'approval_resolved': {
          const a = this.get(runId, ev.approvalId);
          if (!a || a.state === 'resolved') break;
          const resolution = { decision: ev.decision, always: ev.always, message: ev.message, by: ev.by, reason: ev.reason, at: this.o.now() };
          if (ev.reason !== 'operator') {
            this.audit(ev.reason === 'timeout' ? 'timeout' : 'runner', `approval.${ev.reason}`, runId, null, { approvalId: ev.approvalId, tool: a.toolName, decision: ev.decision });
          }
          await this.save({ ...a, state: 'resolved', resolution });
          break;
        }
        case 'approvals_sync': {
          const live = new Set(ev.pending.map((p) => p.approvalId));
          for (const info of ev.pending) {
            const known = this.get(runId, info.approvalId);
            if (!known) await this.requested(runId, info);
            else if (known.state === 'answered') this.deliver(known); // the answer may have been lost with the old connection
          }
          for (const a of [...(this.open.get(runId)?.values() ?? [])]) {
            if (live.has(a.approvalId)) continue;
            // The runner no longer waits for it (it restarted, or the resolution was lost).
            await this.save({ ...a, state: 'resolved', resolution: { decision: 'deny', always: false, message: null, by: 'runner', reason: 'ended', at: this.o.now() } });
          }
          await this.updateStatus(runId);
          break;
        }
        case 'awaiting_input':
          this.awaitingInput.add(runId);
          await this.updateStatus(runId);
          break;
        case 'input_sent':
        case 'input_closed':
          if (this.awaitingInput.delete(runId)) await this.updateStatus(runId);
          break;
        default:
          break;
      }
    }
  }

  /** A run reached a final state: whatever is still open will never be answered. */
  onRun(run: RunSummary): void {
    if (!isFinal(run.status)) return;
    this.awaitingInput.delete(run.id);
    if (!this.open.has(run.id)) return;
    void this.serial(run.id, async () => {
      for (const a of [...(this.open.get(run.id)?.values() ?? [])]) {
        await this.save({ ...a, state: 'resolved', resolution: { decision: 'deny', always: false, message: null, by: 'gateway', reason: 'ended', at: this.o.now() } });
      }
    });
  }
}

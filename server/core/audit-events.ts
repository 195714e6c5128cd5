import type { RunnerEvent } from '../../protocol/runner-events.js';
import type { Logger } from '../log.js';
import type { AuditEntry, AuthStore } from '../store/types.js';

/**
 * The audit trail of what runners report doing for the gateway: allowlisted commands (exit,
 * refusal), artifact collections and assist sessions (opened, closed, refused). It listens to the bus's `events`. The
 * actor is the runner; the request that caused it was audited with its operator when it was made.
 * No link of an assist session is ever written here. `claim` (RunService.claimAnswer) decides
 * which reports are audited: one per request the gateway issued, a few unsolicited ones per run.
 */
export function auditPowerEvents(store: AuthStore, now: () => number, log: Logger, claim: (runId: string, requestId: string | null) => boolean): (runId: string, events: readonly RunnerEvent[]) => void {
  return (runId, events) => {
    for (const ev of events) {
      let entry: Pick<AuditEntry, 'action' | 'detail'> | null = null;
      switch (ev.type) {
        case 'exec_exit':
          entry = { action: 'command.exit', detail: { name: ev.name, requestId: ev.requestId, code: ev.code, timedOut: ev.timedOut, truncated: ev.truncated } };
          break;
        case 'exec_refused':
          entry = { action: 'command.refused', detail: { name: ev.name, requestId: ev.requestId, reason: ev.reason.slice(0, 300) } };
          break;
        case 'collect_done':
          entry = { action: 'artifacts.collected', detail: { requestId: ev.requestId, trigger: ev.trigger, uploaded: ev.uploaded.length, skipped: ev.skipped.length, error: ev.error?.slice(0, 300) ?? null } };
          break;
        case 'assist_started':
          entry = { action: 'assist.started', detail: { requestId: ev.requestId, expiresAt: ev.expiresAt } };
          break;
        case 'assist_stopped':
          entry = { action: 'assist.stopped', detail: { requestId: ev.requestId, reason: ev.reason.slice(0, 300) } };
          break;
        case 'assist_refused':
          entry = { action: 'assist.refused', detail: { requestId: ev.requestId, reason: ev.reason.slice(0, 300) } };
          break;
        default:
          break;
      }
      // Only an answer to a request this gateway made and has not seen answered (or one of a few
      // unsolicited reports): a run token alone cannot flood the log and evict its history.
      if (!entry || !claim(runId, (entry.detail as { requestId: string | null }).requestId)) continue;
      store.appendAudit({ at: now(), actor: 'runner', target: runId, from: null, ...entry }).catch((err: unknown) => log.warn('audit.write_failed', { err: String(err) }));
    }
  };
}

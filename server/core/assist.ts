import { tmateShapedLinks, type AssistInfo, type AssistStatusBody } from '../../protocol/assist.js';
import { isFinal, type RunSummary } from '../../protocol/run.js';
import type { EventBus } from '../live/bus.js';
import type { Logger } from '../log.js';

export interface AssistServiceOptions {
  bus: EventBus;
  log: Logger;
  now: () => number;
}

/**
 * What the gateway knows of each run's assist session, as the runner last reported it. Kept in
 * memory only: the links are credentials, and a runner re-sends them after every reconnect, so a
 * restarted gateway learns them again without ever writing them to disk. Changes go out on the
 * bus (`assist`): operator sockets and live pages pass them on to operators and admins only.
 */
export class AssistService {
  private readonly state = new Map<string, AssistInfo>();

  constructor(private readonly o: AssistServiceOptions) {}

  /** A run changed (the bus's `run`): when it ends its runner stops tmate; forget the links even if that report never came. */
  onRun(run: RunSummary): void {
    if (!isFinal(run.status)) return;
    const cur = this.state.get(run.id);
    if (cur && (cur.state === 'active' || cur.state === 'starting')) {
      this.set(run.id, { requestId: null, state: 'stopped', links: null, expiresAt: null, reason: 'the run ended', updatedAt: this.o.now() });
    }
  }

  /** The session of a run (null: none was ever started). */
  get(runId: string): AssistInfo | null {
    return this.state.get(runId) ?? null;
  }

  /** A report from the run's runner. A refusal answers one request and leaves the session as it was. */
  report(runId: string, body: AssistStatusBody): void {
    // Field by field: the runner's message carries its own `type`, which is not part of the info.
    // Checked again here (the runner may not be ccg's): operators paste these into terminals.
    const { links, dropped } = tmateShapedLinks(body.links);
    let reason = body.reason;
    if (dropped.length > 0) {
      this.o.log.warn('assist.links_dropped', { run: runId, fields: dropped.join(',') }); // never the links themselves
      reason = `the runner reported links not in tmate's shape (${dropped.join(', ')}); they were dropped`;
    }
    // Links exist only while the session is open: a report of them in any other state is not
    // kept, so the API, the operator socket and the page hand out (and audit) the same thing.
    const info: AssistInfo = { requestId: body.requestId, state: body.state, links: body.state === 'active' ? links : null, expiresAt: body.expiresAt, reason, updatedAt: this.o.now() };
    this.o.log.info('assist.status', { run: runId, state: body.state, reason: body.reason ?? undefined });
    if (body.state === 'refused') {
      this.o.bus.publish('assist', { runId, info });
      return;
    }
    this.set(runId, info);
  }

  private set(runId: string, info: AssistInfo): void {
    this.state.set(runId, info);
    this.o.bus.publish('assist', { runId, info });
  }
}

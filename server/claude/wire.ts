import type { Agent } from 'node:https';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import type { EventBus } from '../live/bus.js';
import type { Logger } from '../log.js';
import { Notifier } from '../notify/notifier.js';
import { WebPush, ensureVapidKeys } from '../notify/web-push.js';
import type { RunService } from '../core/runs.js';
import { LmdbClaudeStore, MemoryClaudeStore, type ClaudeStore } from '../store/claude-store.js';
import { LmdbStore } from '../store/lmdb-store.js';
import type { Store } from '../store/types.js';
import { operatorSteering, type OperatorSteering } from '../ws/operator-steering.js';
import { ApprovalService } from '../core/approvals.js';
import { SteeringService } from '../core/steering.js';

/** Gateway options for notifications (createGateway passes them through). */
export interface NotifyOptions {
  /** Webhook or ntfy topic URL (CCG_NOTIFY_URL). */
  notifyUrl?: string;
  notifyFormat?: 'json' | 'ntfy';
  /** VAPID contact, `mailto:` or `https:` (CCG_VAPID_SUBJECT). */
  vapidSubject?: string;
  /** Push hosts allowed besides the browsers' own push services (CCG_PUSH_HOSTS / --push-hosts). */
  pushHosts?: string[];
  /** Tests: trust the local push service / webhook stand-ins (used for the configured push hosts). */
  pushAgent?: Agent;
  notifyAgent?: Agent;
}

export interface ClaudeWiring {
  store: ClaudeStore;
  approvals: ApprovalService;
  steering: SteeringService;
  push: WebPush;
  notifier: Notifier;
  operatorSteering: OperatorSteering;
  /** Runner events of each committed event chunk. */
  onEvents(runId: string, events: RunnerEvent[]): void;
}

/**
 * Builds the Claude side of the gateway (approvals, input, notifications) on top of the run
 * service, and subscribes it to run changes.
 */
export function wireClaude(o: NotifyOptions & { dataDir: string; store: Store; runs: RunService; bus: EventBus; log: Logger; now: () => number; baseUrl: () => string }): ClaudeWiring {
  const store: ClaudeStore = o.store instanceof LmdbStore ? new LmdbClaudeStore(o.store.root) : new MemoryClaudeStore();
  const approvals = new ApprovalService({ store, audit: o.store, runs: o.runs, log: o.log, now: o.now });
  const steering = new SteeringService({ runs: o.runs, audit: o.store, log: o.log, now: o.now });
  const subject = o.vapidSubject ?? (o.baseUrl().startsWith('https://') && !/\/\/(localhost|127\.)/.test(o.baseUrl()) ? o.baseUrl() : 'mailto:ccg@localhost.localdomain');
  const push = new WebPush({
    store,
    keys: ensureVapidKeys(o.dataDir),
    subject,
    log: o.log,
    now: o.now,
    ...(o.pushAgent ? { agent: o.pushAgent } : {}),
    ...(o.pushHosts ? { pushHosts: o.pushHosts } : {}),
  });
  const notifier = new Notifier({
    url: o.notifyUrl,
    format: o.notifyFormat,
    push,
    baseUrl: o.baseUrl,
    runName: (id) => o.runs.get(id)?.name ?? id,
    log: o.log,
    ...(o.notifyAgent ? { agent: o.notifyAgent as import('node:https').Agent } : {}),
  });
  approvals.onSignal((s) => notifier.onApproval(s));
  o.bus.onRun((run) => {
    approvals.onRun(run);
    notifier.onRun(run);
  });
  return {
    store,
    approvals,
    steering,
    push,
    notifier,
    operatorSteering: operatorSteering(approvals, steering, o.log),
    onEvents(runId, events) {
      void approvals.onEvents(runId, events);
      notifier.onEvents(runId, events);
    },
  };
}

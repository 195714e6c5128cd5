import type { AccountService } from '../auth/accounts.js';
import type { SecretBox } from '../auth/secret-box.js';
import type { SessionService } from '../auth/sessions.js';
import type { LoginThrottle } from '../auth/throttle.js';
import type { EventBus } from '../live/bus.js';
import type { TermSnapshots } from '../live/term-snapshots.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../notify/notifier.js';
import type { WebPush } from '../notify/web-push.js';
import type { Store } from '../store/types.js';
import type { ApprovalService } from './approvals.js';
import type { ArtifactService } from './artifacts.js';
import type { AuditBudget } from './audit-budget.js';
import type { LiveTextService } from './live-text.js';
import type { AssistService } from './assist.js';
import type { PolicyService } from './policy.js';
import type { Requests } from './requests.js';
import type { RunService } from './runs.js';
import type { SteeringService } from './steering.js';
import type { MachineService } from './machines.js';
import type { ClaudeSessionService } from './claude-session.js';

/**
 * Everything `createGateway` builds, handed to the transports (http/, ws/) whole. They take what
 * they need from it; none of them builds a service of its own.
 */
export interface Services {
  store: Store;
  bus: EventBus;
  log: Logger;
  now: () => number;
  /** The gateway's secret key (run tokens, TOTP secrets). */
  box: SecretBox;
  runs: RunService;
  /** Who may trigger which advertised command. */
  policy: PolicyService;
  artifacts: ArtifactService;
  assist: AssistService;
  approvals: ApprovalService;
  /** Follow-up input, keystrokes and terminal size. */
  steering: SteeringService;
  /** A Claude session's mode and model, and the controls that change them or stop a turn. */
  claudeSession: ClaudeSessionService;
  /** Screen snapshots of pty runs (a viewer opens from the latest one). */
  screens: TermSnapshots;
  /** The operations both the JSON API and the pages call (requests.ts). */
  requests: Requests;
  accounts: AccountService;
  sessions: SessionService;
  throttle: LoginThrottle;
  push: WebPush;
  notifier: Notifier;
  /** Machine daemons and the runs started on them. */
  machines: MachineService;
  /** The audit log's retention and size budget. */
  auditBudget: AuditBudget;
  /** The reply Claude is writing in each run (live text, never stored). */
  liveText: LiveTextService;
}

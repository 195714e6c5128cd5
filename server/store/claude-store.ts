import type { Database, RootDatabase } from 'lmdb';
import type { Approval } from '../../protocol/claude-control.js';

/** A browser's Web Push subscription (what PushManager.subscribe() returns), and whose it is. */
export interface PushSubscriptionRecord {
  /** SHA-256 of the endpoint, base64url: the id the API hands out. */
  id: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
  user: string;
  createdAt: number;
}

/**
 * Storage for approvals and push subscriptions. Narrow, like the run store, so a clustered
 * deployment can put it elsewhere. Approvals survive a gateway restart: they are written before
 * anyone is told about them.
 */
export interface ClaudeStore {
  putApproval(a: Approval): Promise<void>;
  getApproval(runId: string, approvalId: string): Approval | undefined;
  /** A run's approvals, oldest first (at most `limit`). */
  listApprovals(runId: string, limit: number): Approval[];
  /** Approvals not yet resolved, of every run (loaded at start). */
  listOpenApprovals(): Approval[];
  putPushSubscription(s: PushSubscriptionRecord): Promise<void>;
  deletePushSubscription(id: string): Promise<boolean>;
  listPushSubscriptions(): PushSubscriptionRecord[];
}

const OPEN_KEY = 'open';

/**
 * LMDB collections in the gateway's environment: `approvals` keyed [runId, approvalId] plus a
 * small index of open ones, and `push-subscriptions` keyed by id.
 */
export class LmdbClaudeStore implements ClaudeStore {
  private readonly approvals: Database<Approval, [string, string]>;
  private readonly open: Database<string[], string>;
  private readonly subs: Database<PushSubscriptionRecord, string>;

  constructor(root: RootDatabase) {
    this.approvals = root.openDB({ name: 'approvals' });
    this.open = root.openDB({ name: 'approvals-open' });
    this.subs = root.openDB({ name: 'push-subscriptions' });
  }

  async putApproval(a: Approval): Promise<void> {
    const key = `${a.runId}/${a.approvalId}`;
    await this.approvals.transaction(() => {
      this.approvals.put([a.runId, a.approvalId], a);
      const open = new Set(this.open.get(OPEN_KEY) ?? []);
      if (a.state === 'resolved') open.delete(key);
      else open.add(key);
      this.open.put(OPEN_KEY, [...open]);
    });
  }

  getApproval(runId: string, approvalId: string): Approval | undefined {
    return this.approvals.get([runId, approvalId]);
  }

  listApprovals(runId: string, limit: number): Approval[] {
    const out = [...this.approvals.getRange({ start: [runId, ''], end: [runId, '\uffff'] })].map((e) => e.value);
    return out.sort((a, b) => a.requestedAt - b.requestedAt).slice(-limit);
  }

  listOpenApprovals(): Approval[] {
    const out: Approval[] = [];
    for (const key of this.open.get(OPEN_KEY) ?? []) {
      const [runId, id] = key.split('/');
      const a = runId && id ? this.approvals.get([runId, id]) : undefined;
      if (a && a.state !== 'resolved') out.push(a);
    }
    return out;
  }

  async putPushSubscription(s: PushSubscriptionRecord): Promise<void> {
    await this.subs.put(s.id, s);
  }

  async deletePushSubscription(id: string): Promise<boolean> {
    return this.subs.remove(id);
  }

  listPushSubscriptions(): PushSubscriptionRecord[] {
    return [...this.subs.getRange()].map((e) => e.value);
  }
}

/** The same in memory, for gateways built on a store other than LMDB (and for tests). */
export class MemoryClaudeStore implements ClaudeStore {
  private readonly approvals = new Map<string, Approval>();
  private readonly subs = new Map<string, PushSubscriptionRecord>();

  async putApproval(a: Approval): Promise<void> {
    this.approvals.set(`${a.runId}/${a.approvalId}`, a);
  }
  getApproval(runId: string, approvalId: string): Approval | undefined {
    return this.approvals.get(`${runId}/${approvalId}`);
  }
  listApprovals(runId: string, limit: number): Approval[] {
    return [...this.approvals.values()].filter((a) => a.runId === runId).sort((a, b) => a.requestedAt - b.requestedAt).slice(-limit);
  }
  listOpenApprovals(): Approval[] {
    return [...this.approvals.values()].filter((a) => a.state !== 'resolved');
  }
  async putPushSubscription(s: PushSubscriptionRecord): Promise<void> {
    this.subs.set(s.id, s);
  }
  async deletePushSubscription(id: string): Promise<boolean> {
    return this.subs.delete(id);
  }
  listPushSubscriptions(): PushSubscriptionRecord[] {
    return [...this.subs.values()];
  }
}

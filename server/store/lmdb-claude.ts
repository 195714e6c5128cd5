import type { Database, RootDatabase } from 'lmdb';
import type { Approval } from '../../protocol/claude-control.js';
import type { ClaudeStore, PushSubscriptionRecord } from './types.js';

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

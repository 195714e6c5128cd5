import type { Database, RootDatabase } from 'lmdb';
import type { Approval } from '../../protocol/claude-control.js';
import type { ClaudeStore, PushSubscriptionRecord } from './types.js';

const OPEN_KEY = 'open';

/** An open approval's entry in the index: JSON, so a run id holding a `/` reads back whole. */
function openKey(runId: string, approvalId: string): string {
  return JSON.stringify([runId, approvalId]);
}

/** Reads an index entry: JSON, or `runId/approvalId` as gateways before it wrote them (run ids never hold a `/`). */
function parseOpenKey(key: string): [string | undefined, string | undefined] {
  if (key.startsWith('[')) {
    const parsed: unknown = JSON.parse(key);
    return Array.isArray(parsed) && typeof parsed[0] === 'string' && typeof parsed[1] === 'string' ? [parsed[0], parsed[1]] : [undefined, undefined];
  }
  const slash = key.indexOf('/');
  return slash < 0 ? [undefined, undefined] : [key.slice(0, slash), key.slice(slash + 1)];
}

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
    const key = openKey(a.runId, a.approvalId);
    await this.approvals.transaction(() => {
      this.approvals.put([a.runId, a.approvalId], a);
      const open = new Set(this.open.get(OPEN_KEY) ?? []);
      open.delete(`${a.runId}/${a.approvalId}`); // as older gateways wrote it
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
      const [runId, id] = parseOpenKey(key);
      const a = runId && id ? this.approvals.get([runId, id]) : undefined;
      if (a && a.state !== 'resolved') out.push(a);
    }
    return out;
  }

  async putPushSubscription(s: PushSubscriptionRecord): Promise<void> {
    await this.subs.put(s.id, s);
  }

  async deletePushSubscription(id: string): Promise<boolean> {
    // True only for the call that removed it (a plain lmdb-js remove resolves true regardless).
    return this.subs.transaction(() => {
      if (this.subs.get(id) === undefined) return false;
      this.subs.remove(id);
      return true;
    });
  }

  listPushSubscriptions(): PushSubscriptionRecord[] {
    return [...this.subs.getRange()].map((e) => e.value);
  }
}

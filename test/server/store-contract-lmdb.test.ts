import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import type { Approval } from '../../protocol/claude-control.js';
import { LmdbStore } from '../../server/store/lmdb-store.js';
import type { Store } from '../../server/store/types.js';
import { tempDir } from '../helpers/gateway.js';
import { storeContract } from '../helpers/store-contract.js';

// The embedded store against the store contract, each test in its own temp data dir.
storeContract('lmdb', async () => {
  const dir = tempDir('ccg-store-contract-');
  let store: Store = LmdbStore.open(dir);
  let open = true;
  const h = {
    store,
    async reopen(): Promise<Store> {
      if (open) await store.close();
      store = h.store = LmdbStore.open(dir);
      open = true;
      return store;
    },
    async close(): Promise<void> {
      if (open) await store.close();
      open = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
});

test('lmdb: open approvals indexed by an older gateway (`runId/approvalId`) are still listed, and resolving one drops it', async (t) => {
  const dir = tempDir('ccg-store-legacy-');
  const store = LmdbStore.open(dir);
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const approval = (id: string, state: Approval['state']): Approval => ({
    approvalId: id, toolName: 'Bash', displayName: null, toolUseId: null, input: {}, inputTruncated: false, description: null, blockedPath: null,
    rule: null, expiresAt: 1, runId: 'abcdefghjkmn', state, requestedAt: 1, answer: null, resolution: null,
  });
  // As the index was written before it held JSON: the approval and a `runId/approvalId` entry.
  await store.root.openDB<Approval, [string, string]>({ name: 'approvals' }).put(['abcdefghjkmn', 'appr_0000000000000001'], approval('appr_0000000000000001', 'pending'));
  await store.root.openDB<string[], string>({ name: 'approvals-open' }).put('open', ['abcdefghjkmn/appr_0000000000000001']);
  assert.deepEqual(store.listOpenApprovals().map((a) => a.approvalId), ['appr_0000000000000001']);
  await store.putApproval(approval('appr_0000000000000002', 'pending'));
  assert.deepEqual(store.listOpenApprovals().map((a) => a.approvalId).sort(), ['appr_0000000000000001', 'appr_0000000000000002']);
  await store.putApproval(approval('appr_0000000000000001', 'resolved'));
  assert.deepEqual(store.listOpenApprovals().map((a) => a.approvalId), ['appr_0000000000000002']);
  assert.deepEqual(store.root.openDB<string[], string>({ name: 'approvals-open' }).get('open'), [JSON.stringify(['abcdefghjkmn', 'appr_0000000000000002'])], 'the old entry is gone from the index');
});

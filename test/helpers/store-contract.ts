import { accountContract } from './store-contract/accounts.js';
import { authContract } from './store-contract/auth.js';
import { claudeContract } from './store-contract/claude.js';
import { clusterContract } from './store-contract/cluster.js';
import { contractTest, type OpenStore, type StoreTraits } from './store-contract/fixtures.js';
import { runContract } from './store-contract/runs.js';

export type { OpenStore, StoreTraits, StoreUnderTest } from './store-contract/fixtures.js';

/**
 * The contract every `Store` implementation passes (server/store/types.ts): registers one
 * node:test test per behaviour, each on a fresh store from `open`. Chunk reads are awaited, so
 * the suite holds whether an implementation answers them synchronously or with a promise. The
 * two-node tests run only when `open` offers a `peer` (a cluster store); `traits` names what
 * the implementation does its own way where the contract allows two.
 */
export function storeContract(name: string, open: OpenStore, opts: { timeout?: number; traits?: StoreTraits } = {}): void {
  const t = contractTest(name, open, opts.timeout ?? 120_000);
  const traits = opts.traits ?? {};
  runContract(t, traits);
  authContract(t, traits);
  accountContract(t);
  claudeContract(t);
  clusterContract(t);
}

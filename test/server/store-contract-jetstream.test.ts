import { after } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { silentLogger } from '../../server/log.js';
import { JetStreamStore } from '../../server/store/jetstream/jetstream-store.js';
import type { Store } from '../../server/store/types.js';
import { startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';
import { storeContract } from '../helpers/store-contract.js';

// The JetStream store against the store contract: one nats-server for the file; each test starts
// on empty JetStream (the previous test's streams and buckets deleted) and may open a peer node.
let nats: Promise<NatsCluster> | undefined;
after(async () => {
  await (await nats)?.stop();
});

async function wipe(urls: string): Promise<void> {
  const nc = await connect({ servers: urls });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const n of jsm.streams.names()) names.push(n);
    for (const n of names) if (n.startsWith('CCG_') || n.startsWith('KV_ccg_')) await jsm.streams.delete(n);
  } finally {
    await nc.close();
  }
}

storeContract('jetstream', async () => {
  const cluster = await (nats ??= startNatsCluster(1));
  await wipe(cluster.urls);
  const open = () => JetStreamStore.open({ servers: [cluster.urls], log: silentLogger, audit: { retentionMs: 3600_000, maxBytes: 64 * 1024 * 1024 } });
  const opened: Store[] = [];
  let store: Store = await open();
  opened.push(store);
  const h = {
    store,
    async reopen(): Promise<Store> {
      await store.close();
      store = h.store = await open();
      opened.push(store);
      return store;
    },
    async peer(): Promise<Store> {
      const p = await open();
      opened.push(p);
      return p;
    },
    async close(): Promise<void> {
      for (const s of opened) await s.close();
      await wipe(cluster.urls);
    },
  };
  return h;
}, { traits: { expiresByItself: true } });

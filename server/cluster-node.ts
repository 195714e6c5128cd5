import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SecretBox } from './auth/secret-box.js';
import { NatsRunnerRouter } from './core/runner-router.js';
import { NatsBus } from './live/nats-bus.js';
import type { Logger } from './log.js';
import { JetStreamStore } from './store/jetstream/jetstream-store.js';

/** `ccg serve --nats`: where the cluster's NATS is and how to replicate. */
export interface ClusterOptions {
  servers: string[];
  /** 1, 3 or 5; by default 3 when the NATS cluster has ≥ 3 servers, else 1. */
  replicas?: number;
  /** A file holding the gateway's secret key (base64 of 32 bytes), the same on every node; else the one in `ccg_meta`. */
  secretKeyFile?: string;
}

/** The meta key of the cluster's shared secret key. */
export const SECRET_BOX_KEY = 'secret-box';

/** What a clustered node runs on: the store, the live bus and runner routing over the same connection. */
export interface ClusterNode {
  store: JetStreamStore;
  bus: NatsBus;
  router: NatsRunnerRouter;
  box: SecretBox;
  close(): void;
}

/**
 * Opens a gateway node of a cluster: the JetStream store (resources created or checked, buckets
 * loaded), the NATS bus and runner router on its connection, and the secret key every node
 * shares (run tokens and TOTP secrets sealed on one node are opened on another). The key comes
 * from `--secret-key-file` when given; otherwise the first node stores a random one in the
 * `ccg_meta` bucket (an atomic create: two nodes starting together agree) and every node reads it.
 */
export async function openClusterNode(o: ClusterOptions & { log: Logger; audit: { retentionMs: number; maxBytes: number } }): Promise<ClusterNode> {
  const store = await JetStreamStore.open({ servers: o.servers, log: o.log, audit: o.audit, ...(o.replicas !== undefined ? { replicas: o.replicas } : {}) });
  try {
    const box = await sharedSecretBox(store, o.secretKeyFile);
    const bus = new NatsBus({ nc: store.link.nc, node: store.nodeId, log: o.log });
    const router = new NatsRunnerRouter({ nc: store.link.nc, node: store.nodeId, log: o.log });
    o.log.info('cluster.node', { node: store.nodeId, servers: store.link.servers().join(','), replicas: store.link.replicas, key: o.secretKeyFile ? 'file' : 'ccg_meta' });
    return {
      store,
      bus,
      router,
      box,
      close: () => {
        router.close();
        bus.close();
      },
    };
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}

async function sharedSecretBox(store: JetStreamStore, keyFile: string | undefined): Promise<SecretBox> {
  if (keyFile) {
    const key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${keyFile} must hold the base64 of 32 bytes (e.g. head -c 32 /dev/urandom | base64)`);
    return new SecretBox(key);
  }
  const stored = await store.claimMeta<string>(SECRET_BOX_KEY, randomBytes(32).toString('base64'));
  return new SecretBox(Buffer.from(stored, 'base64'));
}

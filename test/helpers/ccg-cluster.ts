import { rmSync } from 'node:fs';
import { ensureCertificate } from '../../server/tls.js';
import { tempDir } from './gateway.js';
import { freePorts } from './nats-cluster.js';
import { startServe, type ServeProc } from './serve.js';

/** One `ccg serve` node of a test cluster: its port, data dir and settings stay across restarts. */
export interface CcgNode {
  port: number;
  dataDir: string;
  /** https://127.0.0.1:PORT */
  url: string;
  /** The running process, or null while killed or stopped. */
  serve: ServeProc | null;
}

export interface CcgCluster {
  nodes: CcgNode[];
  /** Every node's URL, comma-separated: what runners and machine daemons take as --gateway. */
  urls: string;
  /** The one certificate every node presents (a TCP load balancer in front needs that). */
  fingerprint: string;
  /** CCG_GATEWAY (node i's URL), CCG_TOKEN (node i's operator token), CCG_FINGERPRINT. */
  env(i?: number): Record<string, string>;
  /** SIGKILLs node `i` and waits until it has exited. */
  kill(i: number): Promise<void>;
  /** Starts node `i` again (same port, data dir, certificate, settings); resolves once it is ready. */
  restart(i: number): Promise<void>;
  /** Stops every node this helper started (only those) and removes their data dirs. */
  stop(): Promise<void>;
}

export interface CcgClusterOptions {
  size?: number;
  /** Extra `ccg serve` arguments for node i (e.g. the NATS servers once the clustered store exists). */
  args?: (i: number) => string[];
  /** Extra environment for node i. */
  env?: (i: number) => Record<string, string>;
}

/**
 * `size` `ccg serve` processes on ephemeral loopback ports, each with its own data dir and all
 * with one certificate (as behind a TCP load balancer), so one pin fits every URL. The nodes
 * share whatever `args`/`env` make them share; with nothing more, each is an independent LMDB
 * gateway. Register `stop` with `t.after`.
 */
export async function startCcgCluster(opts: CcgClusterOptions = {}): Promise<CcgCluster> {
  const size = opts.size ?? 3;
  const certDir = tempDir('ccg-cluster-cert-');
  const tls = ensureCertificate(certDir);
  const ports = await freePorts(size);
  const nodes: CcgNode[] = ports.map((port) => ({ port, dataDir: tempDir('ccg-node-'), url: `https://127.0.0.1:${port}`, serve: null }));
  const launch = async (i: number): Promise<void> => {
    const n = nodes[i]!;
    n.serve = await startServe(n.dataDir, n.port, { CCG_TLS_CERT: tls.certFile, CCG_TLS_KEY: tls.keyFile, ...(opts.env?.(i) ?? {}) }, opts.args?.(i) ?? []);
  };
  const halt = async (i: number, signal: NodeJS.Signals): Promise<void> => {
    const s = nodes[i]!.serve;
    nodes[i]!.serve = null;
    if (!s || !s.alive()) return;
    if (signal === 'SIGKILL') {
      s.proc.child.kill('SIGKILL');
      await s.proc.exited;
    } else {
      await s.stop();
    }
  };
  const cluster: CcgCluster = {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    fingerprint: tls.fingerprint,
    env(i = 0) {
      const s = nodes[i]!.serve;
      if (!s) throw new Error(`node ${i} is not running`);
      return { ...s.env, CCG_FINGERPRINT: tls.fingerprint };
    },
    kill: (i) => halt(i, 'SIGKILL'),
    async restart(i) {
      await halt(i, 'SIGKILL');
      await launch(i);
    },
    async stop() {
      await Promise.all(nodes.map((_, i) => halt(i, 'SIGTERM')));
      for (const n of nodes) rmSync(n.dataDir, { recursive: true, force: true });
      rmSync(certDir, { recursive: true, force: true });
    },
  };
  try {
    // One after another: each start holds its port's check and data dir lock briefly.
    for (let i = 0; i < size; i++) await launch(i);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

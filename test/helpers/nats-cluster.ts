import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { delimiter, join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { tempDir } from './gateway.js';
import { waitFor } from './processes.js';

/** One `nats-server -js` of a test cluster: its ports and store stay the same across restarts. */
export interface NatsNode {
  /** Server name (`n1`, `n2`, …): what JetStream's cluster info and /jsz call it. */
  name: string;
  /** Client URL, nats://127.0.0.1:PORT. */
  url: string;
  clientPort: number;
  /** Route port (0 for a single server: it has none). */
  routePort: number;
  monitorPort: number;
  storeDir: string;
  /** The running process, or undefined while killed. */
  pid(): number | undefined;
  /** What the server printed (all of its lives), for a failing test's message. */
  log(): string;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** Every server's client URL, comma-separated: what `ccg serve --nats` takes. */
  urls: string;
  /** SIGKILLs server `i` (from 0) and waits until its process is gone. */
  kill(i: number): Promise<void>;
  /**
   * Starts server `i` again on its ports and store dir; waits until it is back in the cluster,
   * unless `ready: false` (after losing the quorum, restart each that way, then `ready()`).
   */
  restart(i: number, opts?: { ready?: boolean }): Promise<void>;
  /** Waits until JetStream answers (a cluster: every running server sees the same meta leader). */
  ready(ms?: number): Promise<void>;
  /** Stops the servers this helper started (only their pids) and removes their store dirs. */
  stop(): Promise<void>;
  /** The user and password every client must give, when started with `auth`. */
  auth: { user: string; pass: string } | undefined;
}

/** The nats-server binary: CCG_NATS_SERVER, else `nats-server` on PATH, else Debian's /usr/sbin one. */
export function natsServerBinary(): string {
  const named = process.env['CCG_NATS_SERVER'];
  if (named) {
    if (!existsSync(named)) throw new Error(`CCG_NATS_SERVER names ${named}, which does not exist`);
    return named;
  }
  for (const dir of [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin']) {
    const p = join(dir, 'nats-server');
    if (existsSync(p)) return p;
  }
  throw new Error('nats-server is not installed: `bash .ci/run` installs it (or `sudo apt-get install nats-server`; CCG_NATS_SERVER names another binary)');
}

/**
 * Free loopback ports, all held open together before any is released, so the set has no
 * duplicates (another process may still take one before the server binds it; rare on loopback).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

interface Meta {
  leader?: string;
  cluster_size?: number;
  replicas?: { name: string; current: boolean; offline?: boolean }[];
}

/** The server's JetStream view from its monitoring port (/jsz), or undefined while it does not answer. */
async function jsz(monitorPort: number): Promise<{ meta_cluster?: Meta } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/jsz`, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return undefined;
    return (await res.json()) as { meta_cluster?: Meta };
  } catch {
    return undefined;
  }
}

/**
 * Starts `size` (1 or 3, or any n) `nats-server -js` processes on ephemeral loopback ports, each
 * with its own temp store dir; with more than one, they form a JetStream cluster over routes.
 * Resolves once JetStream is ready. Register `stop` with `t.after`.
 */
export async function startNatsCluster(size = 3, opts: { clusterName?: string; auth?: { user: string; pass: string } } = {}): Promise<NatsCluster> {
  const bin = natsServerBinary();
  const clustered = size > 1;
  const ports = await freePorts(size * (clustered ? 3 : 2));
  const clusterName = opts.clusterName ?? `ccgtest${process.pid}`;
  const children: (ChildProcess | undefined)[] = [];
  const logs: string[] = [];
  const nodes: NatsNode[] = [];
  for (let i = 0; i < size; i++) {
    const clientPort = ports[i]!;
    const monitorPort = ports[size + i]!;
    const routePort = clustered ? ports[2 * size + i]! : 0;
    logs.push('');
    nodes.push({
      name: `n${i + 1}`,
      url: `nats://127.0.0.1:${clientPort}`,
      clientPort,
      routePort,
      monitorPort,
      storeDir: tempDir('ccg-nats-'),
      pid: () => children[i]?.pid,
      log: () => logs[i]!,
    });
  }

  const launch = (i: number): void => {
    const n = nodes[i]!;
    const args = ['-js', '-sd', n.storeDir, '-a', '127.0.0.1', '-p', String(n.clientPort), '-m', String(n.monitorPort), '-n', n.name];
    // On the command line, so visible in ps: a test password on loopback only.
    if (opts.auth) args.push('--user', opts.auth.user, '--pass', opts.auth.pass);
    if (clustered) {
      const routes = nodes.filter((_, j) => j !== i).map((o) => `nats-route://127.0.0.1:${o.routePort}`);
      args.push('--cluster_name', clusterName, '--cluster', `nats://127.0.0.1:${n.routePort}`, '--routes', routes.join(','));
    }
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => {
      // Bounded: a long fault test must not grow the log without limit.
      logs[i] = (logs[i]! + d.toString('utf8')).slice(-64_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.on('error', (err) => keep(Buffer.from(`spawn error: ${err.message}\n`)));
    children[i] = child;
  };

  const running = () => nodes.filter((_, i) => children[i] && children[i]!.exitCode === null && children[i]!.signalCode === null);

  const ready = async (ms = 60_000): Promise<void> => {
    const live = running();
    try {
      if (clustered) {
        // Every running server names the same meta leader, and the leader sees every running peer as current.
        await waitFor(async () => {
          const views = await Promise.all(live.map((n) => jsz(n.monitorPort)));
          if (views.some((v) => !v?.meta_cluster?.leader)) return undefined;
          const leader = views[0]!.meta_cluster!.leader!;
          if (views.some((v) => v!.meta_cluster!.leader !== leader)) return undefined;
          const lead = views[live.findIndex((n) => n.name === leader)];
          if (!lead) return undefined;
          const current = new Set((lead.meta_cluster!.replicas ?? []).filter((r) => r.current && !r.offline).map((r) => r.name));
          return live.every((n) => n.name === leader || current.has(n.name)) ? true : undefined;
        }, ms, `a JetStream meta leader on ${live.map((n) => n.name).join(', ')}`);
      }
      // And the JetStream API answers through a client connection to each running server.
      for (const n of live) {
        await waitFor(async () => {
          try {
            const nc = await connect({ servers: n.url, reconnect: false, timeout: 2_000, ...(opts.auth ?? {}) });
            try {
              const jsm = await jetstreamManager(nc, { timeout: 2_000 });
              await jsm.getAccountInfo();
              return true;
            } finally {
              await nc.close();
            }
          } catch {
            return undefined;
          }
        }, ms, `JetStream account info from ${n.name}`);
      }
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${live.map((n) => `--- ${n.name} ---\n${n.log().slice(-4_000)}`).join('\n')}`);
    }
  };

  const halt = async (i: number, signal: NodeJS.Signals): Promise<void> => {
    const child = children[i];
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    if (signal !== 'SIGKILL') {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    } else {
      await gone;
    }
  };

  for (let i = 0; i < size; i++) launch(i);
  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    async kill(i) {
      await halt(i, 'SIGKILL');
      children[i] = undefined;
    },
    async restart(i, o = {}) {
      await halt(i, 'SIGKILL');
      launch(i);
      if (o.ready !== false) await ready();
    },
    ready,
    auth: opts.auth,
    async stop() {
      await Promise.all(nodes.map((_, i) => halt(i, 'SIGTERM')));
      for (const n of nodes) rmSync(n.storeDir, { recursive: true, force: true });
    },
  };
  try {
    await ready();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { natsServerBinary, startNatsCluster, type NatsCluster } from '../../test/helpers/nats-cluster.js';
import type { BenchRun, Target } from '../lib/clients.js';
import { cpuMsOf, startGateway, type ServerProc } from '../lib/procs.js';
import { figure, type Figure } from '../lib/report.js';
import { measureIngest, type IngestResult } from './ingest.js';
import { measureLatency, type LatencyResult } from './latency.js';

/** Why the cluster figures cannot be measured here (no nats-server), or null. */
export function natsServerMissing(): string | null {
  try {
    natsServerBinary();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** One ccg node on a three-server JetStream cluster (R3), as `ccg serve --nats` runs it. */
export interface ClusterNode {
  nats: NatsCluster;
  gateway: ServerProc;
  target: Target;
  dataDir: string;
  stop(): Promise<void>;
}

/** Starts three `nats-server -js` (a cluster, so streams and buckets get three replicas) and one `ccg serve --nats` on them. */
export async function startClusterNode(o: { plain: boolean }): Promise<ClusterNode> {
  const nats = await startNatsCluster(3, { clusterName: `ccgbench${process.pid}` });
  const dataDir = mkdtempSync(join(tmpdir(), 'ccg-bench-node-'));
  let gateway: ServerProc;
  try {
    gateway = await startGateway(dataDir, { plain: o.plain, args: ['--nats', nats.urls] });
  } catch (err) {
    await nats.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const operatorToken = readFileSync(join(dataDir, 'operator.token'), 'utf8').trim();
  return {
    nats,
    gateway,
    target: { kind: 'gateway', url: gateway.url, fingerprint: gateway.fingerprint, operatorToken },
    dataDir,
    async stop() {
      await gateway.stop();
      await nats.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Chunks a runner may have unacknowledged in the second ingest phase. */
const SMALL_WINDOW = 16;

/** CPU time of the NATS servers over an interval, % of one core (all three together). */
function natsMeter(nats: NatsCluster): () => number {
  const pids = natsPids(nats);
  const cpu = () => pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
  const c0 = cpu();
  const t0 = performance.now();
  return () => (100 * (cpu() - c0)) / (performance.now() - t0);
}

function natsPids(nats: NatsCluster): number[] {
  return nats.nodes.map((n) => n.pid()).filter((p): p is number => p !== undefined);
}

export interface ClusterResult {
  ingest: IngestResult;
  /** The same with at most SMALL_WINDOW chunks unacknowledged per runner (a few hundred in flight, not 25,600). */
  ingestSmallWindow: IngestResult;
  latency: LatencyResult;
  /** The three NATS servers' CPU during the ingest phase (connect to close), % of one core, summed. */
  natsCpuIngest: number;
}

/**
 * Durable ingest and latency through the cluster: the same load as the `ingest` and `latency`
 * figures, on a node whose acknowledgement follows JetStream's (R3) publish acknowledgement.
 */
export async function measureCluster(
  node: ClusterNode,
  runs: BenchRun[],
  o: {
    ingest: { linesPerChunk: number; window: number; seconds: number; warmupMs: number };
    latency: { runners: number; rate: number; seconds: number; warmupMs: number; threads: number };
  },
): Promise<ClusterResult> {
  const meter = natsMeter(node.nats);
  const ingest = await measureIngest(node.target, runs, { ...o.ingest, rss: node.gateway.rss });
  const natsCpuIngest = meter();
  const ingestSmallWindow = await measureIngest(node.target, runs, { ...o.ingest, window: SMALL_WINDOW, rss: node.gateway.rss });
  // The NATS servers' CPU over the same measured seconds as the gateway's (latency.otherCpu).
  const latency = await measureLatency(node.target, runs.slice(0, o.latency.runners), { ...o.latency, serverPid: node.gateway.pid, otherPids: natsPids(node.nats) });
  return { ingest, ingestSmallWindow, latency, natsCpuIngest };
}

/**
 * The cluster's figures, each beside the single LMDB gateway measured in the same run. The
 * per-line CPU cost of a ccg node and of the NATS servers is what the note's capacity estimate
 * starts from (on 2 cores everything shares the machine: this shows cost, not scale-out).
 */
export function clusterFigures(c: ClusterResult, lmdb: { ingest: IngestResult; latency: LatencyResult }): Figure[] {
  const n = c.latency.runners;
  const gwPerLine = c.latency.serverCpuPerLine;
  const natsPerLine = c.latency.otherCpuPerLine ?? Number.NaN;
  return [
    figure({
      id: 'cluster.ingest',
      name: `durable ingest through JetStream R3, ${c.ingest.runners} runners, 256 unacked each`,
      value: c.ingest.linesPerSecond,
      unit: 'lines/s',
      reference: { label: 'single node, LMDB', value: lmdb.ingest.linesPerSecond, unit: 'lines/s' },
      target: null,
      detail: { chunksPerSecond: c.ingest.chunksPerSecond, MBps: c.ingest.bytesPerSecond / 1e6, natsCpuPct: c.natsCpuIngest, gatewayPeakRssMB: c.ingest.peakRss / 1e6 },
    }),
    figure({
      id: 'cluster.ingest.window16',
      name: `durable ingest through JetStream R3, ${c.ingestSmallWindow.runners} runners, ${SMALL_WINDOW} unacked each`,
      value: c.ingestSmallWindow.linesPerSecond,
      unit: 'lines/s',
      reference: { label: 'single node, LMDB, 256 unacked', value: lmdb.ingest.linesPerSecond, unit: 'lines/s' },
      target: null,
      detail: { chunksPerSecond: c.ingestSmallWindow.chunksPerSecond },
    }),
    figure({
      id: `cluster.latency.p99.${n}`,
      name: `latency p99 through JetStream R3, ${n} runners × ${c.latency.linesPerSecond} lines/s`,
      value: c.latency.p99,
      unit: 'ms',
      reference: { label: 'single node, LMDB', value: lmdb.latency.p99, unit: 'ms' },
      target: null,
      detail: { p50: c.latency.p50, lmdbP50: lmdb.latency.p50, max: c.latency.max, lost: c.latency.lost },
    }),
    figure({
      id: `cluster.cpu.per-line.${n}`,
      name: `ccg node CPU per line on JetStream, ${n} runners × ${c.latency.linesPerSecond} lines/s`,
      value: gwPerLine,
      unit: 'µs',
      reference: { label: 'single node, LMDB', value: lmdb.latency.serverCpuPerLine, unit: 'µs' },
      target: null,
      detail: { natsServersPerLineUs: natsPerLine, natsCpuPct: c.latency.otherCpu ?? Number.NaN, gatewayCpuPct: c.latency.serverCpu },
    }),
  ];
}

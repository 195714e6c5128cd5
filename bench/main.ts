/**
 * `npm run bench`: measures ccg's speed and cost on this machine, over loopback, each figure
 * beside a reference measured in the same run and the target from MISSION.md. Prints a table and
 * writes bench/results/latest.json. See docs/BENCH.md for what each figure means.
 *
 *   npm run bench                 the full run (a few minutes)
 *   npm run bench -- --quick      a smaller version of every figure (about two minutes)
 *   npm run bench -- --only latency,bulk
 *   npm run bench -- --cpu-prof   also write V8 CPU profiles of the gateway to bench/results/prof/
 *   npm run bench -- --node-args='--max-semi-space-size=32'   node options for the gateway and the
 *                                 relay (what V8 flags change; also --trace-gc, --perf-basic-prof);
 *                                 given more than once, every one counts
 *   npm run bench -- --malloc-default   the servers without the trim threshold run.sh adds to
 *                                 GLIBC_TUNABLES (glibc's default: heavy output faults its pages
 *                                 in afresh); a GLIBC_TUNABLES of your own still applies
 *   npm run bench -- --plain      plain HTTP/WS on loopback (ccg serve --insecure-http) instead of TLS
 *   npm run bench -- --generator-threads 1   the latency load generator's worker threads (default 2)
 *   npm run bench -- --only latency --latency-runners 1000   only these latency phases (runner counts)
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient } from '../cli/client/api.js';
import { CreateRunResponse } from '../protocol/api.js';
import { measureBulk } from './figures/bulk.js';
import { measureCliStart } from './figures/cli-start.js';
import { clusterFigures, measureCluster, natsServerMissing, startClusterNode } from './figures/cluster.js';
import { measureE2eLatency } from './figures/e2e-latency.js';
import { measureIngest, type IngestResult } from './figures/ingest.js';
import { measureLatency, type LatencyResult } from './figures/latency.js';
import { measureIdleRunners, settledRss } from './figures/memory.js';
import { measureOpenTail, seedRuns } from './figures/open-tail.js';
import { measureRedactor } from './figures/redactor.js';
import { measureServeReady } from './figures/serve-ready.js';
import { pageSession } from './lib/page-session.js';
import type { BenchRun, Target } from './lib/clients.js';
import { ROOT, startRelay, type ServerProc } from './lib/procs.js';
import { figure, table, type Figure } from './lib/report.js';
import { MiB, mapLimit, sleep } from './lib/stats.js';

/**
 * Idle RSS is read once the gateway has had no load for this long. V8's memory reducer gives the
 * start-up heap back some seconds after the process goes quiet: 9 s and 16 s after start in two
 * runs of `ccg serve` on the bench machine (87 → 70 MB, 79 → 68 MB). Read at 12 s, the figure was
 * one side of that drop or the other from run to run (72–88 MB).
 */
const IDLE_SETTLE_MS = 25_000;

const GROUPS = ['redactor', 'serve', 'cli', 'e2e', 'memory', 'open', 'latency', 'bulk', 'ingest', 'cluster'] as const;
type Group = (typeof GROUPS)[number];

interface Sizes {
  latencyRunners: number[];
  latencySeconds: number;
  latencyWarmupMs: number;
  idleRunners: number;
  bulkBytes: number;
  ingestRunners: number;
  ingestSeconds: number;
  hugeLines: number;
  smallLines: number;
  tailChunks: number;
  openRounds: number;
  redactorBytes: number;
  serveStarts: number;
  cliRounds: number;
  /** Lines the end-to-end child prints at each interval (ms). */
  e2eLines: Record<number, number>;
}

const FULL: Sizes = {
  latencyRunners: [1, 100, 1000],
  latencySeconds: 10,
  latencyWarmupMs: 2000,
  idleRunners: 1000,
  bulkBytes: 100 * MiB,
  ingestRunners: 100,
  ingestSeconds: 10,
  hugeLines: 1_000_000,
  smallLines: 1000,
  tailChunks: 100,
  openRounds: 20,
  redactorBytes: 64 * MiB,
  serveStarts: 5,
  cliRounds: 10,
  e2eLines: { 1: 5000, 10: 1000 },
};

const QUICK: Sizes = {
  latencyRunners: [1, 100, 200],
  latencySeconds: 2,
  latencyWarmupMs: 500,
  idleRunners: 200,
  bulkBytes: 16 * MiB,
  // As many runners as the full run: 20 would each send over the gateway's 2,000 messages/s per
  // runner limit (ERR_RATE_LIMIT), as no real runner does (it coalesces writes).
  ingestRunners: 100,
  ingestSeconds: 3,
  hugeLines: 100_000,
  smallLines: 1000,
  tailChunks: 100,
  openRounds: 10,
  redactorBytes: 8 * MiB,
  serveStarts: 3,
  cliRounds: 5,
  e2eLines: { 1: 1000, 10: 200 },
};

const LINES_PER_SECOND = 20;
/** 4 ms of coalescing (the runner's) at 2,000 lines/s per runner: 100 runners × 2,000 = the 200,000 lines/s target. */
const INGEST_LINES_PER_CHUNK = 8;
const INGEST_WINDOW = 256;
/** The cluster's latency phase: as many runners as the latency figure's middle phase, to compare with it. */
const CLUSTER_LATENCY_RUNNERS = 100;
const MB = 1e6;
const KB = 1e3;

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

async function createRuns(t: Target, n: number): Promise<BenchRun[]> {
  const api = new ApiClient({ gateway: t.url, token: t.operatorToken!, fingerprint: t.fingerprint ?? undefined });
  return mapLimit(Array.from({ length: n }, (_, i) => i), 8, async (i) => {
    const r = await api.json('POST', '/api/v1/runs', CreateRunResponse, { name: `bench ${i}` });
    return { id: r.id, token: r.token };
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      plain: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'node-args': { type: 'string', multiple: true },
      'malloc-default': { type: 'boolean', default: false },
      'generator-threads': { type: 'string', default: '2' },
      'latency-runners': { type: 'string' },
      only: { type: 'string' },
      out: { type: 'string', default: join(ROOT, 'bench/results/latest.json') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, '') + '\n');
    return 0;
  }
  const only = new Set((values.only ?? GROUPS.join(',')).split(',').map((s) => s.trim()) as Group[]);
  for (const g of only) if (!GROUPS.includes(g)) throw new Error(`--only: unknown figure group "${g}" (one of ${GROUPS.join(', ')})`);
  const sizes = { ...(values.quick ? QUICK : FULL) };
  if (values['latency-runners']) sizes.latencyRunners = values['latency-runners'].split(',').map(Number);
  const plain = values.plain;
  const generatorThreads = Number(values['generator-threads']);
  if (!Number.isInteger(generatorThreads) || generatorThreads < 1) throw new Error('--generator-threads: a whole number ≥ 1');
  const profDir = values['cpu-prof'] ? join(ROOT, 'bench/results/prof') : undefined;
  if (profDir) mkdirSync(profDir, { recursive: true });
  // Given twice, both count (the second used to replace the first without a word).
  const nodeArgs = values['node-args']?.flatMap((v) => v.split(/\s+/)).filter(Boolean);
  for (const a of nodeArgs ?? []) if (!a.startsWith('--')) throw new Error(`--node-args: "${a}" is not a node option (each starts with --)`);
  const serverOpts = { ...(profDir ? { cpuProfDir: profDir } : {}), ...(nodeArgs?.length ? { nodeArgs } : {}), mallocDefault: values['malloc-default'] };
  const started = Date.now();
  const load = { start: loadavg()[0]!, end: 0 };
  const dataDir = mkdtempSync(join(tmpdir(), 'ccg-bench-'));
  const figures: Figure[] = [];
  const raw: Record<string, unknown> = {};
  const servers: ServerProc[] = [];
  log(`${values.quick ? 'quick' : 'full'} run on ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load ${load.start.toFixed(2)}; data in ${dataDir}`);

  try {
    if (only.has('redactor')) {
      log('redactor throughput');
      const r = measureRedactor(sizes.redactorBytes);
      raw['redactor'] = r;
      figures.push(figure({ id: 'redactor.stream', name: 'redactor, runner (streaming), no secrets', value: r.streamMBps, unit: 'MB/s', reference: { label: 'latin1 decode+encode', value: r.referenceMBps, unit: 'MB/s' }, target: null }));
      figures.push(figure({ id: 'redactor.chunk', name: 'redactor, gateway (per chunk), no secrets', value: r.chunkMBps, unit: 'MB/s', reference: { label: 'latin1 decode+encode', value: r.referenceMBps, unit: 'MB/s' }, target: null }));
    }

    const needGateway = [...only].some((g) => g !== 'redactor');
    if (!needGateway) return finish();

    log('ccg serve start-to-ready (and seeding the stored runs)');
    let seeded: string[] = [];
    const sr = await measureServeReady(dataDir, {
      starts: sizes.serveStarts,
      plain,
      ...serverOpts,
      beforeWarmStarts: async () => {
        if (!only.has('open')) return;
        const t0 = performance.now();
        seeded = await seedRuns(dataDir, [sizes.smallLines, sizes.hugeLines]);
        log(`  seeded runs of ${sizes.smallLines} and ${sizes.hugeLines} lines in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      },
    });
    const gw = sr.gateway;
    servers.push(gw);
    raw['serve'] = sr.result;
    if (only.has('serve')) {
      figures.push(figure({ id: 'serve.ready', name: 'ccg serve start→ready (spawn to ready line)', value: sr.result.warmStart, unit: 'ms', reference: { label: 'node -e start', value: sr.result.nodeStart, unit: 'ms' }, target: { text: '< 500 ms', met: sr.result.warmStart < 500 } }));
      figures.push(figure({ id: 'serve.first', name: 'ccg serve first start (new data dir, makes cert)', value: sr.result.firstStart, unit: 'ms', reference: { label: 'node -e start', value: sr.result.nodeStart, unit: 'ms' }, target: { text: '< 500 ms', met: sr.result.firstStart < 500 } }));
    }

    const operatorToken = readFileSync(join(dataDir, 'operator.token'), 'utf8').trim();
    const gwT: Target = { kind: 'gateway', url: gw.url, fingerprint: gw.fingerprint, operatorToken };
    const tls = plain ? null : { cert: join(dataDir, 'certs/cert.pem'), key: join(dataDir, 'certs/key.pem'), fingerprint: gw.fingerprint! };
    const relay = await startRelay({ tls, ...serverOpts });
    servers.push(relay);
    const relayT: Target = { kind: 'relay', url: relay.url, fingerprint: relay.fingerprint };
    /** When the gateway last had work from the bench: idle RSS is read IDLE_SETTLE_MS after it. */
    let gatewayQuietFrom = performance.now();
    const idleRss = async (): Promise<[number, number]> => {
      await sleep(Math.max(0, IDLE_SETTLE_MS - (performance.now() - gatewayQuietFrom)));
      return Promise.all([settledRss(gw.rss, 0), settledRss(relay.rss, 0)]);
    };

    if (only.has('memory')) {
      // Before any other figure uses the gateway: what it holds idle once started.
      const [g0, r0] = await Promise.all([settledRss(gw.rss), settledRss(relay.rss)]);
      log(`idle RSS (read after ${IDLE_SETTLE_MS / 1000} s without load: V8 gives back its start-up heap some seconds after the process goes quiet)`);
      const [g, r] = await idleRss();
      raw['rssIdle'] = { gateway: g, relay: r, gatewayAfterStart: g0, relayAfterStart: r0 };
      figures.push(figure({ id: 'rss.start', name: 'gateway RSS, 2 s after start', value: g0 / MB, unit: 'MB', reference: { label: 'bare relay', value: r0 / MB, unit: 'MB' }, target: null }));
      figures.push(figure({ id: 'rss.idle', name: `gateway RSS, idle (${IDLE_SETTLE_MS / 1000} s without load)`, value: g / MB, unit: 'MB', reference: { label: 'bare relay', value: r / MB, unit: 'MB' }, target: { text: '< 80 MB', met: g < 80 * MB } }));
    }

    if (only.has('cli')) {
      log(`ccg start-up: spawn → exit, ${sizes.cliRounds} rounds beside node -e ''`);
      const c = await measureCliStart(gwT, { rounds: sizes.cliRounds });
      raw['cli'] = c;
      const node = { label: "node -e ''", value: c.node, unit: 'ms' };
      figures.push(figure({ id: 'cli.version', name: 'ccg --version (spawn to exit)', value: c.version, unit: 'ms', reference: node, target: { text: '≤ 1.5× node', met: c.version <= 1.5 * c.node } }));
      figures.push(figure({ id: 'cli.runs-list', name: 'ccg runs list --json (spawn to exit)', value: c.runsList, unit: 'ms', reference: node, target: { text: '≤ 2.5× node', met: c.runsList <= 2.5 * c.node } }));
      figures.push(figure({ id: 'cli.runs-approve', name: 'ccg runs approve (spawn to exit, no such approval)', value: c.runsApprove, unit: 'ms', reference: node, target: { text: '≤ 2.5× node', met: c.runsApprove <= 2.5 * c.node }, detail: { exits: JSON.stringify(c.exits) } }));
      gatewayQuietFrom = performance.now();
    }

    if (only.has('e2e')) {
      const results = [];
      // The phone's page: a session of the gateway's first account (its setup code is in the data directory).
      const sessionCookie = await pageSession(gwT, dataDir);
      for (const [interval, lines] of Object.entries(sizes.e2eLines).map(([k, v]) => [Number(k), v] as const)) {
        log(`end to end: a child printing a line every ${interval} ms (${lines} lines) → ccg runner start → gateway → ccg runs logs --follow, and → the run page's live stream (SSE), beside a plain pipe`);
        const e = await measureE2eLatency(gwT, dataDir, { intervalMs: interval, lines, sessionCookie });
        results.push(e);
        const fast = interval === 1;
        const pipe = (v: number) => ({ label: 'plain pipe', value: v, unit: 'ms' });
        for (const [f, label] of [[e.logs, 'runs logs -f'], [e.sse!, 'page SSE']] as const) {
          log(`  ${label} p50 ${f.p50.toFixed(2)} p99 ${f.p99.toFixed(2)} ms (lost ${f.lost}); pipe p50 ${e.pipe.p50.toFixed(2)} p99 ${e.pipe.p99.toFixed(2)} ms; load ${loadavg()[0]!.toFixed(2)}`);
          const detail = { lines, counted: f.counted, lost: f.lost, max: f.max, pipeMax: e.pipe.max, load1: loadavg()[0]! };
          const id = f.path === 'logs' ? '' : `${f.path}.`;
          figures.push(figure({ id: `e2e.${id}p50.${interval}`, name: `end to end p50, 1 line/${interval} ms, ${label}`, value: f.p50, unit: 'ms', reference: pipe(e.pipe.p50), target: fast ? { text: '≤ 0.5 ms', met: f.p50 <= 0.5 && f.lost === 0 } : null, detail }));
          figures.push(figure({ id: `e2e.${id}p99.${interval}`, name: `end to end p99, 1 line/${interval} ms, ${label}`, value: f.p99, unit: 'ms', reference: pipe(e.pipe.p99), target: fast ? { text: '≤ 3 ms', met: f.p99 <= 3 && f.lost === 0 } : null, detail }));
        }
      }
      raw['e2e'] = results;
      gatewayQuietFrom = performance.now();
    }

    if (only.has('memory') && (only.has('cli') || only.has('e2e'))) {
      // The same once the gateway has worked (commands answered, runs streamed, pages served): no target.
      const used = (['cli', 'e2e'] as const).filter((g) => only.has(g)).join(' and ');
      log(`idle RSS again, now that the ${used} figures have used the gateway`);
      const [g, r] = await idleRss();
      raw['rssIdleUsed'] = { gateway: g, relay: r };
      figures.push(figure({ id: 'rss.idle-used', name: `gateway RSS, idle after the ${used} figures (${IDLE_SETTLE_MS / 1000} s)`, value: g / MB, unit: 'MB', reference: { label: 'bare relay', value: r / MB, unit: 'MB' }, target: null }));
    }

    if (only.has('open') && seeded.length === 2) {
      log(`open the tail (${sizes.tailChunks} chunks) of a ${sizes.hugeLines}-line run vs a ${sizes.smallLines}-line run`);
      const o = await measureOpenTail(gwT, seeded[0]!, seeded[1]!, { tail: sizes.tailChunks, rounds: sizes.openRounds });
      raw['openTail'] = o;
      figures.push(figure({
        id: 'open.tail',
        name: `open tail of a ${sizes.hugeLines.toLocaleString('en-US')}-line run`,
        value: o.huge,
        unit: 'ms',
        reference: { label: `${sizes.smallLines.toLocaleString('en-US')}-line run`, value: o.small, unit: 'ms' },
        target: { text: '≤ 2× small run', met: o.huge <= 2 * o.small },
        detail: { firstOpenHugeMs: o.hugeFirst, firstOpenSmallMs: o.smallFirst, tailChunks: o.tail },
      }));
    }

    const wantRuns = Math.max(
      only.has('memory') ? sizes.idleRunners : 0,
      only.has('latency') ? Math.max(...sizes.latencyRunners) : 0,
      only.has('ingest') || only.has('cluster') ? sizes.ingestRunners : 0,
      only.has('cluster') ? CLUSTER_LATENCY_RUNNERS : 0,
    );
    log(`creating ${wantRuns + 1} runs through the API`);
    const runs = await createRuns(gwT, wantRuns + 1);
    const bulkRun = runs.pop()!;

    if (only.has('memory')) {
      log(`RSS per idle runner (${sizes.idleRunners} runners)`);
      const g = await measureIdleRunners(gwT, runs.slice(0, sizes.idleRunners), gw.rss);
      const r = await measureIdleRunners(relayT, runs.slice(0, sizes.idleRunners), relay.rss);
      raw['rssPerRunner'] = { gateway: g, relay: r };
      figures.push(figure({ id: 'rss.per-runner', name: `RSS per connected idle runner (${g.runners})`, value: g.perRunner / KB, unit: 'KB', reference: { label: 'bare relay', value: r.perRunner / KB, unit: 'KB' }, target: { text: '< 64 KB', met: g.perRunner < 64 * KB } }));
    }

    if (only.has('latency')) {
      const results: { gateway: LatencyResult; relay: LatencyResult }[] = [];
      for (const n of sizes.latencyRunners) {
        log(`latency: ${n} runner${n === 1 ? '' : 's'} × ${LINES_PER_SECOND} lines/s, one viewer each, ${sizes.latencySeconds} s`);
        const o = { rate: LINES_PER_SECOND, seconds: sizes.latencySeconds, warmupMs: sizes.latencyWarmupMs, threads: generatorThreads };
        const g = await measureLatency(gwT, runs.slice(0, n), { ...o, serverPid: gw.pid });
        const r = await measureLatency(relayT, runs.slice(0, n), { ...o, serverPid: relay.pid });
        const delays = (l: LatencyResult) => l.generatorLoopDelaysP99.map((d) => d.toFixed(1)).join(', ');
        log(`  ccg p50 ${g.p50.toFixed(1)} p99 ${g.p99.toFixed(1)} ms (gateway CPU ${g.serverCpu.toFixed(0)}%, generator ${g.generatorCpu.toFixed(0)}% in ${g.generatorThreads} thread${g.generatorThreads === 1 ? '' : 's'}, their loop delay p99 ${delays(g)} ms); relay p50 ${r.p50.toFixed(1)} p99 ${r.p99.toFixed(1)} ms (relay CPU ${r.serverCpu.toFixed(0)}%, generator ${r.generatorCpu.toFixed(0)}%, loop delay p99 ${delays(r)} ms); load ${loadavg()[0]!.toFixed(2)}`);
        results.push({ gateway: g, relay: r });
        const top = n === Math.max(...sizes.latencyRunners);
        const lost: Record<string, number> = g.lost > 0 ? { lostLines: g.lost } : {};
        figures.push(figure({ id: `latency.p50.${n}`, name: `latency p50, ${n} runner${n === 1 ? '' : 's'} × ${LINES_PER_SECOND} lines/s`, value: g.p50, unit: 'ms', reference: { label: 'bare relay', value: r.p50, unit: 'ms' }, target: null, detail: { lines: g.sent, ...lost } }));
        figures.push(figure({
          id: `latency.p99.${n}`,
          name: `latency p99, ${n} runner${n === 1 ? '' : 's'} × ${LINES_PER_SECOND} lines/s`,
          value: g.p99,
          unit: 'ms',
          reference: { label: 'bare relay', value: r.p99, unit: 'ms' },
          target: top ? { text: '< 50 ms', met: g.p99 < 50 && g.lost === 0 } : null,
          detail: { max: g.max, relayMax: r.max, gatewayCpuPct: g.serverCpu, generatorCpuPct: g.generatorCpu, generatorThreads: g.generatorThreads, generatorLoopDelayP99: g.generatorLoopDelayP99, relayCpuPct: r.serverCpu, relayGeneratorLoopDelayP99: r.generatorLoopDelayP99, load1: loadavg()[0]!, ...lost },
        }));
        if (n >= 100) {
          // CPU time per line: the server's CPU time over the measured interval, divided by the lines it carried meanwhile.
          figures.push(figure({
            id: `cpu.per-line.${n}`,
            name: `gateway CPU per line, ${n} runners × ${LINES_PER_SECOND} lines/s`,
            value: g.serverCpuPerLine,
            unit: 'µs',
            reference: { label: 'bare relay', value: r.serverCpuPerLine, unit: 'µs' },
            target: { text: '≤ 1.5× relay', met: g.serverCpuPerLine <= 1.5 * r.serverCpuPerLine },
            detail: { load1: loadavg()[0]! },
          }));
        }
      }
      raw['latency'] = results;
    }

    if (only.has('bulk')) {
      log(`bulk: ${sizes.bulkBytes / MiB} MiB through one run to one viewer`);
      const g = await measureBulk(gwT, bulkRun, { totalBytes: sizes.bulkBytes, rss: gw.rss, pid: gw.pid });
      const r = await measureBulk(relayT, bulkRun, { totalBytes: sizes.bulkBytes, rss: relay.rss, pid: relay.pid });
      raw['bulk'] = { gateway: g, relay: r };
      figures.push(figure({
        id: 'bulk',
        name: `bulk, ${sizes.bulkBytes / MiB} MiB, one run, viewed and committed`,
        value: g.bytesPerSecond / MB,
        unit: 'MB/s',
        reference: { label: 'bare relay', value: r.bytesPerSecond / MB, unit: 'MB/s' },
        target: { text: '≥ 0.7× relay', met: g.bytesPerSecond >= 0.7 * r.bytesPerSecond },
        detail: { gatewayPeakRssMB: g.peakRss / MB, relayPeakRssMB: r.peakRss / MB },
      }));
      figures.push(figure({
        id: 'bulk.cpu',
        name: 'bulk, server CPU per MiB (all its threads: TLS, redaction, LMDB)',
        value: g.serverCpuPerMiB,
        unit: 'ms',
        reference: { label: 'bare relay', value: r.serverCpuPerMiB, unit: 'ms' },
        target: null,
        detail: { gatewayGeneratorCpuPerMiB: g.generatorCpuPerMiB, relayGeneratorCpuPerMiB: r.generatorCpuPerMiB },
      }));
    }

    const ingestOpts = { linesPerChunk: INGEST_LINES_PER_CHUNK, window: INGEST_WINDOW, seconds: sizes.ingestSeconds, warmupMs: 1000 };
    let lmdbIngest: IngestResult | null = null;
    if (only.has('ingest')) {
      log(`durable ingest: ${sizes.ingestRunners} runners, ${INGEST_LINES_PER_CHUNK} lines per chunk, ${sizes.ingestSeconds} s`);
      const o = ingestOpts;
      const g = (lmdbIngest = await measureIngest(gwT, runs.slice(0, sizes.ingestRunners), { ...o, rss: gw.rss }));
      const r = await measureIngest(relayT, runs.slice(0, sizes.ingestRunners), { ...o, rss: relay.rss });
      raw['ingest'] = { gateway: g, relay: r };
      figures.push(figure({
        id: 'ingest',
        name: `durable ingest, ${g.runners} runners, acked after commit`,
        value: g.linesPerSecond,
        unit: 'lines/s',
        reference: { label: 'bare relay, acked on receipt', value: r.linesPerSecond, unit: 'lines/s' },
        target: { text: '≥ 200,000 lines/s', met: g.linesPerSecond >= 200_000 },
        detail: { chunksPerSecond: g.chunksPerSecond, MBps: g.bytesPerSecond / MB, linesPerChunk: g.linesPerChunk, gatewayPeakRssMB: g.peakRss / MB },
      }));
    }

    const natsMissing = only.has('cluster') ? natsServerMissing() : null;
    if (natsMissing) log(`cluster: skipped (${natsMissing})`);
    if (only.has('cluster') && !natsMissing) {
      const latencyOpts = { rate: LINES_PER_SECOND, seconds: sizes.latencySeconds, warmupMs: sizes.latencyWarmupMs, threads: generatorThreads };
      // The single LMDB gateway beside it, from this run's ingest and latency groups (or measured now).
      if (!lmdbIngest) {
        log(`durable ingest, single node (the cluster's reference): ${sizes.ingestRunners} runners, ${sizes.ingestSeconds} s`);
        lmdbIngest = await measureIngest(gwT, runs.slice(0, sizes.ingestRunners), { ...ingestOpts, rss: gw.rss });
      }
      let lmdbLatency = (raw['latency'] as { gateway: LatencyResult }[] | undefined)?.find((r) => r.gateway.runners === CLUSTER_LATENCY_RUNNERS)?.gateway;
      if (!lmdbLatency) {
        log(`latency, single node (the cluster's reference): ${CLUSTER_LATENCY_RUNNERS} runners × ${LINES_PER_SECOND} lines/s, ${sizes.latencySeconds} s`);
        lmdbLatency = await measureLatency(gwT, runs.slice(0, CLUSTER_LATENCY_RUNNERS), { ...latencyOpts, serverPid: gw.pid });
      }
      log('cluster: three nats-server -js (R3) and one ccg serve --nats on them');
      const node = await startClusterNode({ plain });
      servers.push(node.gateway);
      try {
        const clusterRuns = await createRuns(node.target, Math.max(sizes.ingestRunners, CLUSTER_LATENCY_RUNNERS));
        log(`  durable ingest through JetStream: ${sizes.ingestRunners} runners, ${sizes.ingestSeconds} s; then latency, ${CLUSTER_LATENCY_RUNNERS} runners × ${LINES_PER_SECOND} lines/s`);
        const c = await measureCluster(node, clusterRuns, { ingest: ingestOpts, latency: { runners: CLUSTER_LATENCY_RUNNERS, ...latencyOpts } });
        log(`  ${c.ingest.linesPerSecond.toFixed(0)} lines/s, ${c.ingestSmallWindow.linesPerSecond.toFixed(0)} with 16 unacked (LMDB ${lmdbIngest.linesPerSecond.toFixed(0)}); latency p50 ${c.latency.p50.toFixed(1)} p99 ${c.latency.p99.toFixed(1)} ms; ccg CPU ${c.latency.serverCpu.toFixed(0)}%, NATS CPU ${(c.latency.otherCpu ?? Number.NaN).toFixed(0)}%`);
        raw['cluster'] = { ...c, lmdbIngest, lmdbLatency };
        figures.push(...clusterFigures(c, { ingest: lmdbIngest, latency: lmdbLatency }));
      } finally {
        servers.splice(servers.indexOf(node.gateway), 1);
        await node.stop();
      }
    }
  } catch (err) {
    for (const s of servers) {
      const alive = s.child.exitCode === null && s.child.signalCode === null;
      log(`${s === servers[0] ? 'gateway' : 'relay'} (pid ${s.pid}, ${alive ? 'alive' : `exited ${s.child.exitCode ?? s.child.signalCode}`}) stderr:\n${s.stderr().slice(-3000)}`);
    }
    throw err;
  } finally {
    for (const s of servers.reverse()) await s.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return finish();

  function finish(): number {
    load.end = loadavg()[0]!;
    const out = table(figures);
    process.stdout.write(`\n${out}\n\n`);
    const report = {
      when: new Date(started).toISOString(),
      mode: values.quick ? 'quick' : 'full',
      transport: plain ? 'plain ws (loopback)' : 'TLS (self-signed, pinned)',
      seconds: (Date.now() - started) / 1000,
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? null, node: process.version, loadavg1: load },
      sizes,
      figures,
      raw,
    };
    mkdirSync(join(values.out!, '..'), { recursive: true });
    writeFileSync(values.out!, JSON.stringify(report, null, 2) + '\n');
    const missed = figures.filter((f) => f.target && !f.target.met).length;
    log(`${figures.length} figures in ${report.seconds.toFixed(0)} s; ${missed} target${missed === 1 ? '' : 's'} missed; load ${load.start.toFixed(2)} → ${load.end.toFixed(2)}; report: ${values.out}`);
    return 0;
  }
}

// Exits explicitly: a failed figure can leave client sockets open, and the bench must end.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

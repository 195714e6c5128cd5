import { spawn } from 'node:child_process';
import { startGateway, type ServerProc } from '../lib/procs.js';
import { median } from '../lib/stats.js';

export interface ServeReadyResult {
  /** First start on an empty data directory (makes the certificate, keys and tokens). */
  firstStart: number;
  /** Median of the following starts, spawn → ready line. */
  warmStart: number;
  /** What `ccg serve` itself reports: createGateway() to listening, no process start. */
  inProcess: number;
  /** Reference: spawn → first line of `node -e` printing one line. */
  nodeStart: number;
}

async function nodeStart(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['-e', 'process.stdout.write("ready\\n")'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((r) => child.stdout!.once('data', () => r()));
  const ms = performance.now() - t0;
  await new Promise((r) => child.once('exit', r));
  return ms;
}

/**
 * `ccg serve` start-to-ready: spawn → the ready line on stdout, as a user or a supervisor sees
 * it. Leaves the last gateway running and returns it.
 */
export async function measureServeReady(
  dataDir: string,
  o: { starts: number; plain: boolean; cpuProfDir?: string; nodeArgs?: string[]; mallocDefault?: boolean; beforeWarmStarts?: () => Promise<void> },
): Promise<{ result: ServeReadyResult; gateway: ServerProc }> {
  const first = await startGateway(dataDir, { plain: o.plain, mallocDefault: o.mallocDefault ?? false });
  await first.stop();
  await o.beforeWarmStarts?.();
  const warm: number[] = [];
  const inProc: number[] = [];
  const node: number[] = [];
  let gw: ServerProc | null = null;
  for (let i = 0; i < o.starts; i++) {
    node.push(await nodeStart());
    const last = i === o.starts - 1;
    gw = await startGateway(dataDir, { plain: o.plain, mallocDefault: o.mallocDefault ?? false, ...(last && o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}), ...(last && o.nodeArgs ? { nodeArgs: o.nodeArgs } : {}) });
    warm.push(gw.spawnToReadyMs);
    inProc.push(Number(gw.ready['readyMs']));
    if (!last) await gw.stop();
  }
  return {
    result: { firstStart: first.spawnToReadyMs, warmStart: median(warm), inProcess: median(inProc), nodeStart: median(node) },
    gateway: gw!,
  };
}

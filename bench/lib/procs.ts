import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/lib is compiled to dist/bench/lib). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CCG_BIN = join(ROOT, 'bin/ccg');
export const RELAY_JS = join(ROOT, 'dist/bench/relay.js');

/** A server the bench started in its own process: the gateway (`ccg serve`) or the bare relay. */
export interface ServerProc {
  child: ChildProcess;
  pid: number;
  /** https://127.0.0.1:PORT (http:// with --plain). */
  url: string;
  fingerprint: string | null;
  /** Wall time from spawn() to the ready line on stdout. */
  spawnToReadyMs: number;
  /** The ready line as JSON. */
  ready: Record<string, unknown>;
  stderr(): string;
  /** Resident set size of the process, from /proc/PID/status, in bytes. */
  rss(): number;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** Write a V8 CPU profile of the server to this directory (node --cpu-prof). */
  cpuProfDir?: string;
  /** More node options for the server process (`--node-args`), e.g. `--max-semi-space-size=32`. */
  nodeArgs?: string[];
  /** Start it with glibc's default trim threshold instead of run.sh's (`--malloc-default`). */
  mallocDefault?: boolean;
}

/**
 * What run.sh (and docs/OPERATIONS.md's unit) adds to GLIBC_TUNABLES: freed memory stays mapped up
 * to 32 MiB instead of 128 KiB, so heavy output does not fault every page in afresh. The bench
 * starts both servers so, the gateway as it is deployed and the relay like it.
 */
export const MALLOC_TUNABLE = 'glibc.malloc.trim_threshold=33554432';

function serverEnv(opts: SpawnOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production' };
  const tunables = env['GLIBC_TUNABLES'] ?? '';
  if (!opts.mallocDefault && !tunables.includes('glibc.malloc.trim_threshold=')) env['GLIBC_TUNABLES'] = tunables ? `${tunables}:${MALLOC_TUNABLE}` : MALLOC_TUNABLE;
  return env;
}

/** Resident set size of a process, in bytes (Linux). */
export function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN; // the process has exited
  }
}

/** CPU time (user + system) a process has used, in ms, from /proc/PID/stat (Linux, 100 ticks/s). */
export function cpuMsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    // After "pid (comm) ", utime and stime are fields 12 and 13 (0-based).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** Measures CPU use (% of one core) of a server process and of this process over an interval. */
export function cpuMeter(pid: number): () => { server: number; generator: number } {
  const s0 = cpuMsOf(pid);
  const g0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const wall = performance.now() - t0;
    const g = process.cpuUsage(g0);
    return { server: (100 * (cpuMsOf(pid) - s0)) / wall, generator: (100 * (g.user + g.system)) / 1000 / wall };
  };
}

function startServer(args: string[], what: string, opts: SpawnOptions): Promise<ServerProc> {
  const nodeArgs = [...(opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : []), ...(opts.nodeArgs ?? [])];
  const t0 = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT, env: serverEnv(opts) });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString('utf8')).slice(-20_000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not print its ready line within 30 s; stderr: ${err.slice(-2000)}`));
    }, 30_000);
    const early = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready; stderr: ${err.slice(-2000)}`));
    };
    child.once('exit', early);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const line = out.split('\n').find((l) => l.includes('"ready":true'));
      if (!line) return;
      const spawnToReadyMs = performance.now() - t0;
      clearTimeout(timer);
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      child.off('exit', early);
      const ready = JSON.parse(line) as Record<string, unknown> & { url: string; fingerprint?: string | null };
      resolve({
        child,
        pid: child.pid!,
        url: ready.url,
        fingerprint: ready.fingerprint ?? null,
        spawnToReadyMs,
        ready,
        stderr: () => err,
        rss: () => rssOf(child.pid!),
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          await exited;
          clearTimeout(killer);
        },
      });
    });
  });
}

/** Starts `ccg serve` on loopback, port 0, in its own process (`args`: more options, e.g. `--nats`). */
export function startGateway(dataDir: string, o: SpawnOptions & { plain: boolean; args?: string[] }): Promise<ServerProc> {
  const args = [CCG_BIN, 'serve', '--data', dataDir, '--host', '127.0.0.1', '--port', '0', '--json', '--log-level', 'warn', ...(o.args ?? [])];
  if (o.plain) args.push('--insecure-http');
  return startServer(args, 'ccg serve', o);
}

/** Starts the bare uWebSockets.js relay (bench/relay.ts), with the gateway's certificate unless plain. */
export function startRelay(o: SpawnOptions & { tls: { cert: string; key: string; fingerprint: string } | null }): Promise<ServerProc> {
  const args = [RELAY_JS, '--port', '0'];
  if (o.tls) args.push('--cert', o.tls.cert, '--key', o.tls.key, '--fingerprint', o.tls.fingerprint);
  return startServer(args, 'bare relay', o);
}

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ApiClient } from '../../cli/client/api.js';
import { CreateRunResponse } from '../../protocol/api.js';
import type { Target } from '../lib/clients.js';
import { CCG_BIN } from '../lib/procs.js';
import { percentile } from '../lib/stats.js';

/** One way a line travels from the child that printed it to the bench, and how long it took. */
export interface E2eLatency {
  /** `pipe`: the child's stdout straight to the bench (the reference); `logs`: child → `ccg runner start` → gateway → `ccg runs logs --follow`. */
  path: 'pipe' | 'logs';
  intervalMs: number;
  lines: number;
  /** Lines counted (those printed after the first `warmup` ones). */
  counted: number;
  lost: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * The child: prints `lines` lines, one every `every` ms, each starting with its wall-clock time
 * in ms with µs digits (performance.timeOrigin + now(): the same clock in every process here).
 */
const CHILD = `const [n, every] = process.argv.slice(2).map(Number);
let i = 0;
const timer = setInterval(() => {
  process.stdout.write((performance.timeOrigin + performance.now()).toFixed(3) + ' line ' + i + ' of the end-to-end latency figure\\n');
  if (++i === n) clearInterval(timer);
}, every);
`;

/** Reads lines from a process's stdout and records each one's delay (arrival − the time it carries). */
function timeLines(child: ChildProcess, warmup: number): Promise<{ delays: number[]; seen: number }> {
  const delays: number[] = [];
  let seen = 0;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    const now = performance.timeOrigin + performance.now();
    const m = /^(\d+\.\d{3}) line (\d+) /.exec(line);
    if (!m) return;
    seen++;
    if (Number(m[2]) >= warmup) delays.push(now - Number(m[1]));
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => resolve({ delays, seen }));
  });
}

function summary(path: E2eLatency['path'], intervalMs: number, lines: number, warmup: number, r: { delays: number[]; seen: number }): E2eLatency {
  const sorted = Float64Array.from(r.delays).sort();
  return {
    path,
    intervalMs,
    lines,
    counted: sorted.length,
    lost: lines - r.seen,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

/**
 * End-to-end latency as a person watching sees it: a child printing one timestamped line every
 * `intervalMs` ms, run by a real `ccg runner start` process, followed by a real `ccg runs logs
 * --follow` process, beside the same child piped straight into the bench. The first 10% of the
 * lines (the runner connecting, the follower catching up) are not counted.
 */
export async function measureE2eLatency(t: Target, dir: string, o: { intervalMs: number; lines: number }): Promise<{ pipe: E2eLatency; logs: E2eLatency }> {
  const childJs = join(dir, 'e2e-child.cjs');
  writeFileSync(childJs, CHILD);
  const warmup = Math.ceil(o.lines / 10);
  const args = [childJs, String(o.lines), String(o.intervalMs)];

  const direct = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const pipe = summary('pipe', o.intervalMs, o.lines, warmup, await timeLines(direct, warmup));

  const api = new ApiClient({ gateway: t.url, token: t.operatorToken!, fingerprint: t.fingerprint ?? undefined });
  const run = await api.json('POST', '/api/v1/runs', CreateRunResponse, { name: `bench e2e ${o.intervalMs} ms` });
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], CCG_GATEWAY: t.url, CCG_FINGERPRINT: t.fingerprint ?? '' };
  const follower = spawn(process.execPath, [CCG_BIN, 'runs', 'logs', run.id, '--follow'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...env, CCG_TOKEN: t.operatorToken! } });
  const followed = timeLines(follower, warmup);
  const runner = spawn(process.execPath, [CCG_BIN, 'runner', 'start', '--run-id', run.id, '--cwd', dir, '--', process.execPath, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...env, CCG_RUN_TOKEN: run.token },
  });
  let stderr = '';
  runner.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const runnerExit = new Promise<number | null>((resolve) => runner.once('exit', resolve));
  const logs = summary('logs', o.intervalMs, o.lines, warmup, await followed);
  const code = await runnerExit;
  if (code !== 0) throw new Error(`ccg runner start exited with ${code}: ${stderr}`);
  return { pipe, logs };
}

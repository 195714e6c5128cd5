import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ApiClient } from '../../cli/client/api.js';
import { CreateRunResponse } from '../../protocol/api.js';
import type { Target } from '../lib/clients.js';
import { pageRequest } from '../lib/page-session.js';
import { CCG_BIN } from '../lib/procs.js';
import { percentile } from '../lib/stats.js';

/** One way a line travels from the child that printed it to the bench, and how long it took. */
export interface E2eLatency {
  /**
   * `pipe`: the child's stdout straight to the bench (the reference); `logs`: child → `ccg runner
   * start` → gateway → `ccg runs logs --follow`; `sse`: … → gateway → the run page's live stream
   * (`GET /runs/:id/live`, server-sent events, what the phone's page listens to), read by the bench.
   */
  path: 'pipe' | 'logs' | 'sse';
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
 * The child: prints `lines` lines, one every `every` ms, each starting with the time on the
 * system's monotonic clock in ms with µs digits (process.hrtime: one clock for every process on
 * the machine). Not performance.timeOrigin + now(): each process samples its time origin at start,
 * and under load that sample was off by a millisecond or more (a negative p50 came out).
 */
const CHILD = `const [n, every] = process.argv.slice(2).map(Number);
let i = 0;
const timer = setInterval(() => {
  process.stdout.write((Number(process.hrtime.bigint()) / 1e6).toFixed(3) + ' line ' + i + ' of the end-to-end latency figure\\n');
  if (++i === n) clearInterval(timer);
}, every);
`;

/** Now on the system's monotonic clock, ms (the clock the child stamps its lines with). */
function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

interface Timed {
  delays: number[];
  seen: number;
}

/** Records one line's delay (`now` − the time it carries), if it is one of the child's. */
function timeLine(r: Timed, line: string, now: number, warmup: number): void {
  const m = /^(\d+\.\d{3}) line (\d+) /.exec(line);
  if (!m) return;
  r.seen++;
  if (Number(m[2]) >= warmup) r.delays.push(now - Number(m[1]));
}

/** Reads lines from a process's stdout and records each one's delay (arrival − the time it carries). */
function timeLines(child: ChildProcess, warmup: number): Promise<Timed> {
  const r: Timed = { delays: [], seen: 0 };
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => timeLine(r, line, monotonicMs(), warmup));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => resolve(r));
  });
}

/** Text of the live stream's output HTML: tags dropped, the escaper's entities decoded. */
function htmlText(html: string): string {
  return html.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}

/**
 * Follows the run page's live stream as the phone's EventSource does (session cookie, `?after=0`)
 * until the stream says `end` (the run is over and everything was sent), timing each line on the
 * arrival of the event that carries it.
 */
function timeSse(t: Target, cookie: string, runId: string, warmup: number): Promise<Timed> {
  const r: Timed = { delays: [], seen: 0 };
  return new Promise((resolve, reject) => {
    const req = pageRequest(t, 'GET', `/runs/${runId}/live?after=0&view=raw`, { accept: 'text/event-stream', cookie });
    let buf = '';
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET /runs/${runId}/live: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        const now = monotonicMs();
        buf += text;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (event === 'output') for (const line of htmlText(data.join('\n')).split('\n')) timeLine(r, line, now, warmup);
          if (event === 'end') {
            req.destroy();
            resolve(r);
            return;
          }
        }
      });
      res.on('end', () => resolve(r));
    });
    req.on('error', (err) => (r.seen > 0 ? resolve(r) : reject(err)));
    req.end();
  });
}

function summary(path: E2eLatency['path'], intervalMs: number, lines: number, warmup: number, r: Timed): E2eLatency {
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
 * --follow` process (`logs`) or by the run page's live stream (`sse`, needs a page session's
 * cookie), beside the same child piped straight into the bench. The first 10% of the lines (the
 * runner connecting, the follower catching up) are not counted.
 */
export async function measureE2eLatency(
  t: Target,
  dir: string,
  o: { intervalMs: number; lines: number; sessionCookie?: string },
): Promise<{ pipe: E2eLatency; logs: E2eLatency; sse: E2eLatency | null }> {
  const childJs = join(dir, 'e2e-child.cjs');
  writeFileSync(childJs, CHILD);
  const warmup = Math.ceil(o.lines / 10);
  const args = [childJs, String(o.lines), String(o.intervalMs)];

  const direct = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const pipe = summary('pipe', o.intervalMs, o.lines, warmup, await timeLines(direct, warmup));

  const api = new ApiClient({ gateway: t.url, token: t.operatorToken!, fingerprint: t.fingerprint ?? undefined });
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], CCG_GATEWAY: t.url, CCG_FINGERPRINT: t.fingerprint ?? '' };
  /** One run of the child under `ccg runner start`, followed by `follow` (started before the runner). */
  const viaGateway = async (path: 'logs' | 'sse', follow: (runId: string) => Promise<Timed>): Promise<E2eLatency> => {
    const run = await api.json('POST', '/api/v1/runs', CreateRunResponse, { name: `bench e2e ${o.intervalMs} ms (${path})` });
    const followed = follow(run.id);
    const runner = spawn(process.execPath, [CCG_BIN, 'runner', 'start', '--run-id', run.id, '--cwd', dir, '--', process.execPath, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...env, CCG_RUN_TOKEN: run.token },
    });
    let stderr = '';
    runner.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const runnerExit = new Promise<number | null>((resolve) => runner.once('exit', resolve));
    const result = summary(path, o.intervalMs, o.lines, warmup, await followed);
    const code = await runnerExit;
    if (code !== 0) throw new Error(`ccg runner start exited with ${code}: ${stderr}`);
    return result;
  };

  const logs = await viaGateway('logs', (runId) => {
    const follower = spawn(process.execPath, [CCG_BIN, 'runs', 'logs', runId, '--follow'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...env, CCG_TOKEN: t.operatorToken! } });
    return timeLines(follower, warmup);
  });
  const cookie = o.sessionCookie;
  const sse = cookie === undefined ? null : await viaGateway('sse', (runId) => timeSse(t, cookie, runId, warmup));
  return { pipe, logs, sse };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CCG_BIN = fileURLToPath(new URL('../../../bin/ccg', import.meta.url));
/** The seed's spelling of the runner (`claude-runner start`, `claude-runner machine start`). */
export const SEED_RUNNER_BIN = fileURLToPath(new URL('../../../bin/claude-runner', import.meta.url));

export interface Proc {
  child: ChildProcess;
  stdout: () => Buffer;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `bin/ccg ARGS` (or `opts.bin`) as a real child process, collecting its output. */
export function spawnCcg(args: string[], env: Record<string, string | undefined>, opts: { cwd?: string; bin?: string } = {}): Proc {
  const child = spawn(process.execPath, [opts.bin ?? CCG_BIN, ...args], {
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => Buffer.concat(out), stderr: () => Buffer.concat(err).toString('utf8'), exited };
}

/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
export async function waitFor<T>(check: () => T | undefined | Promise<T | undefined>, ms = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

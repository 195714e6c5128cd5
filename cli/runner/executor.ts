import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { GatewayExec } from '../../protocol/runner-messages.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { resolveExec, type AllowedCommand } from './allowlist.js';

export interface ExecutorOptions {
  allowlist: AllowedCommand[];
  cwd: string;
  /** The runner's environment; commands get only a few harmless variables of it. */
  env: NodeJS.ProcessEnv;
  /** Where used request ids are remembered, so a replay is refused even by a restarted runner. */
  usedIdsFile: string;
  event(ev: RunnerEvent): void;
  output(data: Buffer): void;
  status(line: string): void;
}

const KEEP_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TMPDIR', 'TZ'];

/**
 * Runs allowlisted commands on the gateway's request: argv spawn (no shell), in the workspace,
 * with a scrubbed environment, a timeout that kills the whole process group, and an output cap.
 * One command at a time; each request id is accepted once.
 */
export class Executor {
  private running: { child: ChildProcess; requestId: string } | null = null;
  private readonly used = new Set<string>();

  constructor(private readonly o: ExecutorOptions) {
    if (existsSync(o.usedIdsFile)) for (const id of readFileSync(o.usedIdsFile, 'utf8').split('\n')) if (id) this.used.add(id);
  }

  handle(msg: GatewayExec): void {
    const refuse = (reason: string) => {
      this.o.status(`refused command ${JSON.stringify(msg.name.slice(0, 64))}: ${reason}`);
      this.o.event({ type: 'exec_refused', requestId: msg.requestId, name: msg.name.slice(0, 64), reason });
    };
    if (this.used.has(msg.requestId)) return refuse('request id already used (replay)');
    this.used.add(msg.requestId);
    appendFileSync(this.o.usedIdsFile, msg.requestId + '\n', { mode: 0o600 });
    if (this.running) return refuse(`busy: ${this.running.requestId} is still running`);
    const resolved = resolveExec(this.o.allowlist, msg.name, msg.params);
    if (!resolved.ok) return refuse(resolved.reason);
    this.start(msg, resolved.cmd, resolved.argv);
  }

  private start(msg: GatewayExec, cmd: AllowedCommand, argv: string[]): void {
    const env: NodeJS.ProcessEnv = { TERM: 'dumb', GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', PAGER: 'cat', NO_COLOR: '1' };
    for (const k of KEEP_ENV) if (this.o.env[k] !== undefined) env[k] = this.o.env[k];
    const started = performance.now();
    this.o.status(`running allowlisted command ${cmd.name}`);
    this.o.event({ type: 'exec_started', requestId: msg.requestId, name: cmd.name, params: msg.params });
    const child = spawn(argv[0]!, argv.slice(1), { cwd: this.o.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, shell: false });
    this.running = { child, requestId: msg.requestId };
    let bytes = 0;
    let truncated = false;
    let timedOut = false;
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const stop = () => {
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 2000).unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      this.o.output(Buffer.from(`\n[ccg: ${cmd.name} timed out after ${Math.round(cmd.timeoutMs / 1000)} s; stopped]\n`));
      stop();
    }, cmd.timeoutMs);
    const onData = (d: Buffer) => {
      if (truncated) return;
      if (bytes + d.length > cmd.maxOutput) {
        this.o.output(d.subarray(0, cmd.maxOutput - bytes));
        this.o.output(Buffer.from(`\n[ccg: output of ${cmd.name} truncated at ${cmd.maxOutput} bytes; stopped]\n`));
        truncated = true;
        stop();
        return;
      }
      bytes += d.length;
      this.o.output(d);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    let done = false;
    const finish = (code: number | null, signal: string | null, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.running = null;
      if (error) this.o.output(Buffer.from(`[ccg: could not start ${cmd.name}: ${error}]\n`));
      this.o.event({ type: 'exec_exit', requestId: msg.requestId, name: cmd.name, code: error ? 127 : code, signal, timedOut, truncated, durationMs: Math.round(performance.now() - started) });
    };
    child.on('error', (err) => finish(null, null, (err as NodeJS.ErrnoException).code ?? err.message));
    child.on('close', (code, signal) => finish(code, signal));
  }

  /** Stops a running command (the runner is exiting). */
  stop(): void {
    const pid = this.running?.child.pid;
    if (pid) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

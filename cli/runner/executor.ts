import { spawn, type ChildProcess } from 'node:child_process';
import type { GatewayExec } from '../../protocol/runner-messages.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { resolveExec, type AllowedCommand } from './allowlist.js';
import { commandEnv } from './env.js';
import { groupSpawnOptions, stopTree } from './process-tree.js';
import type { UsedIds } from './used-ids.js';

export interface ExecutorOptions {
  allowlist: AllowedCommand[];
  cwd: string;
  /** The runner's environment; commands get only a few harmless variables of it. */
  env: NodeJS.ProcessEnv;
  /** Request ids already used, so a replay is refused even by a restarted runner. */
  usedIds: UsedIds;
  event(ev: RunnerEvent): void;
  output(data: Buffer): void;
  status(line: string): void;
  /** Between SIGTERM and SIGKILL when a command is stopped (timeout, output cap). */
  killGraceMs?: number;
}

/** After the command exits, how long its output pipes may stay open (held by a stray grandchild). */
const PIPE_CLOSE_GRACE_MS = 2000;

/**
 * Runs allowlisted commands on the gateway's request: argv spawn (no shell), in the workspace,
 * with a scrubbed environment, a timeout that kills the whole process group, and an output cap.
 * One command at a time; each request id is accepted once.
 */
export class Executor {
  private running: { child: ChildProcess; requestId: string; done: Promise<void> } | null = null;

  constructor(private readonly o: ExecutorOptions) {}

  /** True while a command runs. */
  get busy(): boolean {
    return this.running !== null;
  }

  handle(msg: GatewayExec): void {
    const name = msg.name.slice(0, 64);
    const refuse = (reason: string) => {
      this.o.status(`refused command ${JSON.stringify(name)}: ${reason}`);
      this.o.event({ type: 'exec_refused', requestId: msg.requestId, name, reason });
    };
    const spent = this.o.usedIds.claim(msg.requestId);
    if (spent) return refuse(spent);
    if (this.running) return refuse(`busy: ${this.running.requestId} is still running`);
    const resolved = resolveExec(this.o.allowlist, msg.name, msg.params);
    if (!resolved.ok) return refuse(resolved.reason);
    this.start(msg, resolved.cmd, resolved.argv);
  }

  private start(msg: GatewayExec, cmd: AllowedCommand, argv: string[]): void {
    const started = performance.now();
    this.o.status(`running allowlisted command ${cmd.name}`);
    this.o.event({ type: 'exec_started', requestId: msg.requestId, name: cmd.name, params: { ...msg.params } });
    // Its own process group (or tree root on Windows), so a timeout kills everything it started.
    const child = spawn(argv[0]!, argv.slice(1), { cwd: this.o.cwd, env: commandEnv(this.o.env), stdio: ['ignore', 'pipe', 'pipe'], ...groupSpawnOptions, shell: false });
    let bytes = 0;
    let truncated = false;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | null = null;
    const stop = () => {
      stopTree(child.pid, 'SIGTERM');
      killTimer ??= setTimeout(() => stopTree(child.pid, 'SIGKILL'), this.o.killGraceMs ?? 2000);
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
        bytes = cmd.maxOutput;
        truncated = true;
        stop();
        return;
      }
      bytes += d.length;
      this.o.output(d);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    this.running = { child, requestId: msg.requestId, done };
    let finished = false;
    const finish = (code: number | null, signal: string | null, error?: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      // Whatever the command left behind in its group goes with it.
      stopTree(child.pid, 'SIGKILL');
      this.running = null;
      if (error) this.o.output(Buffer.from(`[ccg: could not start ${cmd.name}: ${error}]\n`));
      this.o.event({ type: 'exec_exit', requestId: msg.requestId, name: cmd.name, code: error ? 127 : code, signal, timedOut, truncated, durationMs: Math.round(performance.now() - started) });
      resolveDone();
    };
    child.on('error', (err) => finish(null, null, (err as NodeJS.ErrnoException).code ?? err.message));
    child.on('close', (code, signal) => finish(code, signal));
    child.on('exit', (code, signal) => {
      // A grandchild that left the group may hold the pipes open: do not wait for it forever.
      setTimeout(() => {
        if (finished) return;
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, PIPE_CLOSE_GRACE_MS).unref();
    });
  }

  /** Stops a running command (the run is ending) and resolves once its exit event is out. */
  async stop(): Promise<void> {
    const r = this.running;
    if (!r) return;
    stopTree(r.child.pid, 'SIGKILL');
    await r.done;
  }
}

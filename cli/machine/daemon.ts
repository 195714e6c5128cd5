import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { GatewayToMachine, MachineStart, PROTOCOL_VERSION, signMachineRequest, type MachineToGateway } from '../../protocol/machine.js';
import { RUN_ID_RE } from '../../protocol/ids.js';
import { HEADER_PROTOCOL } from '../../protocol/signing.js';
import { gatewayFlags, type GatewayUrl } from '../client/gateways.js';
import { ReconnectingSocket, type ReconnectPolicy } from '../client/reconnecting-socket.js';
import { CliError, EXIT, exitForCode } from '../exit-codes.js';
import { advertiseWorkspaces, checkStart, type MachineConfig, type Workspace } from './config.js';
import { addWorktree, pruneWorktrees } from './worktree.js';

export interface MachineDaemonOptions {
  /** The gateway URLs (a cluster's nodes, or one) with their pins, in the order tried. */
  gateways: GatewayUrl[];
  name: string;
  token: string;
  config: MachineConfig;
  /** Where the daemon keeps its runs' records, logs, spools and worktrees. */
  stateDir: string;
  /** How to start `ccg runner start` here: [node, script, …words before the runner's options]. */
  runnerEntry: string[];
  claudeBin: string | undefined;
  env: NodeJS.ProcessEnv;
  version: string;
  heartbeatMs: number;
  status: (line: string) => void;
}

/** How long a start continuing a run waits for that run's runner to exit before it is refused. */
const CHECKOUT_WAIT_MS = 15_000;

/** A run this machine started, as recorded in `<state>/runs/<id>.json`. */
interface RunRecordFile {
  runId: string;
  pid: number;
  workspace: string;
  dir: string;
  worktree: boolean;
  startedAt: number;
  endedAt: number | null;
}

/** Process liveness without being its parent (the runners outlive a restarted daemon). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The machine daemon: one outbound socket to the gateway, reconnecting for ever; each `start`
 * the gateway hands over is checked against the machine's config (the authority) and, if
 * allowed, becomes a `ccg runner start` child process — detached, so it keeps running when the
 * daemon is restarted or killed. Resolves only when the gateway refuses this machine for good
 * (revoked, wrong token); rejects with that error.
 */
export class MachineDaemon {
  private readonly link: ReconnectingSocket;
  private readonly runsDir: string;
  private welcomed = false;
  private lastRunning = '';
  /** Starts that wait for the checkout of the run they continue to be free (onStart). */
  private readonly waiting = new Set<string>();
  private poll: NodeJS.Timeout | null = null;
  private prune: NodeJS.Timeout | null = null;
  private settle!: (v: number) => void;
  private reject!: (e: CliError) => void;
  readonly done = new Promise<number>((res, rej) => {
    this.settle = res;
    this.reject = rej;
  });

  constructor(private readonly o: MachineDaemonOptions) {
    this.runsDir = join(o.stateDir, 'runs');
    mkdirSync(this.runsDir, { recursive: true, mode: 0o700 });
    this.link = new ReconnectingSocket({
      gateways: o.gateways,
      path: '/v1/machine',
      headers: (url) => ({ ...signMachineRequest(o.token, { method: 'GET', target: url.pathname, name: o.name }), [HEADER_PROTOCOL]: String(PROTOCOL_VERSION) }),
      maxPayload: 256 * 1024,
      backoffMs: 200,
      heartbeatMs: o.heartbeatMs,
      policy: this.policy(),
      handlers: {
        open: () => this.hello(),
        message: (data, isBinary) => {
          if (!isBinary) this.onMessage(String(data));
        },
        retrying: (why, attempt, next) => {
          this.welcomed = false;
          if (attempt === 1 || attempt % 10 === 0) o.status(`${why.message}; reconnecting${o.gateways.length > 1 ? ` to ${next}` : ''}…`);
        },
        fatal: (err) => this.stop(err),
      },
    });
  }

  /** Connects, and keeps the records of its runs current. */
  start(): Promise<number> {
    this.link.start();
    this.poll = setInterval(() => this.reportRunning(), 1000);
    const sweep = () => {
      try {
        pruneWorktrees(this.o.stateDir, this.records(), this.o.config, this.o.status);
      } catch (err) {
        this.o.status(`worktree cleanup failed: ${String(err)}`);
      }
    };
    sweep();
    this.prune = setInterval(sweep, 60 * 60_000);
    return this.done;
  }

  /** Stops the daemon (its runs go on). */
  close(): void {
    this.link.close();
    if (this.poll) clearInterval(this.poll);
    if (this.prune) clearInterval(this.prune);
    this.settle(0);
  }

  private stop(err: CliError): void {
    if (this.poll) clearInterval(this.poll);
    if (this.prune) clearInterval(this.prune);
    this.o.status(err.message);
    this.reject(err);
  }

  private policy(): ReconnectPolicy {
    return {
      // A wrong or revoked token, an unknown machine: retrying cannot mend them.
      refused: (status, code, message = `gateway answered ${status}`) =>
        status >= 400 && status < 500 && status !== 408 && status !== 429
          ? { fatal: true, err: new CliError(`gateway refused this machine: ${code}: ${message}`, exitForCode(code), code) }
          : { fatal: false, err: new CliError(`gateway answered ${status} (${code}: ${message})`, EXIT.UNREACHABLE, 'ERR_UNREACHABLE') },
      closed: (code, reason, noted) =>
        code === 4401
          ? { fatal: true, err: new CliError(`gateway closed the connection: ${reason.code ?? code}: ${reason.message}`, EXIT.AUTH, reason.code ?? 'ERR_MACHINE_REVOKED') }
          : { fatal: false, err: noted ?? new CliError(`connection closed (${code}${reason.message ? `: ${reason.message}` : ''})`, EXIT.UNREACHABLE, 'ERR_UNREACHABLE') },
      giveUp: () => null, // for ever
    };
  }

  private send(msg: MachineToGateway): void {
    this.link.send(JSON.stringify(msg));
  }

  private hello(): void {
    this.welcomed = false;
    this.send({
      type: 'hello', v: PROTOCOL_VERSION,
      machine: { hostname: hostname().slice(0, 255), version: this.o.version, platform: process.platform, workspaces: advertiseWorkspaces(this.o.config), maxRuns: this.o.config.maxRuns, running: this.running() },
    });
  }

  private onMessage(raw: string): void {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      return;
    }
    const parsed = GatewayToMachine.safeParse(value);
    if (!parsed.success) {
      // A start that fails the schema (a directory, an argv, an unknown field) is refused, never acted on.
      const v = value as { type?: unknown; runId?: unknown } | null;
      if (v?.type === 'start' && typeof v.runId === 'string' && RUN_ID_RE.test(v.runId)) {
        const issue = MachineStart.safeParse(value).error?.issues[0];
        this.refuse(v.runId, `malformed start request (${issue ? `${issue.path.join('.') || 'request'}: ${issue.message}` : 'unknown fields or bad values'})`);
      } else this.o.status('ignored a malformed message from the gateway');
      return;
    }
    const msg = parsed.data;
    switch (msg.type) {
      case 'welcome':
        this.welcomed = true;
        this.link.resetBackoff();
        this.o.status(`connected to ${this.link.gateway.url} as machine ${this.o.name}`);
        this.lastRunning = '';
        this.reportRunning();
        return;
      case 'error':
        this.o.status(`gateway: ${msg.code}: ${msg.message.slice(0, 300)}`);
        return;
      case 'start':
        if (!this.welcomed) return this.o.status('ignored a start that came before the welcome');
        return this.onStart(msg);
    }
  }

  private refuse(runId: string, reason: string): void {
    this.o.status(`refused run ${runId}: ${reason}`);
    this.send({ type: 'start_result', runId, ok: false, reason: reason.slice(0, 1024) });
  }

  private records(): RunRecordFile[] {
    const out: RunRecordFile[] = [];
    for (const f of readdirSync(this.runsDir)) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.runsDir, f), 'utf8')) as RunRecordFile);
      } catch {
        /* a half-written record: skipped */
      }
    }
    return out;
  }

  private writeRecord(r: RunRecordFile): void {
    const file = join(this.runsDir, `${r.runId}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(r), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  /** The runs whose runner still lives; records of ended ones get their end time. */
  private running(): string[] {
    const out: string[] = [];
    for (const r of this.records()) {
      if (r.endedAt !== null) continue;
      if (alive(r.pid)) out.push(r.runId);
      else this.writeRecord({ ...r, endedAt: Date.now() });
    }
    return out.sort();
  }

  private reportRunning(): void {
    const running = this.running();
    const key = running.join(',');
    if (!this.welcomed || key === this.lastRunning) return;
    this.lastRunning = key;
    this.send({ type: 'running', running });
  }

  private onStart(msg: MachineStart, waitedMs = 0): void {
    const existing = existsSync(join(this.runsDir, `${msg.runId}.json`));
    // The gateway hands a start over again after a reconnect until it hears the answer: once is enough.
    if (existing) return void this.send({ type: 'start_result', runId: msg.runId, ok: true });
    if (waitedMs === 0 && this.waiting.has(msg.runId)) return;
    const check = checkStart(this.o.config, msg);
    if (!check.ok) return this.refuse(msg.runId, check.reason);
    // A run continued as soon as it ended: its runner delivers the last output and exits a moment
    // after the gateway says it ended. Wait for it rather than refuse (it still counts as working
    // in the checkout while it lives).
    if (msg.previousRunId && check.ws.worktree && waitedMs < CHECKOUT_WAIT_MS && this.checkoutBusy(msg.previousRunId)) {
      this.waiting.add(msg.runId);
      setTimeout(() => this.onStart(msg, waitedMs + 250), 250).unref();
      return;
    }
    this.waiting.delete(msg.runId);
    const running = this.running();
    if (running.length >= this.o.config.maxRuns) {
      return this.refuse(msg.runId, `this machine runs its maximum of ${this.o.config.maxRuns} run${this.o.config.maxRuns === 1 ? '' : 's'} at once (running: ${running.join(', ')}); try again when one ends`);
    }
    let dir: string;
    try {
      dir = this.checkout(check.ws, msg);
    } catch (err) {
      return this.refuse(msg.runId, err instanceof CliError ? err.message : String(err));
    }
    try {
      const pid = this.spawnRunner(check.ws, dir, msg);
      this.writeRecord({ runId: msg.runId, pid, workspace: check.ws.name, dir, worktree: check.ws.worktree, startedAt: Date.now(), endedAt: null });
    } catch (err) {
      return this.refuse(msg.runId, `could not start the runner: ${String(err)}`);
    }
    this.o.status(`started run ${msg.runId} in workspace ${check.ws.name}${check.ws.worktree ? ` (worktree ${dir})` : ''}`);
    this.send({ type: 'start_result', runId: msg.runId, ok: true });
    this.reportRunning();
  }

  /**
   * The directory the run works in: the workspace, or its own worktree. A continued run reuses
   * the worktree of the run it continues, only if that run was started here in the same workspace
   * (a start naming another workspace's run would work in that checkout under this one's modes and
   * allowlist) and has ended (two Claudes in one checkout).
   */
  /** Whether a live run works in the checkout `previousRunId` worked in. */
  private checkoutBusy(previousRunId: string): boolean {
    const records = this.records();
    const dir = records.find((r) => r.runId === previousRunId)?.dir;
    return dir !== undefined && records.some((r) => r.dir === dir && r.endedAt === null && alive(r.pid));
  }

  private checkout(ws: Workspace, msg: MachineStart): string {
    if (!ws.worktree) return ws.dir;
    if (msg.previousRunId) {
      const records = this.records();
      const prev = records.find((r) => r.runId === msg.previousRunId);
      // The checkout it worked in: its own worktree, or the one of the run it continued in turn.
      const dir = prev?.dir ?? '';
      if (!prev || prev.workspace !== ws.name || !prev.worktree || dirname(dir) !== join(this.o.stateDir, 'worktrees')) {
        throw new CliError(`run ${msg.previousRunId} did not run in workspace ${ws.name} on this machine: a run is continued in its own workspace`);
      }
      const busy = records.find((r) => r.dir === dir && r.endedAt === null && alive(r.pid));
      if (busy) throw new CliError(`run ${busy.runId} still works in that checkout: continue once it has ended`);
      if (!existsSync(dir)) throw new CliError(`the checkout of run ${msg.previousRunId} was removed (worktreeKeepHours); start a new run instead`);
      return dir;
    }
    return addWorktree(this.o.stateDir, ws.dir, msg.runId);
  }

  private spawnRunner(ws: Workspace, dir: string, msg: MachineStart): number {
    const o = this.o;
    const args = [
      // Every node, starting with the one this daemon is connected to (it just answered).
      ...o.runnerEntry.slice(1), ...gatewayFlags(o.gateways, this.link.gatewayIndex),
      '--run-id', msg.runId, '--cwd', dir, '--spool-dir', join(o.stateDir, 'spool'), '--quiet',
      ...ws.allowFlags.flatMap((spec) => ['--allow', spec]),
      ...(ws.allowlistFile ? ['--allowlist', ws.allowlistFile] : []),
      ...o.config.runnerArgs,
    ];
    if (msg.prompt !== undefined) {
      if (o.claudeBin) args.push('--claude-bin', o.claudeBin);
      if (msg.mode) args.push('--claude-arg=--permission-mode', `--claude-arg=${msg.mode}`);
      if (msg.model) args.push('--claude-arg=--model', `--claude-arg=${msg.model}`);
      if (msg.resume) args.push('--claude-arg=--resume', `--claude-arg=${msg.resume}`);
      // The workspace's modes and models bind the whole run, not only its start (in a terminal,
      // keystrokes can switch them: there they bind the start only, docs/SECURITY.md).
      if (!o.config.runnerArgs.includes('--pty')) args.push(`--modes=${ws.modes.join(',')}`, `--models=${ws.models.join(',')}`);
      // On the runner's stdin, not its command line, which every user of the machine sees in ps.
      args.push('--cmd-file=-');
    } else {
      args.push('--', ...ws.allowlist.find((a) => a.name === msg.command)!.argv);
    }
    const env: NodeJS.ProcessEnv = { ...o.env, CCG_RUN_TOKEN: msg.token };
    for (const k of ['CCG_MACHINE_TOKEN', 'CCG_TOKEN', 'CCG_GATEWAY', 'CCG_FINGERPRINT', 'CCG_RUN_ID']) delete env[k];
    const logFile = join(o.stateDir, 'logs', `${msg.runId}.log`);
    mkdirSync(join(o.stateDir, 'logs'), { recursive: true, mode: 0o700 });
    const fd = openSync(logFile, 'a', 0o600);
    try {
      // Detached, in its own process group, output to a file: the run outlives this daemon.
      const child = spawn(o.runnerEntry[0]!, args, { cwd: dir, env, detached: true, stdio: [msg.prompt === undefined ? 'ignore' : 'pipe', fd, fd] });
      if (child.pid === undefined) throw new Error('no pid');
      child.on('error', (err) => o.status(`runner of ${msg.runId}: ${String(err)}`));
      if (child.stdin) {
        // A runner gone before it read the prompt has said why in its log: no EPIPE here.
        child.stdin.on('error', () => undefined);
        child.stdin.end(msg.prompt);
      }
      child.unref();
      return child.pid;
    } finally {
      closeSync(fd);
    }
  }
}

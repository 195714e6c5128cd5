import { constants as osConstants, hostname } from 'node:os';
import { join } from 'node:path';
import { STREAM_COMMAND, STREAM_STDERR } from '../../protocol/frames.js';
import type { Redaction } from '../../protocol/redaction.js';
import { PROTOCOL_VERSION } from '../../protocol/run.js';
import { GatewayToRunner, REQUEST_ID_RE, type RunnerToGateway } from '../../protocol/runner-messages.js';
import { HEADER_PROTOCOL, signRequest } from '../../protocol/signing.js';
import type { GatewayUrl } from '../client/gateways.js';
import { ReconnectingSocket, type ReconnectPolicy } from '../client/reconnecting-socket.js';
import { CliError, EXIT, exitForCode } from '../exit-codes.js';
import type { AllowedCommand } from './allowlist.js';
import { CancelLadder } from './cancel-ladder.js';
import { STEERING_TYPES, steeringKind, type ChildDriver, type DriverIO, type SteeringMessage } from './driver.js';
import { forgetChild, recordChild, stopOrphanedChild } from './orphan.js';
import { ChunkSender, OutputPipeline, runRedaction, type ExitMessage } from './output-pipeline.js';
import { DEFAULT_POWERS, RunnerPowers, type PowersConfig } from './powers.js';
import { SpawnDriver } from './spawn-driver.js';
import { Spool } from './spool.js';

export interface RunnerOptions {
  /** The gateway URLs (the nodes of a cluster, or one) with their pins, in the order tried. */
  gateways: GatewayUrl[];
  runId: string;
  token: string;
  argv: string[];
  mode: 'command' | 'claude';
  cwd: string;
  env: NodeJS.ProcessEnv;
  spoolRoot: string;
  /** Status lines for the person at the terminal (stderr). */
  status: (line: string) => void;
  /** Mirror the child's output to these (the local terminal), or not. */
  echo: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } | null;
  version: string;
  /** How long to keep trying to reach the gateway before the child starts. */
  connectTimeoutMs: number;
  /** How long to keep trying to deliver the rest of the output after the child exited. */
  lingerMs: number;
  /** Time between SIGINT → SIGTERM → SIGKILL when cancelling. */
  graceMs: number;
  /** The commands the gateway may ask for, by name. */
  allowlist: AllowedCommand[];
  /** Artifacts and assist sessions (powers.ts); defaults when absent. */
  powers?: PowersConfig;
  /** Runs the child its own way (Claude over stream-json, or a pty); default: a plain spawn of `argv`. */
  driver?: ChildDriver;
  /**
   * Ping the gateway this often; a connection that brings nothing back (no message, no pong)
   * for three times as long is dropped and reopened. Default 15 s.
   */
  heartbeatMs?: number;
}

/** Close codes after which reconnecting cannot help. */
const FATAL_CLOSE = new Set([4001, 4401, 4403, 4404, 4410, 4413, 4426]);

/**
 * The connect-back runner: starts the child, numbers and spools its output, streams it to the
 * gateway over a signed WebSocket, resends whatever is not acknowledged after any reconnect, and
 * reports the exit. Resolves with the child's exit status.
 */
export async function runRunner(o: RunnerOptions): Promise<number> {
  const spool = Spool.open(join(o.spoolRoot, o.runId));
  await stopOrphanedChild(spool.dir, o.graceMs, o.status);
  const runner = new Runner(o, spool);
  const forward = (sig: NodeJS.Signals) => () => runner.cancelChild(`a local ${sig}`);
  const onSigint = forward('SIGINT');
  const onSigterm = forward('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  try {
    return await runner.run();
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}

/**
 * The exit status of `ccg runner start`. A cancelled run exits 130 like `ccg runs wait` says it
 * ended, even when the child (Claude, interrupted cleanly) exited 0 by itself; the gateway still
 * records the child's own code.
 */
function exitStatus(exit: ExitMessage | null, cancelled: boolean): number {
  if (!exit) return EXIT.ERROR;
  if (exit.error) return 127;
  if (cancelled) return EXIT.CANCELLED;
  if (exit.code !== null) return exit.code;
  const signum = exit.signal ? ((osConstants.signals as Record<string, number>)[exit.signal] ?? 0) : 0;
  return 128 + signum;
}

/** The child as the runner sees it. */
interface ChildState {
  started: boolean;
  pid: number | null;
  /** It ended and the run-end work (stop commands, collect artifacts) is under way. */
  exiting: boolean;
}

/** The gateway connection as the runner sees it. */
interface LinkState {
  /** The gateway welcomed the current connection: output, requests and replies may flow. */
  welcomed: boolean;
  /** Some connection was welcomed before (status lines then speak of resuming). */
  wasConnected: boolean;
}

/**
 * Coordinates the runner's parts: the child's driver, the output pipeline and chunk sender, the
 * gateway link, the powers (commands, artifacts, assist) and the cancel ladder.
 */
class Runner {
  private readonly child: ChildState = { started: false, pid: null, exiting: false };
  private readonly conn: LinkState = { welcomed: false, wasConnected: false };
  private finished = false;
  /** Runs once the child has exited, after the run ended without it (a `finished` welcome). */
  private afterChild: (() => void) | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;
  private readonly driver: ChildDriver;
  private readonly redaction: Redaction;
  private readonly pipeline: OutputPipeline;
  private readonly sender: ChunkSender;
  private readonly powers: RunnerPowers;
  private readonly link: ReconnectingSocket;
  private readonly cancel: CancelLadder;
  private readonly connectDeadline: number;
  private settle!: (code: number) => void;
  private reject!: (err: CliError) => void;
  private readonly done = new Promise<number>((res, rej) => {
    this.settle = res;
    this.reject = rej;
  });

  constructor(
    private readonly o: RunnerOptions,
    private readonly spool: Spool,
  ) {
    this.connectDeadline = Date.now() + o.connectTimeoutMs;
    this.driver = o.driver ?? new SpawnDriver({ argv: o.argv, cwd: o.cwd, env: o.env });
    this.cancel = new CancelLadder(this.driver, o.graceMs, o.status);
    // Secrets never leave this machine: each stream is redacted before it is spooled.
    this.redaction = runRedaction(o.token, o.env);
    this.pipeline = new OutputPipeline({ spool, redaction: this.redaction, tap: (stream, data) => this.powers.onOutput(stream, data), spooled: () => this.sender.pump(), linkIdle: () => this.sender.idle() });
    this.link = new ReconnectingSocket({
      gateways: o.gateways,
      path: '/v1/runner',
      // Signed anew for every attempt: a signature is good once.
      headers: (url) => ({ ...signRequest(o.token, { method: 'GET', target: url.pathname, runId: o.runId }), [HEADER_PROTOCOL]: String(PROTOCOL_VERSION) }),
      maxPayload: 1024 * 1024,
      backoffMs: 100,
      heartbeatMs: o.heartbeatMs ?? 15_000,
      policy: this.policy(),
      handlers: {
        open: () => this.hello(),
        message: (data, isBinary) => {
          if (!isBinary) this.onMessage(String(data));
        },
        retrying: (why, attempt, next) => this.retrying(why, attempt, next),
        fatal: (err) => this.fatal(err),
      },
    });
    this.sender = new ChunkSender(spool, this.link, () => this.conn.welcomed && this.link.isOpen);
    this.powers = this.newPowers();
  }

  /** Connects; resolves with the exit status once the run is delivered (or rejects when the gateway refuses it for good). */
  run(): Promise<number> {
    this.link.start();
    return this.done;
  }

  private newPowers(): RunnerPowers {
    const o = this.o;
    const link = () => this.link;
    return new RunnerPowers({
      config: o.powers ?? DEFAULT_POWERS,
      // Uploads go to whichever node the link is on now (read on every attempt).
      target: {
        get gateway() {
          return link().gateway.url;
        },
        get fingerprint() {
          return link().gateway.fingerprint;
        },
        runId: o.runId,
        token: o.token,
      },
      allowlist: o.allowlist,
      cwd: o.cwd,
      env: o.env,
      dir: this.spool.dir,
      redaction: this.redaction,
      event: (ev) => {
        if (!this.finished) this.pipeline.event(ev);
      },
      commandOutput: (d) => this.pipeline.output(STREAM_COMMAND, d),
      send: (msg) => this.conn.welcomed && this.send(msg),
      status: o.status,
    });
  }

  private send(msg: RunnerToGateway): boolean {
    return this.link.send(JSON.stringify(msg));
  }

  private finish(fn: () => void): void {
    if (this.finished) return;
    this.finished = true;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.link.close();
    fn();
  }

  // ---- the child

  private startChild(): void {
    this.child.started = true;
    const { o, spool } = this;
    const io: DriverIO = {
      output: (stream, data, opts) => {
        if (this.finished) return; // the run is over (its spool is gone): what a stopping child still says is dropped
        if (opts?.echo !== false) (stream === STREAM_STDERR ? o.echo?.stderr : o.echo?.stdout)?.write(data);
        this.pipeline.output(stream, data);
      },
      event: (ev) => {
        if (!this.finished) this.pipeline.event(ev);
      },
      spawned: (pid) => {
        this.child.pid = pid;
        recordChild(spool.dir, pid);
        this.send({ type: 'started', pid });
      },
      exited: (code, signal, error) => {
        forgetChild(spool.dir);
        this.onExit(code, signal, error);
      },
      status: o.status,
      // Live text is ephemeral (protocol/claude-live.ts): sent while connected, dropped otherwise.
      live: (m) => {
        if (this.conn.welcomed && !this.sender.exit) this.send(m);
      },
    };
    this.driver.start(io);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, error: string | null): void {
    if (this.sender.exit || this.child.exiting) return;
    this.child.exiting = true;
    if (!this.finished) this.pipeline.drain();
    // A running command and the assist session stop, and the artifacts are collected, before the exit is reported.
    this.powers
      .atExit(error === null)
      .catch((err: unknown) => this.o.status(`run-end work failed: ${String(err)}`))
      .finally(() => this.reportExit(code, signal, error));
  }

  private reportExit(code: number | null, signal: NodeJS.Signals | null, error: string | null): void {
    const { o, spool } = this;
    // Already over (a fatal refusal: revoked, replaced): the child was stopped, nothing more goes
    // to the gateway, and no linger keeps the process waiting for an ack that cannot come.
    if (this.finished) {
      this.cancel.stop(); // the child is gone: no SIGTERM, SIGKILL to a process group that is no more
      this.afterChild?.();
      return;
    }
    this.powers.close();
    this.pipeline.drain();
    this.cancel.stop();
    this.sender.exit = { type: 'exit', code, signal, lastSeq: spool.maxSeq, error };
    o.status(error ?? `child exited with ${signal ? `signal ${signal}` : `code ${code}`}; delivering the rest of its output`);
    this.lingerTimer = setTimeout(() => {
      o.status(`could not deliver all output within ${Math.round(o.lingerMs / 1000)} s; the spool is kept in ${spool.dir}`);
      this.finish(() => {
        spool.close(false);
        this.settle(this.exitStatus());
      });
    }, o.lingerMs);
    this.sender.pump();
  }

  private exitStatus(): number {
    return exitStatus(this.sender.exit, this.cancel.requested);
  }

  /** Starts the cancel ladder (cancel-ladder.ts) once the child runs and until it has exited. */
  cancelChild(by: string, controlId: string | null = null): void {
    const pid = this.child.pid;
    if (pid === null || this.sender.exit || this.cancel.requested) return;
    this.cancel.start(pid, by, () => this.sender.exit === null, controlId);
  }

  // ---- the gateway

  /** Refusals (4xx but a timeout or throttle) and closes that retrying cannot mend are fatal; so is no gateway before the connect timeout. */
  private policy(): ReconnectPolicy {
    const o = this.o;
    return {
      refused: (status, code, message = `gateway answered ${status}`) => {
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
          return { fatal: true, err: new CliError(`gateway refused the runner: ${code}: ${message}`, exitForCode(code), code) };
        }
        return { fatal: false, err: new CliError(`gateway answered ${status} (${code}: ${message})`, EXIT.UNREACHABLE, 'ERR_UNREACHABLE') };
      },
      closed: (code, reason, noted) => {
        if (FATAL_CLOSE.has(code)) {
          const err = new CliError(`gateway closed the connection: ${reason.code ?? code}: ${reason.message}`, reason.code ? exitForCode(reason.code) : EXIT.ERROR, reason.code ?? 'ERR_CLOSED');
          return { fatal: true, err };
        }
        return { fatal: false, err: noted ?? new CliError(`connection closed (${code}${reason.message ? `: ${reason.message}` : ''})`, EXIT.UNREACHABLE, 'ERR_UNREACHABLE') };
      },
      deadline: () => (this.child.started ? null : this.connectDeadline),
      giveUp: (why) => {
        if (this.child.started || Date.now() <= this.connectDeadline) return null;
        return new CliError(`gave up reaching the gateway after ${Math.round(o.connectTimeoutMs / 1000)} s: ${why.message}`, EXIT.UNREACHABLE, 'ERR_UNREACHABLE');
      },
    };
  }

  private retrying(why: CliError, attempt: number, next: string): void {
    this.conn.welcomed = false;
    if (attempt === 1 || attempt % 5 === 0) {
      const via = this.o.gateways.length > 1 ? ` to ${next}` : '';
      this.o.status(`${why.message}; reconnecting${via}${this.conn.wasConnected ? ` (resuming after seq ${this.spool.minSeq - 1})` : ''}…`);
    }
  }

  private fatal(err: CliError): void {
    // Not printed here: the command prints the error it ends with, once.
    // Only a plain command's child is cancelled here; a driver's (Claude, pty) never was, and a
    // restructure keeps that as it is. Whether it should be is a question of its own.
    if (this.driver instanceof SpawnDriver && this.child.started && !this.sender.exit) this.cancelChild('the runner (fatal gateway error)');
    void this.powers.abort();
    this.finish(() => {
      // Refused before anything was spooled (a wrong token, run id or pin): no spool is left behind.
      this.spool.close(!this.child.started && this.spool.maxSeq === 0);
      this.reject(err);
    });
  }

  private hello(): void {
    const { o, driver } = this;
    this.conn.welcomed = false;
    const redactArg = (arg: string) => this.redaction.applyBytes(Buffer.from(arg, 'utf8')).toString('utf8');
    this.send({
      type: 'hello',
      v: PROTOCOL_VERSION,
      // The command line is shown to viewers: a token in it (curl -H "Authorization: …") is redacted like output.
      runner: { hostname: hostname(), pid: process.pid, version: o.version, mode: o.mode, pty: driver.pty, command: o.argv.slice(0, 256).map(redactArg), cwd: o.cwd, ...this.powers.hello(), ...(driver.remote ? { remote: driver.remote } : {}), approvalCredits: true },
    });
  }

  private onMessage(raw: string): void {
    if (this.finished) return; // what was already on its way when the run ended
    let parsed;
    let value: unknown;
    try {
      value = JSON.parse(raw);
      parsed = GatewayToRunner.safeParse(value);
    } catch {
      return;
    }
    if (!parsed.success) return this.refuseMalformed(value);
    const msg = parsed.data;
    switch (msg.type) {
      case 'welcome':
        return this.onWelcome(msg);
      case 'ack':
        this.spool.ack(msg.seq);
        return;
      case 'exit_ack':
        // Only the answer to our exit ends the run: before it, a gateway's word would leave the
        // child running with nothing to supervise it or to take its output.
        if (!this.sender.exit) return;
        this.finish(() => {
          this.spool.close(true);
          this.settle(this.exitStatus());
        });
        return;
      case 'cancel':
        return this.cancelChild(msg.by, msg.controlId ?? null);
      case 'exec':
      case 'collect':
      case 'assist':
        // hello → welcome comes first on every connection (and before the first one the output
        // numbering is not even settled): a request before it is a protocol violation, ignored.
        if (!this.child.started || !this.conn.welcomed) this.o.status(`ignored a ${msg.type} request that came before the gateway's welcome`);
        else this.powers.handle(msg);
        return;
      case 'error':
        this.o.status(`gateway: ${msg.code}: ${msg.message}`);
        return;
      case 'approval_decision':
      case 'input':
      case 'resize':
      case 'session_control':
        return this.steer(msg);
    }
  }

  private onWelcome(msg: Extract<GatewayToRunner, { type: 'welcome' }>): void {
    // A gateway asking for output it acknowledged earlier (this runner dropped it from its
    // spool then) lost stored output: nothing here can fill that gap, and waiting for chunks the
    // spool no longer has would hang silently. Said plainly, then the usual retry (another
    // gateway, when there are several; this one again after a backoff, once it is restored).
    if (msg.nextSeq < this.spool.minSeq && !msg.finished) {
      const err = new CliError(`gateway ${this.link.gateway.url} asks for output from seq ${msg.nextSeq}, but it acknowledged everything before seq ${this.spool.minSeq} and this runner no longer holds it: the gateway lost stored output`, EXIT.UNREACHABLE, 'ERR_SEQ_GAP');
      this.link.note(err);
      this.link.reconnectNow();
      return;
    }
    this.link.resetBackoff();
    if (msg.finished) {
      // The run ended on the gateway while the child still runs (cancelled or revoked while this
      // runner was away): the child is stopped, and the runner ends once it has exited.
      const running = this.child.started && !this.child.exiting && !this.sender.exit;
      this.finish(() => {
        this.pipeline.stop(); // before the spool goes: a coalescing timer would write into it
        this.spool.close(true);
        if (!this.child.started) {
          this.reject(new CliError(`run ${this.o.runId} has already ended${msg.exitCode !== null && msg.exitCode !== undefined ? ` (exit code ${msg.exitCode})` : ''}: a run starts once; create a new one`, EXIT.ERROR, 'ERR_RUN_FINISHED'));
        } else if (running) {
          this.o.status('the gateway says this run has ended: stopping the child');
          this.afterChild = () => this.settle(this.exitStatus());
          this.cancelChild('the gateway (the run has ended)');
        } else this.settle(this.exitStatus());
      });
      return;
    }
    const from = this.sender.welcomed(msg.nextSeq, this.child.started);
    this.conn.welcomed = true;
    const at = this.o.gateways.length > 1 ? ` at ${this.link.gateway.url}` : '';
    if (this.conn.wasConnected) this.o.status(`reconnected${at}; resending from seq ${from}`);
    this.conn.wasConnected = true;
    if (!this.child.started) {
      this.driver.configure?.({ maxBudgetUsd: msg.claude?.maxBudgetUsd ?? null });
      this.startChild();
    }
    else if (!this.sender.exit) {
      this.send({ type: 'started', pid: this.child.pid ?? 0 });
      this.driver.connected();
    }
    this.powers.onWelcome();
    this.sender.pump();
  }

  /** A message that fails the schema is refused (when it has a usable id) and never acted on. */
  private refuseMalformed(value: unknown): void {
    const v = value as { type?: unknown; requestId?: unknown; name?: unknown } | null;
    if (typeof v?.type === 'string' && STEERING_TYPES.has(v.type)) {
      if (this.child.started && !this.sender.exit) this.driver.refuseMalformed(v.type, v);
      else this.o.status(`refused a malformed ${v.type} message from the gateway`);
      return;
    }
    if (typeof v?.requestId !== 'string' || !REQUEST_ID_RE.test(v.requestId) || !this.child.started || !this.conn.welcomed || this.sender.exit) return;
    this.powers.burnId(v.requestId);
    const reason = 'malformed request (unknown fields or bad values)';
    this.o.status(`refused a malformed ${String(v.type).slice(0, 16)} request from the gateway`);
    const event = this.pipeline.event.bind(this.pipeline);
    if (v.type === 'exec') event({ type: 'exec_refused', requestId: v.requestId, name: typeof v.name === 'string' ? v.name.slice(0, 64) : '', reason });
    else if (v.type === 'collect') event({ type: 'collect_done', requestId: v.requestId, trigger: 'request', uploaded: [], skipped: [], error: reason });
    else if (v.type === 'assist') event({ type: 'assist_refused', requestId: v.requestId, reason });
  }

  /** Approvals, follow-ups and keystrokes go to the driver while the child runs (a plain command refuses them). */
  private steer(msg: SteeringMessage): void {
    if (this.child.started && !this.sender.exit) return this.driver.handle(msg);
    // Before the start and after the exit nothing is numbered (the exit message named the last seq): a status line only.
    this.o.status(`refused a ${steeringKind(msg.type)} message from the gateway: ${this.sender.exit ? 'the run has ended' : 'this run takes none'}`);
  }
}

import { join } from 'node:path';
import type { AssistStatusBody } from '../../protocol/assist.js';
import { STREAM_STDERR, STREAM_STDOUT } from '../../protocol/frames.js';
import type { Redaction } from '../../protocol/redaction.js';
import type { RunnerInfo } from '../../protocol/run.js';
import type { GatewayAssist, GatewayCollect, GatewayExec, RunnerAssistStatus } from '../../protocol/runner-messages.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { advertise, type AllowedCommand } from './allowlist.js';
import { ArtifactCollector } from './artifacts.js';
import { AssistSession } from './assist.js';
import { Executor } from './executor.js';
import { RunLog } from './run-log.js';
import type { UploadTarget } from './upload.js';
import { UsedIds } from './used-ids.js';

/** How the runner's powers are set up (`ccg runner start` flags). */
export interface PowersConfig {
  /** `--artifact` globs, checked. */
  artifactGlobs: string[];
  /** `--artifact-max`: cap per artifact, bytes. */
  artifactMaxBytes: number;
  /** `--no-collect` turns off the collection at exit. */
  collectAtExit: boolean;
  /** `--assist-max` minutes when `--assist` is given, else null. */
  assistMaxMinutes: number | null;
  /** `--tmate-bin`. */
  tmateBin: string;
  /** How long the collection at exit may take before the exit is reported anyway. */
  collectTimeoutMs: number;
}

export const DEFAULT_POWERS: PowersConfig = {
  artifactGlobs: [],
  artifactMaxBytes: 8 * 1024 * 1024,
  collectAtExit: true,
  assistMaxMinutes: null,
  tmateBin: 'tmate',
  collectTimeoutMs: 2 * 60_000,
};

export interface PowersOptions {
  config: PowersConfig;
  target: UploadTarget;
  allowlist: AllowedCommand[];
  cwd: string;
  /** The child's environment (ccg's own secrets already removed). */
  env: NodeJS.ProcessEnv;
  /** This run's spool directory: used request ids and the run log live there. */
  dir: string;
  redaction: Redaction;
  event(ev: RunnerEvent): void;
  /** Output of allowlisted commands (stream 2, redacted by the runner). */
  commandOutput(data: Buffer): void;
  /** Sends a control message now if the gateway is connected; false otherwise. */
  send(msg: RunnerAssistStatus): boolean;
  status(line: string): void;
}

/**
 * What the gateway may ask of a runner besides watching: allowlisted commands, artifact
 * collection and assist sessions. The runner's own flags decide what is possible; every request
 * id is accepted once. runner.ts feeds it gateway messages and the child's redacted output, and
 * awaits `atExit()` before it reports the exit.
 */
export class RunnerPowers {
  readonly runLog: RunLog;
  private readonly usedIds: UsedIds;
  private readonly executor: Executor;
  private readonly collector: ArtifactCollector;
  private readonly assist: AssistSession;
  private ending = false;
  /** After the exit is computed nothing may be added to the event stream: requests are dropped. */
  private closed = false;

  constructor(private readonly o: PowersOptions) {
    this.usedIds = new UsedIds(join(o.dir, 'request-ids'));
    this.runLog = new RunLog(join(o.dir, 'run.log'), o.config.artifactMaxBytes);
    this.executor = new Executor({ allowlist: o.allowlist, cwd: o.cwd, env: o.env, usedIds: this.usedIds, event: o.event, output: o.commandOutput, status: o.status });
    this.collector = new ArtifactCollector({
      target: o.target,
      cwd: o.cwd,
      env: o.env,
      globs: o.config.artifactGlobs,
      maxBytes: o.config.artifactMaxBytes,
      redaction: o.redaction,
      runLog: this.runLog,
      usedIds: this.usedIds,
      event: o.event,
      status: o.status,
    });
    this.assist = new AssistSession({
      maxMinutes: o.config.assistMaxMinutes,
      tmateBin: o.config.tmateBin,
      cwd: o.cwd,
      env: o.env,
      usedIds: this.usedIds,
      event: o.event,
      report: (body: AssistStatusBody) => o.send({ type: 'assist_status', ...body }),
      status: o.status,
    });
  }

  /** What the runner tells the gateway about its powers in `hello`. */
  hello(): Pick<RunnerInfo, 'commands' | 'assist' | 'artifactGlobs'> {
    return {
      commands: advertise(this.o.allowlist),
      assist: this.o.config.assistMaxMinutes === null ? null : { maxMinutes: this.o.config.assistMaxMinutes },
      artifactGlobs: this.o.config.artifactGlobs.slice(0, 32),
    };
  }

  /** The child's output, after redaction: the run log artifact keeps stdout and stderr. */
  onOutput(stream: number, data: Buffer): void {
    if (stream === STREAM_STDOUT || stream === STREAM_STDERR) this.runLog.append(data);
  }

  /** A request from the gateway (already validated against the protocol schema). */
  handle(msg: GatewayExec | GatewayCollect | GatewayAssist): void {
    if (this.closed) {
      this.o.status(`ignored a ${msg.type} request: the run has ended`);
      return;
    }
    switch (msg.type) {
      case 'exec':
        if (this.ending) {
          this.o.event({ type: 'exec_refused', requestId: msg.requestId, name: msg.name.slice(0, 64), reason: 'the run is ending' });
          return;
        }
        this.executor.handle(msg);
        return;
      case 'collect':
        this.collector.handle(msg);
        return;
      case 'assist':
        this.assist.handle(msg);
        return;
      default: {
        const never: never = msg;
        throw new Error(`unhandled request ${String(never)}`);
      }
    }
  }

  /** Records a request id that was refused before it reached a handler (malformed): single use all the same. */
  burnId(requestId: string): void {
    this.usedIds.claim(requestId);
  }

  /** After each welcome: tell a (maybe restarted) gateway about an open assist session again. */
  onWelcome(): void {
    const s = this.assist.current;
    if (s && (s.state === 'active' || s.state === 'starting')) this.o.send({ type: 'assist_status', ...s });
  }

  /**
   * The child has exited: stop a running command and the assist session, then collect the
   * artifacts (unless `collect` is false: the child never started, or --no-collect). Resolves when
   * all of it is reported; the runner then computes its exit.
   */
  async atExit(collect: boolean): Promise<void> {
    this.ending = true;
    await Promise.all([this.executor.stop(), this.assist.close()]);
    await this.collector.atExit(Date.now() + this.o.config.collectTimeoutMs, collect && this.o.config.collectAtExit);
  }

  /** The runner is giving up (the gateway refused it for good): stop what runs, collect nothing. */
  async abort(): Promise<void> {
    this.ending = true;
    await Promise.all([this.executor.stop(), this.assist.close()]);
  }

  /** The exit is computed: nothing more goes into the event stream. */
  close(): void {
    this.closed = true;
    this.runLog.close();
  }
}

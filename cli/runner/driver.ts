import type { RunnerLiveText } from '../../protocol/claude-live.js';
import type { GatewayApprovalDecision, GatewayInput, GatewayResize, GatewaySessionControl } from '../../protocol/claude-control.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';

/** Messages from the gateway that steer the child (approvals, follow-ups, keystrokes, size). */
export type SteeringMessage = GatewayApprovalDecision | GatewayInput | GatewayResize | GatewaySessionControl;
export const STEERING_TYPES: ReadonlySet<string> = new Set(['approval_decision', 'input', 'resize', 'session_control']);

/** What a refusal of a steering message of this type names (control_refused's `kind`). */
export function steeringKind(type: string): 'approval' | 'input' | 'resize' | 'session' {
  return type === 'approval_decision' ? 'approval' : type === 'input' ? 'input' : type === 'session_control' ? 'session' : 'resize';
}

/** What the runner gives a driver: its output path, its event stream and the child's lifecycle. */
export interface DriverIO {
  /** Child output: redacted, spooled and streamed. `echo: false` keeps it off the local terminal. */
  output(stream: number, data: Buffer, opts?: { echo: boolean }): void;
  /** A runner event (stream 3). */
  event(ev: RunnerEvent): void;
  /** The child is running with this pid (its own process group). */
  spawned(pid: number): void;
  /** The child ended (or could not start: `error`). */
  exited(code: number | null, signal: NodeJS.Signals | null, error: string | null): void;
  /** A status line for the person at the runner's terminal. */
  status(line: string): void;
  /** Claude's reply as it is written: sent to the gateway while connected, never spooled (protocol/claude-live.ts). */
  live?(m: RunnerLiveText): void;
}

/**
 * How the runner runs its child: a plain command (spawn-driver.ts), Claude Code over stream-json
 * (claude.ts) or any command in a pseudo-terminal (pty.ts). runner.ts keeps the connection,
 * the spool and the cancel ladder; a driver owns the child's stdin and reads its stdout.
 */
export interface ChildDriver {
  /** The output is terminal bytes and input is keystrokes (told to the gateway in `hello`). */
  readonly pty: boolean;
  /**
   * What the runner's owner lets the gateway steer (told to the gateway in `hello`; enforced by
   * the driver). Null for a plain command, which takes no steering and says nothing of it.
   */
  readonly remote: { input: boolean; approval: boolean; bypass?: boolean } | null;
  start(io: DriverIO): void;
  /** A validated steering message from the gateway. The driver checks it again and refuses what it cannot honour. */
  handle(msg: SteeringMessage): void;
  /** A steering message that failed validation: refuse it visibly. */
  refuseMalformed(type: string, value: unknown): void;
  /** Called after every welcome from the gateway (first connect and every reconnect). */
  connected(): void;
  /**
   * The first step of a cancel. Returns true when the driver stopped the child cleanly its own
   * way (Claude: an interrupt, then end of input); the runner then goes on with SIGTERM and
   * SIGKILL after its grace periods. False: the runner starts with SIGINT. `controlId`: the
   * gateway's id of the cancel, reported with Claude's interrupt.
   */
  interrupt(by: string, controlId: string | null): boolean;
  /** Signals the child itself, when its process group could not be signalled (only a plain spawn can). */
  signalChild?(sig: NodeJS.Signals): void;
  /** What the gateway set for the run (its first welcome), before `start`: Claude's spending limit. */
  configure?(c: { maxBudgetUsd: number | null }): void;
}

/**
 * At most `perMinute` refusal events a minute: a hostile gateway flooding the runner with bad
 * requests gets status lines, not an event stream it can fill.
 */
export class RefusalLimit {
  private times: number[] = [];
  constructor(private readonly perMinute = 30) {}

  allow(now = Date.now()): boolean {
    this.times = this.times.filter((t) => now - t < 60_000);
    if (this.times.length >= this.perMinute) return false;
    this.times.push(now);
    return true;
  }
}

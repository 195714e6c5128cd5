import { spawn, type ChildProcess } from 'node:child_process';
import { STREAM_STDERR, STREAM_STDOUT } from '../../protocol/frames.js';
import { steeringKind, type ChildDriver, type DriverIO, type SteeringMessage } from './driver.js';
import { groupSpawnOptions } from './process-tree.js';

export interface SpawnDriverOptions {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/**
 * A plain command: spawned in its own process group with no input, stdout and stderr streamed
 * as they come. It takes no steering: every approval, input or resize is refused visibly.
 */
export class SpawnDriver implements ChildDriver {
  readonly pty = false;
  /** Null: hello names no remote powers at all (the gateway knows a plain command takes none). */
  readonly remote = null;
  private child: ChildProcess | null = null;
  private io!: DriverIO;

  constructor(private readonly o: SpawnDriverOptions) {}

  start(io: DriverIO): void {
    this.io = io;
    const [file, ...args] = this.o.argv;
    io.status(`starting: ${this.o.argv.join(' ')}`);
    const c = spawn(file!, args, { cwd: this.o.cwd, env: this.o.env, stdio: ['ignore', 'pipe', 'pipe'], ...groupSpawnOptions });
    this.child = c;
    c.stdout!.on('data', (d: Buffer) => io.output(STREAM_STDOUT, d));
    c.stderr!.on('data', (d: Buffer) => io.output(STREAM_STDERR, d));
    // 'spawn' is emitted only once the child has a pid.
    c.on('spawn', () => io.spawned(c.pid!));
    c.on('error', (err) => io.exited(null, null, `could not start ${file}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    c.on('close', (code, signal) => io.exited(code, signal, null));
  }

  handle(msg: SteeringMessage): void {
    const id = msg.type === 'approval_decision' ? msg.approvalId : msg.type === 'input' ? msg.inputId : msg.type === 'session_control' ? msg.controlId : null;
    const kind = steeringKind(msg.type);
    this.io.status(`refused a ${kind} message from the gateway: this run takes none`);
    this.io.event({ type: 'control_refused', kind, id, reason: 'this run takes no input (a plain command without --pty)' });
  }

  refuseMalformed(type: string): void {
    this.io.status(`refused a malformed ${type} message from the gateway`);
  }

  connected(): void {
    /* nothing to tell a reconnected gateway */
  }

  interrupt(): boolean {
    return false;
  }

  signalChild(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }
}

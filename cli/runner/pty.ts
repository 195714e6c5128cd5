import { constants as osConstants } from 'node:os';
import { createRequire } from 'node:module';
import type { IPty } from '@lydell/node-pty';
import { STREAM_STDOUT } from '../../protocol/frames.js';
import { RefusalLimit, steeringKind, type ChildDriver, type DriverIO, type SteeringMessage } from './driver.js';

export interface PtyDriverOptions {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  cols: number;
  rows: number;
  /** Take keystrokes from the gateway (`--no-remote-input`: refuse them). Default true. */
  remoteInput?: boolean;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(osConstants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/** Loads the prebuilt pty module lazily: runs without --pty never touch the native addon. */
function loadPty(): typeof import('@lydell/node-pty') {
  return createRequire(import.meta.url)('@lydell/node-pty') as typeof import('@lydell/node-pty');
}

/**
 * Runs any command (interactive `claude` included) in a real pseudo-terminal
 * (@lydell/node-pty, prebuilt for Node 20: no compiler needed). Its screen output is streamed
 * as stdout bytes; operators send keystrokes (`input`) and the terminal size (`resize`).
 */
export class PtyDriver implements ChildDriver {
  readonly pty = true;
  /** A terminal has no remote approvals: its program asks in its own screen, answered with keystrokes. */
  readonly remote: { input: boolean; approval: boolean };
  private term: IPty | null = null;
  private io!: DriverIO;
  private readonly refusals = new RefusalLimit();

  constructor(private readonly o: PtyDriverOptions) {
    this.remote = { input: o.remoteInput ?? true, approval: false };
  }

  start(io: DriverIO): void {
    this.io = io;
    const [file, ...args] = this.o.argv;
    io.status(`starting in a pseudo-terminal (${this.o.cols}x${this.o.rows}): ${this.o.argv.join(' ')}`);
    let term: IPty;
    try {
      term = loadPty().spawn(file!, args, {
        name: 'xterm-256color',
        cols: this.o.cols,
        rows: this.o.rows,
        cwd: this.o.cwd,
        env: { ...this.o.env, TERM: 'xterm-256color' } as Record<string, string>,
        // Raw bytes, not decoded strings: a multi-byte character may span two reads.
        encoding: null,
      });
    } catch (err) {
      io.exited(null, null, `could not start ${file} in a pty: ${(err as Error).message}`);
      return;
    }
    this.term = term;
    io.spawned(term.pid);
    io.event({ type: 'pty_resized', cols: this.o.cols, rows: this.o.rows });
    term.onData((d: string | Buffer) => io.output(STREAM_STDOUT, typeof d === 'string' ? Buffer.from(d, 'utf8') : d));
    term.onExit(({ exitCode, signal }) => {
      this.term = null;
      const sig = signal ? (SIGNAL_NAMES.get(signal) ?? null) : null;
      io.exited(sig ? null : exitCode, sig, null);
    });
  }

  handle(msg: SteeringMessage): void {
    switch (msg.type) {
      case 'input': {
        if (!this.remote.input) return this.refuse('input', msg.inputId, 'remote input is off on this runner (--no-remote-input)');
        if (!this.term) return this.refuse('input', msg.inputId, 'the terminal has closed');
        const bytes = msg.data !== undefined ? Buffer.from(msg.data, 'base64') : Buffer.from(msg.text ?? '', 'utf8');
        // Buffers go to the pty as is (node-pty writes them to its socket unchanged).
        this.term.write(bytes as unknown as string);
        return;
      }
      case 'resize':
        if (!this.term) return;
        this.term.resize(msg.cols, msg.rows);
        this.io.event({ type: 'pty_resized', cols: msg.cols, rows: msg.rows });
        return;
      case 'approval_decision':
        return this.refuse('approval', msg.approvalId, 'a --pty run has no remote approvals (answer in the terminal)');
      case 'session_control':
        return this.refuse('session', msg.controlId, 'a --pty run takes no session controls (use keystrokes)');
      default: {
        const never: never = msg;
        return never;
      }
    }
  }

  refuseMalformed(type: string, value: unknown): void {
    const v = value as { inputId?: unknown; approvalId?: unknown; controlId?: unknown } | null;
    const id = typeof v?.inputId === 'string' ? v.inputId : typeof v?.approvalId === 'string' ? v.approvalId : typeof v?.controlId === 'string' ? v.controlId : null;
    this.refuse(steeringKind(type), id?.slice(0, 64) ?? null, 'malformed request (unknown fields, bad values or too large)');
  }

  private refuse(kind: 'approval' | 'input' | 'resize' | 'session', id: string | null, reason: string): void {
    this.io.status(`refused a ${kind} message from the gateway: ${reason}`);
    if (this.refusals.allow()) this.io.event({ type: 'control_refused', kind, id, reason });
  }

  connected(): void {
    // The gateway may have restarted: tell it the terminal size again.
    if (this.term) this.io.event({ type: 'pty_resized', cols: this.term.cols, rows: this.term.rows });
  }

  interrupt(): boolean {
    // In a terminal, Ctrl-C is the clean interrupt; the runner's SIGINT to the group does that.
    return false;
  }
}

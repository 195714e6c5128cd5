import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { createRequire } from 'node:module';
import type { IPty } from '@lydell/node-pty';
import { STREAM_STDOUT } from '../../protocol/frames.js';
import { ClaudeNotifyHook } from './claude-notify-hook.js';
import { RefusalLimit, steeringKind, type ChildDriver, type DriverIO, type SteeringMessage } from './driver.js';

export interface PtyDriverOptions {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  cols: number;
  rows: number;
  /** Take keystrokes from the gateway (`--no-remote-input`: refuse them). Default true. */
  remoteInput?: boolean;
  /**
   * argv is interactive Claude Code: install a Notification hook for this run (a temporary
   * `--settings` file, merged with the user's), so the gateway hears when Claude waits.
   */
  claudeHook?: { userSettings: string | null };
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
  private hook: ClaudeNotifyHook | null = null;
  /** Claude said it waits for the person (its hook fired) and no keys have reached it since. */
  private waiting = false;

  constructor(private readonly o: PtyDriverOptions) {
    this.remote = { input: o.remoteInput ?? true, approval: false };
  }

  start(io: DriverIO): void {
    this.io = io;
    let argv = this.o.argv;
    let term: IPty;
    try {
      if (this.o.claudeHook) {
        this.hook = new ClaudeNotifyHook((message) => {
          this.waiting = true;
          io.event({ type: 'pty_waiting', waiting: true, message });
        }, this.o.claudeHook.userSettings);
        argv = [argv[0]!, '--settings', this.hook.settingsFile, ...argv.slice(1)];
      }
    } catch (err) {
      io.exited(null, null, `could not set up Claude's notification hook: ${(err as Error).message}`);
      return;
    }
    const [file, ...args] = argv;
    io.status(`starting in a pseudo-terminal (${this.o.cols}x${this.o.rows}): ${argv.join(' ')}`);
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
      this.hook?.close();
      this.hook = null;
      io.exited(null, null, `could not start ${file} in a pty: ${(err as Error).message}`);
      return;
    }
    this.term = term;
    let lastData = Date.now();
    drainAfterExit(term, () => lastData);
    io.spawned(term.pid);
    io.event({ type: 'pty_resized', cols: this.o.cols, rows: this.o.rows });
    term.onData((d: string | Buffer) => {
      lastData = Date.now();
      io.output(STREAM_STDOUT, typeof d === 'string' ? Buffer.from(d, 'utf8') : d);
    });
    term.onExit(({ exitCode, signal }) => {
      this.term = null;
      this.hook?.close();
      this.hook = null;
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
        if (this.waiting) {
          this.waiting = false;
          this.io.event({ type: 'pty_waiting', waiting: false, message: null });
        }
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

/** After the child's exit, the pty is read until it has been quiet this long (at most DRAIN_MS). */
const QUIET_MS = 100;
const DRAIN_MS = 5000;

interface PtySocket {
  destroyed?: boolean;
  destroy(err?: Error): unknown;
}

/**
 * Keeps the end of a pty run's output. Two things lost it on a busy machine (a 1 MB run's screen
 * ended 7 to 250 lines short, about one run in five with two cores loaded): Linux ends the pty's
 * master with EIO as soon as the child's last descriptor of the other side closes, even with its
 * last output not yet readable; and node-pty destroys its socket 200 ms after the child's exit.
 * So the runner holds the other side open itself (O_NOCTTY: it never becomes its terminal) and
 * defers node-pty's destroy: after the exit the pty is read until it has been quiet for
 * QUIET_MS, then the runner lets go of its side and the EIO that follows ends it (node-pty
 * reports the exit then). A process the child left holding the pty cannot keep it open past
 * DRAIN_MS. Reaches into node-pty's `_socket` and `_pty` (@lydell/node-pty 1.1.0, pinned); without
 * them it changes nothing.
 */
function drainAfterExit(term: IPty, lastData: () => number): void {
  const t = term as unknown as { _socket?: PtySocket; _pty?: unknown };
  const socket = t._socket;
  if (!socket || typeof socket.destroy !== 'function') return;
  let side: number | null = null;
  try {
    if (typeof t._pty === 'string') side = openSync(t._pty, fsConstants.O_RDWR | fsConstants.O_NOCTTY);
  } catch {
    side = null;
  }
  const letGo = () => {
    if (side === null) return;
    try {
      closeSync(side);
    } catch {
      // already closed
    }
    side = null;
  };
  const destroy = socket.destroy.bind(socket);
  let draining = false;
  // node-pty calls destroy() without an error only from its timer after the exit; a read error
  // (the EIO that ends a drained pty) passes straight through.
  socket.destroy = (err?: Error) => {
    if (err !== undefined || draining) {
      letGo();
      return destroy(err);
    }
    draining = true;
    const until = Date.now() + DRAIN_MS;
    const look = () => {
      if (socket.destroyed) return letGo();
      if (Date.now() - lastData() < QUIET_MS && Date.now() < until) {
        setTimeout(look, QUIET_MS).unref();
        return;
      }
      if (side === null) return void destroy();
      letGo();
      setTimeout(() => void (socket.destroyed || destroy()), Math.max(0, until - Date.now()) + QUIET_MS).unref();
    };
    look();
    return socket;
  };
}

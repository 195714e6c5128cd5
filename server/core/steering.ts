import { MAX_INPUT } from '../../protocol/claude-events.js';
import { isSlashCommand } from '../../protocol/claude-steer.js';
import { CcgError } from '../../protocol/errors.js';
import { isFinal, runEnded } from '../../protocol/run.js';
import { requireRole, type Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { Credits } from './credits.js';
import type { RunService } from './runs.js';
import type { AuthStore } from '../store/types.js';

export interface SteeringOptions {
  runs: RunService;
  /** Mints the input ids that vouch for who sent a prompt. */
  credits: Pick<Credits, 'mint'>;
  audit: Pick<AuthStore, 'appendAudit'>;
  log: Logger;
  now: () => number;
}

/**
 * Follow-up prompts, keystrokes and terminal size, from operators to a run's runner. Nothing is
 * queued: the runner must be connected (ERR_RUNNER_AWAY otherwise), because a prompt typed on a
 * phone should not surface an hour later. The runner reports what it passed on (`input_sent`)
 * or refused (`control_refused`) in the run's event stream, from `fromSeq` on.
 */
/** Who last set a pty run's size: the operator in control (others watch at that size). */
export interface TermControl {
  by: string;
  cols: number;
  rows: number;
  at: number;
}

export class SteeringService {
  private readonly control = new Map<string, TermControl>();

  constructor(private readonly o: SteeringOptions) {}

  /** The operator who holds a pty run's size, if anyone took it since the gateway started. */
  controlOf(runId: string): TermControl | null {
    return this.control.get(runId) ?? null;
  }

  private target(runId: string, who: Principal) {
    requireRole(who, 'operator');
    const run = this.o.runs.mustGet(runId);
    if (isFinal(run.status)) throw runEnded(runId, run.status);
    if (!run.runner) throw new CcgError('ERR_RUNNER_AWAY', 'no runner has connected to this run yet');
    return run;
  }

  /** Sends a follow-up turn (`text`) or keystrokes (`text`/`data`, pty runs) to the runner. */
  async input(runId: string, body: { text?: string | undefined; data?: string | undefined }, who: Principal, from: string | null): Promise<{ inputId: string; fromSeq: number }> {
    const run = this.target(runId, who);
    const pty = run.runner?.pty === true;
    if (!pty && run.runner?.mode !== 'claude') throw new CcgError('ERR_INPUT_UNSUPPORTED', 'this run is a plain command: it takes no input (start it with --pty, or --cmd for Claude)');
    if (!pty && body.text === undefined) throw new CcgError('ERR_INPUT_UNSUPPORTED', 'Claude takes text turns; raw bytes (data) are for --pty runs');
    // The runner's owner said no (it would refuse too): say so now rather than accept and be refused.
    if (run.runner?.remote?.input === false) {
      throw new CcgError('ERR_NOT_ENABLED', 'the runner takes no remote input (started with --no-remote-input, or --input-wait 0 for a Claude run)');
    }
    // Claude runs a slash command it is sent; a runner whose modes or models are bounded refuses one (it could change them).
    if (body.text !== undefined && (run.runner?.remote?.modes || run.runner?.remote?.models) && isSlashCommand(body.text)) {
      throw new CcgError('ERR_NOT_ENABLED', 'the runner takes no slash commands from here: its modes or models are bounded (--modes, --models, or its machine workspace)');
    }
    const bytes = body.data !== undefined ? Buffer.from(body.data, 'base64').length : Buffer.byteLength(body.text ?? '');
    if (bytes > MAX_INPUT) throw new CcgError('ERR_TOO_LARGE', `input of ${bytes} bytes exceeds ${MAX_INPUT}`);
    const by = who.name.slice(0, 120);
    // A prompt's id vouches for its text and sender (credits.ts); keystrokes are never shown.
    const inputId = this.o.credits.mint(runId, body.data !== undefined ? { kind: 'keys' } : { kind: 'input', text: body.text ?? '' }, by);
    const fromSeq = this.o.runs.nextSeq(runId);
    await this.o.runs.deliverToRunner(runId, {
      type: 'input',
      inputId,
      ...(body.data !== undefined ? { data: body.data } : { text: body.text ?? '' }),
      by,
    });
    // Keystrokes are not recorded (they may be passwords); prompts are, in short.
    this.o.audit
      .appendAudit({
        at: this.o.now(),
        actor: who.name,
        action: pty ? 'run.keys' : 'run.input',
        target: runId,
        from,
        detail: { inputId, bytes, ...(pty ? {} : { text: (body.text ?? '').slice(0, 200) }) },
      })
      .catch((err: unknown) => this.o.log.warn('audit.write_failed', { err: String(err) }));
    return { inputId, fromSeq };
  }

  /**
   * Sets a pty run's size, and with it takes control of the terminal: one operator at a time
   * sets the size (the last to do so), everyone else watches at that size.
   */
  resize(runId: string, cols: number, rows: number, who: Principal): void {
    const run = this.target(runId, who);
    if (!run.runner?.pty) throw new CcgError('ERR_INPUT_UNSUPPORTED', 'this run has no terminal (it was not started with --pty)');
    if (!this.o.runs.sendToRunner(runId, { type: 'resize', cols, rows })) throw new CcgError('ERR_RUNNER_AWAY', 'the runner of this run is not connected');
    const prev = this.control.get(runId);
    this.control.set(runId, { by: who.name.slice(0, 120), cols, rows, at: this.o.now() });
    if (prev?.by !== who.name) {
      this.o.audit
        .appendAudit({ at: this.o.now(), actor: who.name, action: 'run.terminal_control', target: runId, from: null, detail: { cols, rows, from: prev?.by ?? null } })
        .catch((err: unknown) => this.o.log.warn('audit.write_failed', { err: String(err) }));
    }
    // A run's control ends with it; keep the map bounded by the active runs.
    if (this.control.size > 10_000) this.control.delete(this.control.keys().next().value!);
  }
}

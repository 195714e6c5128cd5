import type { SessionResponse } from '../../protocol/claude-control.js';
import { PERMISSION_MODES, type PermissionMode } from '../../protocol/claude-steer.js';
import { CcgError } from '../../protocol/errors.js';
import { STREAM_EVENT } from '../../protocol/frames.js';
import { isFinal, runEnded, type RunSummary } from '../../protocol/run.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { itemsOfChunk } from '../../protocol/timeline.js';
import { requireRole, type Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { Credits } from './credits.js';
import type { AuthStore, RunStore } from '../store/types.js';
import type { RunService } from './runs.js';

export interface ClaudeSessionOptions {
  runs: RunService;
  /** Mints the control ids that vouch for who sent a control. */
  credits: Pick<Credits, 'mint'>;
  store: Pick<RunStore, 'readChunksBefore'>;
  audit: Pick<AuthStore, 'appendAudit'>;
  log: Logger;
  now: () => number;
}

interface State {
  permissionMode: string | null;
  model: string | null;
}

/** How far back a gateway that did not see a run's session start looks for its mode and model. */
const LOOKBACK = { limit: 2000, maxBytes: 2 * 1024 * 1024 };
const MAX_TRACKED = 2000;

/**
 * A Claude session's controls: its permission mode and model as Claude last reported them
 * (`claude_init`, `claude_settings` in the run's events), and the operations that change them
 * or stop the current turn. Each is one operation here, called alike by the API and the pages,
 * checked for the operator role and the runner's permissions, and audited (`run.mode`,
 * `run.model`, `run.interrupt`). Nothing is queued: the runner must be connected. The runner
 * reports the outcome in the run's events (`claude_settings`, `interrupt_sent`, or
 * `control_refused` with kind "session") from `fromSeq` on.
 */
export class ClaudeSessionService {
  private readonly state = new Map<string, State>();

  constructor(private readonly o: ClaudeSessionOptions) {}

  /** Runner events of a committed chunk (from the bus). */
  onEvents(runId: string, events: readonly RunnerEvent[]): void {
    const relevant = events.filter((ev) => ev.type === 'claude_init' || ev.type === 'claude_settings');
    if (relevant.length === 0) return;
    const s = this.state.get(runId);
    if (s) return apply(s, relevant);
    // Not known yet: read back what came before, then apply these (in order, after it).
    let queue = this.queued.get(runId);
    if (!queue) this.queued.set(runId, (queue = []));
    queue.push(relevant);
    void this.known(runId);
  }

  onRun(run: RunSummary): void {
    if (isFinal(run.status)) this.state.delete(run.id);
  }

  /** Events heard while a run's state was being read back: applied once it is. */
  private readonly queued = new Map<string, RunnerEvent[][]>();
  private readonly loading = new Map<string, Promise<State>>();

  private known(runId: string): Promise<State> {
    const s = this.state.get(runId);
    if (s) return Promise.resolve(s);
    let p = this.loading.get(runId);
    if (!p) {
      p = this.readBack(runId)
        .catch((err: unknown) => {
          this.o.log.warn('session.read_back_failed', { run: runId, err: String(err) });
          return { permissionMode: null, model: null };
        })
        .then((st) => {
          this.loading.delete(runId);
          for (const evs of this.queued.get(runId) ?? []) apply(st, evs);
          this.queued.delete(runId);
          this.state.set(runId, st);
          if (this.state.size > MAX_TRACKED) this.state.delete(this.state.keys().next().value!);
          return st;
        });
      this.loading.set(runId, p);
    }
    return p;
  }

  /** The newest mode and model among the run's recent events (a restarted gateway, an ended run). */
  private async readBack(runId: string): Promise<State> {
    const s: State = { permissionMode: null, model: null };
    const chunks = await this.o.store.readChunksBefore(runId, Number.MAX_SAFE_INTEGER, LOOKBACK);
    for (const c of chunks) {
      if (c.stream !== STREAM_EVENT) continue;
      apply(s, itemsOfChunk(c).map((i) => i.event));
    }
    return s;
  }

  /** The session's mode and model, and which modes an operator may switch to. */
  async session(runId: string): Promise<SessionResponse> {
    const run = this.o.runs.mustGet(runId);
    const s = this.state.get(runId) ?? (isFinal(run.status) ? await this.readBack(runId) : await this.known(runId));
    const remote = run.runner?.remote;
    const canSetMode = run.runner?.mode === 'claude' && !run.runner.pty && remote?.approval !== false && !isFinal(run.status);
    const modes = canSetMode ? PERMISSION_MODES.filter((m) => (m !== 'bypassPermissions' || remote?.bypass === true) && (!remote?.modes || remote.modes.includes(m))) : [];
    return { permissionMode: s.permissionMode, model: s.model, modes: [...modes], canSetMode };
  }

  private target(runId: string, who: Principal): RunSummary {
    requireRole(who, 'operator');
    const run = this.o.runs.mustGet(runId);
    if (isFinal(run.status)) throw runEnded(runId, run.status);
    if (!run.runner) throw new CcgError('ERR_RUNNER_AWAY', 'no runner has connected to this run yet');
    if (run.runner.mode !== 'claude' || run.runner.pty) throw new CcgError('ERR_INPUT_UNSUPPORTED', 'session controls are for Claude runs started with --cmd (not --pty, not a plain command)');
    return run;
  }

  private async send(runId: string, who: Principal, from: string | null, control: { action: 'set_mode'; mode: PermissionMode } | { action: 'set_model'; model: string } | { action: 'interrupt' }, detail: Record<string, string>): Promise<{ controlId: string; fromSeq: number }> {
    const by = who.name.slice(0, 120);
    // The id vouches for who asked (credits.ts): the runner's answer names them with it.
    const controlId = this.o.credits.mint(runId, control.action === 'set_mode' ? { kind: 'set_mode', mode: control.mode } : { kind: control.action }, by);
    const fromSeq = this.o.runs.nextSeq(runId);
    await this.o.runs.deliverToRunner(runId, { type: 'session_control', controlId, ...control, by });
    const action = control.action === 'set_mode' ? 'run.mode' : control.action === 'set_model' ? 'run.model' : 'run.interrupt';
    this.o.audit.appendAudit({ at: this.o.now(), actor: who.name, action, target: runId, from, detail: { controlId, ...detail } }).catch((err: unknown) => this.o.log.warn('audit.write_failed', { err: String(err) }));
    this.o.log.info(action, { run: runId, by: who.name, ...detail });
    return { controlId, fromSeq };
  }

  /** Switches Claude's permission mode (bypassPermissions only where the runner's owner allowed it). */
  async setMode(runId: string, mode: PermissionMode, who: Principal, from: string | null): Promise<{ controlId: string; fromSeq: number }> {
    const run = this.target(runId, who);
    if (run.runner?.remote?.approval === false) throw new CcgError('ERR_NOT_ENABLED', 'the runner takes no remote approvals (--no-remote-approval), so its permission mode cannot be changed from here');
    if (mode === 'bypassPermissions' && run.runner?.remote?.bypass !== true) throw new CcgError('ERR_NOT_ENABLED', 'bypassPermissions needs the runner to be started with --allow-bypass-permissions');
    const modes = run.runner?.remote?.modes;
    if (modes && !modes.includes(mode)) throw new CcgError('ERR_NOT_ENABLED', `the runner lets operators switch Claude only to ${modes.join(', ') || 'no mode'} (--modes, or its machine workspace's modes)`);
    return this.send(runId, who, from, { action: 'set_mode', mode }, { mode });
  }

  /** Switches Claude's model for the next requests (an alias such as `sonnet`, or a full id). */
  async setModel(runId: string, model: string, who: Principal, from: string | null): Promise<{ controlId: string; fromSeq: number }> {
    const run = this.target(runId, who);
    if (run.runner?.remote?.input === false) throw new CcgError('ERR_NOT_ENABLED', 'the runner takes no remote input (--no-remote-input or --input-wait 0)');
    const models = run.runner?.remote?.models;
    if (models && !models.includes(model)) throw new CcgError('ERR_NOT_ENABLED', `the runner lets operators switch Claude only to ${models.join(', ') || 'no model'} (--models, or its machine workspace's models)`);
    return this.send(runId, who, from, { action: 'set_model', model }, { model });
  }

  /** Stops the current turn; the session stays open and waits for the next prompt (unlike cancel). */
  async interrupt(runId: string, who: Principal, from: string | null): Promise<{ controlId: string; fromSeq: number }> {
    this.target(runId, who);
    return this.send(runId, who, from, { action: 'interrupt' }, {});
  }
}

/** Claude's reported mode and model, newest last. */
function apply(s: State, events: readonly RunnerEvent[]): void {
  for (const ev of events) {
    if (ev.type !== 'claude_init' && ev.type !== 'claude_settings') continue;
    if (ev.permissionMode !== null) s.permissionMode = ev.permissionMode;
    if (ev.model !== null) s.model = ev.model;
  }
}

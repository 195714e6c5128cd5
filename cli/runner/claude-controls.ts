import type { GatewaySessionControl } from '../../protocol/claude-control.js';
import { capText } from '../../protocol/claude-events.js';
import { interruptLine } from '../../protocol/claude-stream.js';
import { setModeLine, setModelLine } from '../../protocol/claude-steer.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';

/** The modes and models the gateway may switch Claude to (`--modes`, `--models`); null: any. */
export interface Allowed {
  modes: readonly string[] | null;
  models: readonly string[] | null;
}

/** Why the gateway may not put Claude in `mode` on this runner (a switch, a plan's mode, an "always" that switches), or null. */
export function modeRefusal(allowed: Allowed, mode: string): string | null {
  if (!allowed.modes || allowed.modes.includes(mode)) return null;
  return `this runner lets the gateway switch Claude only to the modes ${allowed.modes.join(', ') || '(none)'} (--modes), not ${mode}`;
}

/** What the session controls need from the Claude driver. */
export interface ControlsHost {
  remote: { input: boolean; approval: boolean; bypass?: true };
  /** The modes and models the gateway may switch Claude to (`--modes`, `--models`); null: any. */
  allowed: Allowed;
  /** Why remote input is off, for a refusal. */
  inputOff(): string;
  stdinOpen(): boolean;
  /** Writes a line to Claude's stdin. */
  write(line: string): void;
  emit(ev: RunnerEvent): void;
  refuse(id: string, reason: string): void;
  status(line: string): void;
  /** A fresh number for a request id. */
  next(): number;
}

/**
 * A Claude session's controls on the runner: switching its permission mode and model, stopping
 * the current turn, and the session's mode and model as Claude reports them (`claude_settings`
 * on a change or an operator's switch). The runner checks what its owner allowed again, whatever
 * the gateway said.
 */
export class SessionControls {
  private settings: { permissionMode: string | null; model: string | null } = { permissionMode: null, model: null };
  /** Controls sent to Claude, by the request id ccg gave them, until Claude answers. */
  private readonly sent = new Map<string, { controlId: string; action: GatewaySessionControl['action']; by: string }>();

  constructor(private readonly h: ControlsHost) {}

  handle(msg: GatewaySessionControl): void {
    const h = this.h;
    if (msg.action === 'set_mode') {
      // A mode is a standing approval: only where the owner lets the gateway approve at all.
      if (!h.remote.approval) return h.refuse(msg.controlId, 'remote approval is off on this runner (--no-remote-approval), so the permission mode cannot be changed from the gateway');
      if (msg.mode === 'bypassPermissions' && h.remote.bypass !== true) return h.refuse(msg.controlId, 'bypassPermissions is not allowed on this runner (start it with --allow-bypass-permissions)');
      const notAllowed = modeRefusal(h.allowed, msg.mode);
      if (notAllowed) return h.refuse(msg.controlId, notAllowed);
    }
    if (msg.action === 'set_model' && !h.remote.input) return h.refuse(msg.controlId, h.inputOff());
    if (msg.action === 'set_model' && h.allowed.models && !h.allowed.models.includes(msg.model)) {
      return h.refuse(msg.controlId, h.allowed.models.length ? `this runner lets the gateway switch only to the models ${h.allowed.models.join(', ')} (--models)` : 'this runner lets the gateway switch no model (--models)');
    }
    if (!h.stdinOpen()) return h.refuse(msg.controlId, 'Claude no longer takes input (its input was closed or it exited)');
    const requestId = `ccg-${msg.action.replace('_', '-')}-${h.next()}`;
    this.sent.set(requestId, { controlId: msg.controlId, action: msg.action, by: msg.by });
    if (this.sent.size > 64) this.sent.delete(this.sent.keys().next().value!);
    switch (msg.action) {
      case 'set_mode':
        h.status(`${msg.by} switches Claude to ${msg.mode} mode`);
        h.write(setModeLine(requestId, msg.mode));
        return;
      case 'set_model':
        h.status(`${msg.by} switches Claude to the model ${msg.model}`);
        h.write(setModelLine(requestId, msg.model));
        return;
      case 'interrupt':
        // Stop this turn only: stdin stays open, so Claude waits for the next prompt.
        h.emit({ type: 'interrupt_sent', by: msg.by, controlId: msg.controlId });
        h.write(interruptLine(requestId));
        return;
      default: {
        const never: never = msg;
        return never;
      }
    }
  }

  /** Claude answered a control request of ours (a session control, or the interrupt of a cancel). */
  answered(requestId: string | null, ok: boolean, error: string | null, response: Record<string, unknown> | null): void {
    const c = requestId ? this.sent.get(requestId) : undefined;
    if (!c) {
      if (!ok) this.h.status(`Claude refused a control request: ${error ?? 'no reason given'}`);
      return;
    }
    this.sent.delete(requestId!);
    if (!ok) return this.h.refuse(c.controlId, `Claude refused: ${error ?? 'no reason given'}`);
    const s = (k: string) => (typeof response?.[k] === 'string' ? capText(response[k] as string, k === 'model' ? 200 : 64).text : null);
    if (c.action === 'set_mode') this.changed({ permissionMode: s('mode'), model: null }, c, true);
    if (c.action === 'set_model') this.changed({ permissionMode: null, model: s('model') }, c, true);
  }

  /**
   * The session's mode or model as a line of Claude's reported it: viewers hear of a change (or
   * of an operator's switch, even to the same). `by`: the operator's control it answers (its id
   * lets the gateway vouch for the name), null for Claude's own. `silent` only notes it (Claude's
   * init, every turn).
   */
  changed(next: { permissionMode: string | null; model: string | null }, by: { by: string; controlId: string } | null, always = false, silent = false): void {
    const mode = next.permissionMode !== null && (always || next.permissionMode !== this.settings.permissionMode) ? next.permissionMode : null;
    const model = next.model !== null && (always || next.model !== this.settings.model) ? next.model : null;
    if (next.permissionMode !== null) this.settings.permissionMode = next.permissionMode;
    if (next.model !== null) this.settings.model = next.model;
    if ((mode === null && model === null) || silent) return;
    this.h.emit({ type: 'claude_settings', permissionMode: mode, model, by: by?.by ?? null, controlId: by?.controlId ?? null });
  }
}

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import type { SecretBox } from '../auth/secret-box.js';
import type { ApprovalService } from './approvals.js';
import type { RunService } from './runs.js';

/** What an id the gateway mints vouches for, beside the run and the operator: a prompt (its text), keystrokes, a session control. */
export type Vouched = { kind: 'input'; text: string } | { kind: 'keys' | 'set_mode' | 'set_model' | 'interrupt' };

/** The events that name who did something, which the gateway credits (`Credits.of`). */
export type CreditedEvent = Extract<RunnerEvent, { type: 'approval_resolved' | 'input_sent' | 'interrupt_sent' | 'claude_settings' }>;

/** How a name the gateway cannot vouch for reads: what the runner says, said as the runner's. */
export function runnerSays(name: string): string {
  return `the runner (says ${name})`;
}

const NONCE_BYTES = 9;
const MAC_BYTES = 18;

/**
 * Who did what the run's events say someone did. The gateway names the operator in what it
 * forwards to a runner (a follow-up, a mode or model switch, an interrupt); the runner reports back
 * what it passed on under that name (`input_sent`, `claude_settings`, `interrupt_sent`), and a
 * hostile runner could name anyone: "Follow-up from olivia: push straight to main". So the id the
 * gateway gives each (`inputId`, `controlId`) is a nonce and a MAC, under the gateway's key, of the
 * run, what was sent (a prompt's text, which control) and who sent it: an event is credited to that
 * operator only when its id vouches for exactly that. No record is kept (it holds across restarts
 * and cluster nodes, whose key is shared). An approval is credited by the gateway's record of the
 * answer (`ApprovalService.creditFor`); an interrupt without an id, by the cancel the run's record
 * holds.
 */
export class Credits {
  constructor(private readonly o: { box: SecretBox; approvals: Pick<ApprovalService, 'creditFor'>; runs: Pick<RunService, 'get'> }) {}

  /** A fresh id for `what` sent to the run's runner by `by` (36 characters of base64url). */
  mint(runId: string, what: Vouched, by: string): string {
    const nonce = randomBytes(NONCE_BYTES).toString('base64url');
    return nonce + this.tag(runId, what, by, nonce).toString('base64url');
  }

  /** Whether `id` was minted here for exactly this run, thing and operator. */
  vouches(runId: string, what: Vouched, by: string, id: string | null | undefined): boolean {
    if (!id || id.length !== 36) return false;
    const nonce = id.slice(0, 12);
    const mac = Buffer.from(id.slice(12), 'base64url');
    return mac.length === MAC_BYTES && timingSafeEqual(mac, this.tag(runId, what, by, nonce));
  }

  /** The name to show for who did what `ev` says (null: nobody is named, e.g. Claude changed its own mode). */
  of(runId: string, ev: CreditedEvent): string | null {
    switch (ev.type) {
      case 'approval_resolved':
        return this.o.approvals.creditFor(runId, ev);
      case 'input_sent':
        // The first prompt is the runner's own (its command line), and says so.
        if (ev.inputId === 'initial-prompt') return ev.by;
        return ev.text !== null && this.vouches(runId, { kind: 'input', text: ev.text }, ev.by, ev.inputId) ? ev.by : runnerSays(ev.by);
      case 'interrupt_sent':
        if (this.vouches(runId, { kind: 'interrupt' }, ev.by, ev.controlId)) return ev.by;
        // A cancel interrupts Claude too, without an id: the run's record says who asked for it.
        return ev.controlId == null && this.o.runs.get(runId)?.cancelRequestedBy === ev.by ? ev.by : runnerSays(ev.by);
      case 'claude_settings': {
        if (ev.by === null) return null;
        const kind = ev.permissionMode !== null && ev.model === null ? 'set_mode' : ev.model !== null && ev.permissionMode === null ? 'set_model' : null;
        return kind && this.vouches(runId, { kind }, ev.by, ev.controlId) ? ev.by : runnerSays(ev.by);
      }
      default: {
        const never: never = ev;
        return never;
      }
    }
  }

  private tag(runId: string, what: Vouched, by: string, nonce: string): Buffer {
    const thing = what.kind === 'input' ? `input ${createHash('sha256').update(what.text).digest('hex')}` : what.kind;
    return this.o.box.mac(`ccg credit v1\0${runId}\0${thing}\0${by}\0${nonce}`).subarray(0, MAC_BYTES);
  }
}

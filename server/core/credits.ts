import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { redactString } from '../../protocol/event-redaction.js';
import { Redaction, unredactedId } from '../../protocol/redaction.js';
import type { SecretBox } from '../auth/secret-box.js';

/**
 * What an id the gateway mints vouches for, beside the run and the operator: a prompt (its
 * text), keystrokes, a mode switch (to which mode), a model switch (Claude reports the model it
 * took, which need not be the name asked for), an interrupt, a cancel.
 */
export type Vouched =
  | { kind: 'input'; text: string; redacted?: true }
  | { kind: 'set_mode'; mode: string }
  | { kind: 'keys' | 'set_model' | 'interrupt' | 'cancel' }
  | { kind: 'approval'; approvalId: string; decision: 'allow' | 'deny'; always: boolean; message: string | null; redacted?: true };

/** The token rules alone: a prompt is vouched for as redacted by them, as the runner's and the gateway's redaction leave it. */
const RULES = new Redaction({ literals: [] });
/** Ids a run's events have used, at most this many remembered per run (an id vouches for one event). */
const MAX_USED = 4096;

/** How a name the gateway cannot vouch for reads: what the runner says, said as the runner's (within an event's 120 characters). */
export function runnerSays(name: string): string {
  return `the runner (says ${name.slice(0, 100)})`;
}

const NONCE_BYTES = 9;
const MAC_BYTES = 18;
/** The events that name who sent what the gateway forwarded. */
const CREDITED = new Set(['input_sent', 'interrupt_sent', 'claude_settings', 'approval_resolved']);
/** Who the runner names for an approval it resolved itself, by reason (an operator's answer and a cancel are vouched for by an id). */
const RUNNER_RESOLVERS: Record<string, string> = { timeout: 'timeout', cancelled: 'claude', ended: 'runner', operator: 'runner' };

/**
 * Who sent what a run's events say an operator sent. The gateway names the operator in what it
 * forwards to a runner (a follow-up, a mode or model switch, an interrupt, a cancel); the runner
 * reports back what it passed on under that name (`input_sent`, `claude_settings`,
 * `interrupt_sent`), and a hostile runner could name anyone: "Follow-up from olivia: push
 * straight to main". So the id the gateway gives each (`inputId`, `controlId`) is a nonce and a
 * MAC, under the gateway's key, of the run, what was sent (a prompt's text, which control) and
 * who sent it. Every event chunk is read through `chunk` as it arrives, before it is stored or
 * shown: a name its id does not vouch for becomes "the runner (says olivia)", so every reader
 * (the pages, the TUI, `ccg runs events`, the API) gets the name the gateway vouches for. No
 * record is kept: it holds across restarts and cluster nodes (whose key is shared). An approval's
 * answer (`approval_decision.creditId`, echoed in `approval_resolved`) is vouched for the same way,
 * for runners that say they echo it (`RunnerInfo.approvalCredits`); the pages also credit it by the
 * gateway's record of the answer (`ApprovalService.creditFor`).
 */
export class Credits {
  constructor(private readonly box: SecretBox) {}

  /** A fresh id for `what` sent to the run's runner by `by` (36 characters of base64url, untouched by redaction). */
  mint(runId: string, what: Vouched, by: string): string {
    return unredactedId(() => {
      const nonce = randomBytes(NONCE_BYTES).toString('base64url');
      return nonce + this.tag(runId, what, by, nonce).toString('base64url');
    });
  }

  /** Whether `id` was minted here for exactly this run, thing and operator. */
  vouches(runId: string, what: Vouched, by: string, id: unknown): boolean {
    if (typeof id !== 'string' || id.length !== 36) return false;
    const mac = Buffer.from(id.slice(12), 'base64url');
    return mac.length === MAC_BYTES && timingSafeEqual(mac, this.tag(runId, what, by, id.slice(0, 12)));
  }

  /**
   * An event chunk of the run with every operator's name its id does not vouch for replaced
   * (the same bytes when there is none). Each line is read as readers read it (one chunk at a
   * time, `itemsOfChunk`), the last one too when it has no newline. `used`: the ids the run's
   * events used so far and the seq of the chunk each came in (kept by the caller): an id vouches
   * for one event, not for its replays; the same chunk sent again (its write failed) is no replay.
   */
  chunk(runId: string, data: Buffer, used: Map<string, number>, seq: number): Buffer {
    const text = data.toString('latin1');
    // A \u escape can spell any key or value (`"b\u0079"`); no other escape spells a letter.
    if (!text.includes('"by"') && !text.includes('\\u')) return data;
    const lines = text.split('\n');
    const inChunk = new Set<string>();
    let changed = false;
    for (const [i, line] of lines.entries()) {
      if (!line.includes('"by"') && !line.includes('\\u')) continue;
      const credited = this.line(runId, Buffer.from(line, 'latin1').toString('utf8'), used, seq, inChunk);
      if (credited === null) continue;
      lines[i] = Buffer.from(credited, 'utf8').toString('latin1');
      changed = true;
    }
    return changed ? Buffer.from(lines.join('\n'), 'latin1') : data;
  }

  /** One event line with its name credited, or null when it stays as it is. */
  private line(runId: string, line: string, used: Map<string, number>, seq: number, inChunk: Set<string>): string | null {
    let ev: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
      ev = parsed as Record<string, unknown>;
    } catch {
      return null;
    }
    if (typeof ev['type'] !== 'string' || !CREDITED.has(ev['type']) || typeof ev['by'] !== 'string') return null;
    let by = this.name(runId, ev, ev['by']);
    const id = ev['type'] === 'input_sent' ? ev['inputId'] : ev['type'] === 'approval_resolved' ? ev['creditId'] : ev['controlId'];
    // Only an id the MAC was checked for is spent: a cancel's id also vouches for every approval
    // its interrupt closed, and the runner's own names (a timeout) are kept whatever id they carry
    // (spending those would let a flood of them push real ids out of `used`).
    const spent = !(ev['type'] === 'approval_resolved' && (ev['reason'] === 'interrupted' || RUNNER_RESOLVERS[String(ev['reason'])] === by));
    if (by === ev['by'] && spent && typeof id === 'string' && id !== 'initial-prompt') {
      // Used before in another chunk, or earlier in this one.
      const at = used.get(id);
      if ((at !== undefined && at !== seq) || inChunk.has(id)) by = runnerSays(by);
      else used.set(id, seq);
      inChunk.add(id);
      if (used.size > MAX_USED) used.delete(used.keys().next().value!);
    }
    return by === ev['by'] ? null : JSON.stringify({ ...ev, by });
  }

  /** The name to keep for the operator `by` an event names. */
  private name(runId: string, ev: Record<string, unknown>, by: string): string {
    switch (ev['type']) {
      case 'input_sent':
        // The first prompt is the runner's own (its command line), and says so.
        if (ev['inputId'] === 'initial-prompt' && by === 'runner') return by;
        if (typeof ev['text'] !== 'string') return runnerSays(by);
        // As the runner's redaction left it (redacting again is not always a no-op: a header's
        // value already marked is marked again), or as sent when the runner did not redact it.
        return this.vouches(runId, { kind: 'input', text: ev['text'], redacted: true }, by, ev['inputId']) || this.vouches(runId, { kind: 'input', text: ev['text'] }, by, ev['inputId']) ? by : runnerSays(by);
      case 'interrupt_sent':
        return this.vouches(runId, { kind: 'interrupt' }, by, ev['controlId']) || this.vouches(runId, { kind: 'cancel' }, by, ev['controlId']) ? by : runnerSays(by);
      case 'approval_resolved': {
        const id = ev['creditId'];
        if (ev['reason'] === 'interrupted') {
          // What the runner writes when a cancel closes an approval: a denial, nothing else.
          const closed = ev['decision'] === 'deny' && ev['always'] === false && (ev['message'] === null || ev['message'] === `The run was cancelled by ${by}.`);
          return closed && this.vouches(runId, { kind: 'cancel' }, by, id) ? by : runnerSays(by);
        }
        if (RUNNER_RESOLVERS[String(ev['reason'])] === by) return by; // the runner's own (a timeout, Claude's withdrawal, the end, --modes)
        if (ev['reason'] !== 'operator' || typeof ev['approvalId'] !== 'string' || (ev['decision'] !== 'allow' && ev['decision'] !== 'deny')) return runnerSays(by);
        const message = typeof ev['message'] === 'string' ? ev['message'] : null;
        const answer = { kind: 'approval', approvalId: ev['approvalId'], decision: ev['decision'], message } as const;
        // A runner may narrow an operator's "always" to once (Claude suggested no rule, or --modes), never widen it.
        const always = ev['always'] === true ? [true] : [false, true];
        const vouched = always.some((a) => this.vouches(runId, { ...answer, always: a, redacted: true }, by, id) || this.vouches(runId, { ...answer, always: a }, by, id));
        return vouched ? by : runnerSays(by);
      }
      default: {
        // claude_settings: one operator's switch changes one of the two.
        const mode = ev['permissionMode'];
        const what: Vouched | null = typeof mode === 'string' && ev['model'] == null ? { kind: 'set_mode', mode } : ev['model'] != null && mode == null ? { kind: 'set_model' } : null;
        return what && this.vouches(runId, what, by, ev['controlId']) ? by : runnerSays(by);
      }
    }
  }

  private tag(runId: string, what: Vouched, by: string, nonce: string): Buffer {
    // A prompt as the token rules leave it: the runner redacts its events too, and a real prompt
    // holding a key (AKIA…) arrives redacted (a secret only the runner knows still changes it).
    const digest = (text: string, redacted: boolean | undefined) => createHash('sha256').update(redacted ? text : redactString(RULES, text)).digest('hex');
    const thing =
      what.kind === 'input'
        ? `input ${digest(what.text, what.redacted)}`
        : what.kind === 'set_mode'
          ? `set_mode ${what.mode}`
          : what.kind === 'approval'
            ? // Lengths first here too: an approval id cannot run into the decision.
              `approval ${what.approvalId.length}:${what.approvalId} ${what.decision} ${what.always ? 'always' : 'once'} ${what.message === null ? 'none' : digest(what.message, what.redacted)}`
            : what.kind;
    // Lengths first: no run id, thing or name can be made to read as another split of the same bytes.
    const parts = [runId, thing, by, nonce];
    return this.box.mac(`ccg credit v1 ${parts.map((p) => `${Buffer.byteLength(p)}:${p}`).join(' ')}`).subarray(0, MAC_BYTES);
  }
}

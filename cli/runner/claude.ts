import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import {
  MAX_INPUT_JSON,
  MAX_PENDING_APPROVALS,
  MAX_RAW,
  capJson,
  capText,
  type ApprovalInfo,
} from '../../protocol/claude-events.js';
import {
  allowLine,
  controlErrorLine,
  denyLine,
  interruptLine,
  parseClaudeLine,
  userMessageLine,
  type CanUseTool,
} from '../../protocol/claude-stream.js';
import { answersProblem, approvalKind, EDIT_TOOLS, isSlashCommand } from '../../protocol/claude-steer.js';
import { STREAM_STDERR, STREAM_STDOUT } from '../../protocol/frames.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { RefusalLimit, steeringKind, type ChildDriver, type DriverIO, type SteeringMessage } from './driver.js';
import { modeRefusal, SessionControls, type Allowed } from './claude-controls.js';
import { editDiff, PlanTracker, questionsOf } from './claude-preview.js';
import { groupSpawnOptions } from './process-tree.js';
import { LiveForwarder } from './claude-live.js';
import { isPartialOnlyLine } from '../../protocol/claude-live.js';
import { claudeArgsWithBudget, endedMidTurn, startAfterPreflight } from './claude-narrative.js';
import { unredactedId } from '../../protocol/redaction.js';

export interface ClaudeDriverOptions {
  /** The claude executable and its flags (CLAUDE_STREAM_FLAGS plus any extra). */
  argv: string[];
  /** The first user turn, written to Claude's stdin (never on its command line). */
  prompt: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** An approval nobody answers within this long is denied. */
  approvalTimeoutMs: number;
  /** After a turn ends, how long Claude's stdin stays open for a follow-up (0: end at once, and take no follow-up at all). */
  inputWaitMs: number;
  /** Take prompts from the gateway (`--no-remote-input`: refuse every one). Default true. */
  remoteInput?: boolean;
  /**
   * Let the gateway answer Claude's permission requests (`--no-remote-approval`: the runner
   * denies each one itself, at once; Claude's own allow rules still apply). Default true.
   */
  remoteApproval?: boolean;
  /** Let operators switch Claude to bypassPermissions (`--allow-bypass-permissions`). Default false. */
  allowBypass?: boolean;
  /** The permission modes the gateway may switch Claude to, by any way (`--modes`); absent: any (bypass still needs allowBypass). */
  modes?: readonly string[] | null;
  /** The models the gateway may switch Claude to (`--models`); absent: any. */
  models?: readonly string[] | null;
  /** Human-readable lines for the local terminal (instead of raw stream-json), or null. */
  echo: ((ev: RunnerEvent) => void) | null;
  now?: () => number;
}

interface Pending {
  info: ApprovalInfo;
  request: CanUseTool;
  timer: NodeJS.Timeout;
}

/** One serialised event must fit one output chunk (256 KiB) with room to spare, escapes included. */
const MAX_EVENT_JSON = 192 * 1024;
/** A Claude line longer than this is not buffered whole: it becomes a truncated raw event. */
const MAX_LINE = 16 * 1024 * 1024;
const RECENT_ANSWERED = 256;

const newId = () => unredactedId(() => randomBytes(16).toString('base64url'));
/** An approval id (APPROVAL_ID_RE): 'a' and 22 base64url characters, so never an option-like '-…'. */
const newApprovalId = () => `a${newId()}`;

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

/**
 * Drives Claude Code over stream-json: the prompt and follow-ups go in as user turns, Claude's
 * permission requests (`--permission-prompt-tool stdio`) become approvals that operators
 * answer through the gateway, and every output line becomes a timeline event. The raw
 * stream-json is still streamed as the run's stdout.
 */
export class ClaudeDriver implements ChildDriver {
  readonly pty = false;
  readonly remote: { input: boolean; approval: boolean; bypass?: true; modes?: string[]; models?: string[] };
  /** The modes and models the gateway may switch Claude to (`--modes`, `--models`). */
  private readonly allowed: Allowed;
  private io!: DriverIO;
  private child: ChildProcess | null = null;
  private stdinOpen = false;
  private exited = false;
  private buf = '';
  /** Claude's stdout is UTF-8; a character may be split across two reads. */
  private readonly decoder = new StringDecoder('utf8');
  private skippingLongLine = false;
  /** User turns written minus results received: 0 means Claude is idle. */
  private turnsInFlight = 0;
  private inputWait: NodeJS.Timeout | null = null;
  private readonly pending = new Map<string, Pending>();
  private readonly byRequest = new Map<string, string>();
  private readonly answered: string[] = [];
  private readonly refusals = new RefusalLimit();
  private interruptCounter = 0;
  private readonly now: () => number;
  private readonly plans = new PlanTracker();
  /** Mode, model, stop this turn (claude-controls.ts). */
  private readonly controls: SessionControls;
  /** Live text to the gateway (claude-live.ts); created at start, when io exists. */
  private live: LiveForwarder | null = null;
  /** The spending limit the gateway set for the run (configure), passed as --max-budget-usd. */
  private maxBudgetUsd: number | null = null;

  constructor(private readonly o: ClaudeDriverOptions) {
    this.now = o.now ?? Date.now;
    // --input-wait 0 means "no follow-ups": not after the result, and not while Claude works either.
    const approval = o.remoteApproval ?? true;
    // `bypass` only when allowed, so the hello of a runner without the flag reads as before.
    this.remote = { input: (o.remoteInput ?? true) && o.inputWaitMs > 0, approval, ...(approval && o.allowBypass === true ? { bypass: true as const } : {}) };
    this.allowed = { modes: o.modes ?? null, models: o.models ?? null };
    // Told to the gateway in the hello, so it offers and takes only these (it refuses the rest early).
    if (o.modes) this.remote.modes = [...o.modes];
    if (o.models) this.remote.models = [...o.models];
    this.controls = new SessionControls({
      remote: this.remote,
      allowed: this.allowed,
      inputOff: () => this.inputOff(),
      stdinOpen: () => this.stdinOpen,
      write: (line) => void this.write(line),
      emit: (ev) => this.emit(ev),
      refuse: (id, reason) => this.refuse('session', id, reason),
      status: (line) => this.io.status(line),
      next: () => ++this.interruptCounter,
    });
  }

  /** Why remote input is refused, for the refusal and the status line. */
  private inputOff(): string {
    return this.o.remoteInput === false ? 'remote input is off on this runner (--no-remote-input)' : 'this runner takes no follow-up prompts (--input-wait 0)';
  }

  configure(c: { maxBudgetUsd: number | null }): void {
    this.maxBudgetUsd = c.maxBudgetUsd;
  }

  start(io: DriverIO): void {
    this.io = io;
    this.live = new LiveForwarder((m) => io.live?.(m));
    // Claude missing or not logged in: refused before it starts, with what to do (claude-narrative.ts).
    startAfterPreflight(this.o, io, () => this.spawnClaude(io));
  }

  private spawnClaude(io: DriverIO): void {
    const [file, ...args] = claudeArgsWithBudget(this.o.argv, this.maxBudgetUsd, io);
    io.status(`starting: ${[file, ...args].join(' ')} (prompt on stdin)`);
    const c = spawn(file!, args, { cwd: this.o.cwd, env: this.o.env, stdio: ['pipe', 'pipe', 'pipe'], ...groupSpawnOptions });
    this.child = c;
    c.stdin!.on('error', () => {
      // EPIPE after Claude exited: the exit handler reports it.
      this.stdinOpen = false;
    });
    c.stdout!.on('data', (d: Buffer) => this.read(d));
    c.stderr!.on('data', (d: Buffer) => io.output(STREAM_STDERR, d));
    c.on('spawn', () => {
      this.stdinOpen = true;
      io.spawned(c.pid ?? 0);
      this.sendTurn('initial-prompt', 'runner', this.o.prompt);
    });
    c.on('error', (err) => {
      if (this.exited) return;
      this.exited = true;
      io.exited(null, null, `could not start ${file}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
    });
    c.on('close', (code, signal) => {
      this.buf += this.decoder.end();
      if (this.buf) {
        this.forward(this.buf);
        this.line(this.buf);
      }
      this.buf = '';
      this.stdinOpen = false;
      if (this.inputWait) clearTimeout(this.inputWait);
      this.live?.stop();
      if (this.turnsInFlight > 0 && !this.exited) this.emit(endedMidTurn(code, signal, this.turnsInFlight));
      for (const id of [...this.pending.keys()]) this.resolve(id, { decision: 'deny', always: false, message: null, by: 'runner', reason: 'ended' }, false);
      if (this.exited) return;
      this.exited = true;
      io.exited(code, signal, null);
    });
  }

  // ---- Claude's stdout

  /**
   * Claude's stdout, line by line: each line is the run's output (stream 0) as Claude wrote it,
   * except the lines that exist only for live text (isPartialOnlyLine), which are not stored.
   */
  private read(d: Buffer): void {
    let text = this.buf + this.decoder.write(d);
    // Consecutive stored lines go out together, and always before the events of the next line
    // (the output of a line comes before what the runner makes of it, as the raw view expects).
    let out = '';
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n')) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (this.skippingLongLine) {
        out += `${line}\n`;
        this.skippingLongLine = false;
        continue;
      }
      if (isPartialOnlyLine(line)) {
        this.line(line);
        continue;
      }
      this.forward(out + `${line}\n`);
      out = '';
      this.line(line);
    }
    if (text.length > MAX_LINE) {
      this.forward(out + text);
      out = '';
      this.line(text.slice(0, MAX_RAW + 1)); // not JSON once cut: shown raw, marked truncated
      text = '';
      this.skippingLongLine = true;
    }
    this.buf = text;
    this.forward(out);
  }

  private forward(text: string): void {
    if (text) this.io.output(STREAM_STDOUT, Buffer.from(text, 'utf8'), { echo: this.o.echo === null });
  }

  private line(line: string): void {
    const parsed = parseClaudeLine(line);
    if (parsed.live) this.live?.delta(parsed.live);
    // What was gathered of the reply goes out before the complete message supersedes it.
    if (parsed.events.length) this.live?.flush();
    for (const ev of parsed.events) {
      if (ev.type === 'claude_tool_use') this.plans.toolUse(ev.toolUseId, ev.name, ev.input);
      this.emit(ev);
    }
    // Claude's init carries the mode and model itself (every turn): note them silently; a status line's mode change is news.
    if (parsed.settings) this.controls.changed(parsed.settings, null, false, parsed.events[0]?.type === 'claude_init');
    const ctl = parsed.control;
    if (ctl) {
      switch (ctl.kind) {
        case 'can_use_tool':
          this.requested(ctl.request);
          break;
        case 'cancel': {
          const id = this.byRequest.get(ctl.requestId);
          if (id) this.resolve(id, { decision: 'deny', always: false, message: null, by: 'claude', reason: 'cancelled' }, false);
          break;
        }
        case 'unsupported':
          this.io.status(`Claude sent a control request ccg does not serve (${ctl.subtype}); answered with an error`);
          this.write(controlErrorLine(ctl.requestId, `ccg does not handle ${ctl.subtype} requests`));
          break;
        case 'response':
          this.controls.answered(ctl.requestId, ctl.ok, ctl.error, ctl.response);
          break;
      }
    }
    if (parsed.result) {
      this.turnsInFlight = Math.max(0, this.turnsInFlight - 1);
      // Over budget, every further turn would stop at once: no follow-ups are awaited.
      if (parsed.result.subtype === 'error_max_budget_usd') this.closeInput(`the run's spending limit${this.maxBudgetUsd !== null ? ` ($${this.maxBudgetUsd})` : ''} was reached`);
      else if (this.turnsInFlight === 0) this.idle();
    }
  }

  private emit(ev: RunnerEvent): void {
    let out = ev;
    if (JSON.stringify(ev).length > MAX_EVENT_JSON) {
      const { text } = capText(JSON.stringify(ev), MAX_RAW);
      out = { type: 'claude_raw', claudeType: ev.type, raw: text, truncated: true };
    }
    this.io.event(out);
    this.o.echo?.(out);
  }

  private write(line: string): boolean {
    if (!this.child?.stdin || !this.stdinOpen || this.child.stdin.destroyed) return false;
    this.child.stdin.write(line);
    return true;
  }

  // ---- turns and follow-ups

  private sendTurn(inputId: string, by: string, text: string): boolean {
    if (!this.write(userMessageLine(text))) return false;
    if (this.inputWait) clearTimeout(this.inputWait);
    this.inputWait = null;
    this.turnsInFlight++;
    this.emit({ type: 'input_sent', inputId, by, text, bytes: Buffer.byteLength(text) });
    return true;
  }

  /** Claude finished every turn it was given: wait for a follow-up a while, or let it finish. */
  private idle(): void {
    if (!this.stdinOpen) return;
    if (this.o.inputWaitMs <= 0) {
      this.closeInput('no follow-up input is awaited (--input-wait 0)');
      return;
    }
    const until = this.now() + this.o.inputWaitMs;
    this.emit({ type: 'awaiting_input', until });
    this.inputWait = setTimeout(() => this.closeInput(`no follow-up within ${minutes(this.o.inputWaitMs)}`), this.o.inputWaitMs);
  }

  private closeInput(reason: string): void {
    if (this.inputWait) clearTimeout(this.inputWait);
    this.inputWait = null;
    if (!this.stdinOpen) return;
    this.stdinOpen = false;
    this.emit({ type: 'input_closed', reason });
    this.child?.stdin?.end();
  }

  // ---- approvals

  private requested(req: CanUseTool): void {
    if (!this.remote.approval) {
      // The owner did not let the gateway approve anything: nobody is asked, nothing waits.
      this.io.status(`Claude asked to use ${req.toolName}; denied: remote approval is off on this runner (--no-remote-approval)`);
      this.write(denyLine(req.requestId, 'Remote approval is off on this ccg runner (--no-remote-approval), so ccg denied this tool use. Only tools allowed by Claude\'s own settings (for example --allowedTools) can run.'));
      return;
    }
    if (this.pending.size >= MAX_PENDING_APPROVALS) {
      this.write(denyLine(req.requestId, 'Too many permission requests are waiting; ccg denied this one.'));
      return;
    }
    const approvalId = newApprovalId();
    const input = capJson(req.input, MAX_INPUT_JSON);
    const info: ApprovalInfo = {
      approvalId,
      toolName: req.toolName,
      displayName: req.displayName,
      toolUseId: req.toolUseId,
      input: input.value,
      inputTruncated: input.truncated,
      description: req.description,
      blockedPath: req.blockedPath,
      rule: req.rule,
      expiresAt: this.now() + this.o.approvalTimeoutMs,
      ...this.preview(req),
    };
    const timer = setTimeout(() => {
      this.resolve(approvalId, {
        decision: 'deny',
        always: false,
        message: `No operator answered within ${minutes(this.o.approvalTimeoutMs)}; ccg denied this tool use.`,
        by: 'timeout',
        reason: 'timeout',
      }, true);
    }, this.o.approvalTimeoutMs);
    this.pending.set(approvalId, { info, request: req, timer });
    this.byRequest.set(req.requestId, approvalId);
    this.io.status(`Claude asks to use ${req.toolName}; waiting for an operator (approval ${approvalId}, denied after ${minutes(this.o.approvalTimeoutMs)})`);
    this.emit({ type: 'approval_requested', ...info });
  }

  /** What the operator sees beside the input: the diff, the questions, the plan, Claude's setMode suggestion. */
  private preview(req: CanUseTool): Partial<ApprovalInfo> {
    const out: Partial<ApprovalInfo> = { modeSuggestion: req.modeSuggestion };
    try {
      if (EDIT_TOOLS.has(req.toolName)) out.diff = editDiff(req.toolName, req.input, this.o.cwd);
      const kind = approvalKind(req.toolName);
      if (kind === 'questions') out.questions = questionsOf(req.input);
      if (kind === 'plan') {
        const plan = this.plans.plan(req.toolUseId);
        out.plan = plan?.text ?? null;
        if (plan?.truncated) out.planTruncated = true;
      }
    } catch (err) {
      // A preview is a courtesy: the approval goes out without it.
      this.io.status(`could not prepare a preview for ${req.toolName}: ${(err as Error).message}`);
    }
    return out;
  }

  private resolve(
    approvalId: string,
    r: { decision: 'allow' | 'deny'; always: boolean; message: string | null; by: string; reason: 'operator' | 'timeout' | 'cancelled' | 'interrupted' | 'ended'; creditId?: string | null | undefined },
    answerClaude: boolean,
    extra: { answers?: Record<string, unknown>; mode?: string } = {},
  ): void {
    const p = this.pending.get(approvalId);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(approvalId);
    this.byRequest.delete(p.request.requestId);
    this.answered.push(approvalId);
    if (this.answered.length > RECENT_ANSWERED) this.answered.shift();
    if (answerClaude) {
      const always = r.decision === 'allow' && r.always && (p.request.ruleSuggestion !== null || p.request.modeSuggestion !== null);
      this.write(r.decision === 'allow' ? allowLine(p.request, always, extra) : denyLine(p.request.requestId, r.message ?? `Denied by ${r.by} (via ccg).`));
      r = { ...r, always };
    }
    this.io.status(`approval ${approvalId} (${p.info.toolName}): ${r.decision}${r.always ? ' always' : ''} by ${r.by} (${r.reason})`);
    // The gateway's id of the answer (or of the cancel) goes back with it: the gateway credits `by` by it (server/core/credits.ts).
    this.emit({ type: 'approval_resolved', approvalId, decision: r.decision, always: r.always, message: r.message, by: r.by, reason: r.reason, ...(r.creditId ? { creditId: r.creditId } : {}) });
  }

  // ---- the gateway

  connected(): void {
    this.emit({ type: 'approvals_sync', pending: [...this.pending.values()].map((p) => p.info) });
  }

  handle(msg: SteeringMessage): void {
    switch (msg.type) {
      case 'approval_decision': {
        if (!this.remote.approval) {
          this.refuse('approval', msg.approvalId, 'remote approval is off on this runner (--no-remote-approval)');
          return;
        }
        if (!this.pending.has(msg.approvalId)) {
          this.refuse('approval', msg.approvalId, this.answered.includes(msg.approvalId) ? 'this approval was already answered' : 'unknown approval id');
          return;
        }
        const pending = this.pending.get(msg.approvalId)!;
        if (msg.always && msg.decision === 'allow' && !pending.request.ruleSuggestion && !pending.request.modeSuggestion) {
          this.io.status(`approval ${msg.approvalId}: Claude suggested no rule to always allow; allowing once`);
        }
        // Answers and a mode only where Claude asked for them, and only as it asked: the gateway cannot widen a tool's input.
        const kind = approvalKind(pending.request.toolName);
        let always = msg.always;
        const suggested = pending.request.modeSuggestion;
        if (always && msg.decision === 'allow' && suggested && !pending.request.ruleSuggestion && modeRefusal(this.allowed, suggested)) {
          this.io.status(`approval ${msg.approvalId}: "always" would switch Claude to ${suggested}, which this runner does not allow (--modes); allowing once`);
          always = false;
        }
        if (msg.answers !== undefined && (kind !== 'questions' || msg.decision !== 'allow')) return this.refuse('approval', msg.approvalId, 'answers are for an AskUserQuestion request');
        if (msg.mode !== undefined && (kind !== 'plan' || msg.decision !== 'allow')) return this.refuse('approval', msg.approvalId, 'a mode is for an ExitPlanMode request');
        if (msg.answers !== undefined) {
          const problem = answersProblem(pending.info.questions ?? [], msg.answers);
          if (problem) return this.refuse('approval', msg.approvalId, problem);
        }
        // A plan's mode, or an "always" that switches the mode, only to a mode the owner allows
        // (--modes): narrowed to `default` where that is allowed, else the plan is denied here
        // (refusing would leave it open until its timeout, with the operator told it was approved).
        // An approved plan without a mode leaves plan mode for Claude's default.
        let mode = msg.mode;
        if (kind === 'plan' && msg.decision === 'allow' && modeRefusal(this.allowed, mode ?? 'default')) {
          if (!modeRefusal(this.allowed, 'default')) {
            this.io.status(`approval ${msg.approvalId}: the plan is approved in default mode, not ${mode} (--modes)`);
            mode = 'default';
          } else {
            const why = `${modeRefusal(this.allowed, mode ?? 'default')}: the plan cannot be approved from the gateway`;
            this.io.status(`approval ${msg.approvalId}: ${why}`);
            this.resolve(msg.approvalId, { decision: 'deny', always: false, message: `This ccg runner allows Claude only the modes ${this.allowed.modes!.join(', ')}, so the plan was not approved. Stay in plan mode.`, by: 'runner', reason: 'operator' }, true);
            return;
          }
        }
        const extra = { ...(msg.answers ? { answers: msg.answers } : {}), ...(mode ? { mode } : {}) };
        this.resolve(msg.approvalId, { decision: msg.decision, always, message: msg.decision === 'deny' ? msg.message : null, by: msg.by, reason: 'operator', creditId: msg.creditId }, true, extra);
        return;
      }
      case 'session_control':
        return this.controls.handle(msg);
      case 'input': {
        if (!this.remote.input) {
          this.refuse('input', msg.inputId, this.inputOff());
          return;
        }
        if (msg.text === undefined) {
          this.refuse('input', msg.inputId, 'binary input is for --pty runs; Claude takes text turns');
          return;
        }
        // Claude runs a slash command it is sent (/model haiku, /config): where the owner bounded
        // modes or models, a prompt from the gateway must not be one.
        if ((this.allowed.modes || this.allowed.models) && isSlashCommand(msg.text)) {
          this.refuse('input', msg.inputId, 'this runner takes no slash commands from the gateway (its modes or models are bounded: --modes, --models)');
          return;
        }
        if (!this.sendTurn(msg.inputId, msg.by, msg.text)) this.refuse('input', msg.inputId, 'Claude no longer takes input (its input was closed or it exited)');
        return;
      }
      case 'resize':
        this.refuse('resize', null, 'this run has no terminal (it is not a --pty run)');
        return;
      default: {
        const never: never = msg;
        return never;
      }
    }
  }

  refuseMalformed(type: string, value: unknown): void {
    const v = value as { approvalId?: unknown; inputId?: unknown; controlId?: unknown } | null;
    const id = typeof v?.approvalId === 'string' ? v.approvalId : typeof v?.inputId === 'string' ? v.inputId : typeof v?.controlId === 'string' ? v.controlId : null;
    this.refuse(steeringKind(type), id ? id.slice(0, 64) : null, 'malformed request (unknown fields, bad values or too large)');
  }

  private refuse(kind: 'approval' | 'input' | 'resize' | 'session', id: string | null, reason: string): void {
    this.io.status(`refused a ${kind} message from the gateway${id ? ` (${id})` : ''}: ${reason}`);
    if (!this.refusals.allow(this.now())) return;
    this.emit({ type: 'control_refused', kind, id, reason });
  }

  // ---- cancel

  interrupt(by: string, controlId: string | null = null): boolean {
    if (!this.child || this.exited) return false;
    for (const id of [...this.pending.keys()]) {
      this.resolve(id, { decision: 'deny', always: false, message: `The run was cancelled by ${by}.`, by, reason: 'interrupted', creditId: controlId }, true);
    }
    if (this.stdinOpen) {
      this.emit({ type: 'interrupt_sent', by, controlId });
      this.write(interruptLine(`ccg-interrupt-${++this.interruptCounter}`));
      // End of input makes Claude finish once the interrupted turn is wrapped up.
      this.closeInput(`cancelled by ${by}`);
    }
    return true;
  }
}

import { z } from 'zod';
import { APPROVAL_ID_RE } from './ids.js';
import { planCheck } from './schema-plan.js';
import { EpochMs } from './time.js';
import { ClaudeQuestion, MAX_PATCH, MAX_PLAN, ToolDiff } from './claude-steer.js';

/**
 * The Claude Code timeline as runner events (stream 3, JSON lines, see runner-events.ts).
 *
 * The runner reads Claude's stream-json (stdout), answers its control requests on stdin, and
 * turns each line into one of these normalised, size-capped events. The raw stream-json stays in
 * stream 0, byte for byte; these events are what the phone, the TUI and `ccg runs events` show.
 * Anything the runner does not recognise becomes `claude_raw` (shown raw, never dropped).
 *
 * Every text field is capped so that one event always fits one output chunk (256 KiB).
 */

export const MAX_TEXT = 64 * 1024;
export const MAX_TOOL_RESULT = 32 * 1024;
export const MAX_INPUT_JSON = 32 * 1024;
export const MAX_RAW = 8 * 1024;
/** A follow-up prompt or a pty keystroke batch, in characters (text) or bytes (data). */
export const MAX_INPUT = 64 * 1024;
export const MAX_MESSAGE = 1000;
export const MAX_PENDING_APPROVALS = 64;

const Id = z.string().min(1).max(200);
// APPROVAL_ID_RE is in ids.ts (no zod there: `ccg runs approve` checks its argument without zod).
export { APPROVAL_ID_RE };
export const ApprovalId = z.string().regex(APPROVAL_ID_RE, 'malformed approval id');
export const INPUT_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;
export const InputId = z.string().regex(INPUT_ID_RE, 'malformed input id');
/** Who did something, as the gateway names them ("alice", "operator.token (bootstrap)", "timeout"). */
export const Actor = z.string().min(1).max(120);

/** Any JSON value whose serialisation stays under `max` characters. */
export function cappedJson(max: number) {
  // Named for protocol/schema-plan.ts, so the CLI can check it without zod.
  return z.json().refine((v) => JSON.stringify(v).length <= max, { message: `JSON value larger than ${max} characters`, params: planCheck(['jsonMax', max]) });
}

export const ClaudeInit = z.object({
  type: z.literal('claude_init'),
  sessionId: Id.nullable(),
  model: z.string().max(200).nullable(),
  cwd: z.string().max(4096).nullable(),
  version: z.string().max(64).nullable(),
  permissionMode: z.string().max(64).nullable(),
  tools: z.array(z.string().max(200)).max(500),
});

export const ClaudeText = z.object({
  type: z.literal('claude_text'),
  messageId: Id.nullable(),
  text: z.string().max(MAX_TEXT),
  truncated: z.boolean(),
  /** Set for text from inside a subagent (Task) call. */
  parentToolUseId: Id.nullable(),
  /** Set when Claude Code reports an API error as assistant text (e.g. "invalid_request (400)"). */
  error: z.string().max(200).nullable(),
});

export const ClaudeThinking = z.object({
  type: z.literal('claude_thinking'),
  messageId: Id.nullable(),
  text: z.string().max(MAX_TEXT),
  truncated: z.boolean(),
  parentToolUseId: Id.nullable(),
});

export const ClaudeToolUse = z.object({
  type: z.literal('claude_tool_use'),
  toolUseId: Id,
  name: z.string().max(200),
  /** The tool's input, or (when larger than MAX_INPUT_JSON) a string preview of it. */
  input: cappedJson(MAX_INPUT_JSON + 1024),
  inputTruncated: z.boolean(),
  parentToolUseId: Id.nullable(),
});

export const ClaudeToolResult = z.object({
  type: z.literal('claude_tool_result'),
  toolUseId: Id,
  content: z.string().max(MAX_TOOL_RESULT),
  isError: z.boolean(),
  /** Size of the whole result in characters, before truncation. */
  chars: z.number().int().nonnegative(),
  truncated: z.boolean(),
  parentToolUseId: Id.nullable(),
  /** The patch Claude reports for an edit (its `structuredPatch`), as unified diff text. Absent in older events. */
  patch: z.string().max(MAX_PATCH + 1024).nullable().optional(),
  patchTruncated: z.boolean().optional(),
});

/** Text Claude reports as the user's (e.g. "[Request interrupted by user]"). Prompts ccg sent are `input_sent`. */
export const ClaudeUserText = z.object({
  type: z.literal('claude_user'),
  text: z.string().max(MAX_TEXT),
  truncated: z.boolean(),
});

export const PermissionDenial = z.object({
  toolName: z.string().max(200),
  toolUseId: Id.nullable(),
  input: cappedJson(MAX_RAW + 1024),
});

export const ClaudeResult = z.object({
  type: z.literal('claude_result'),
  /** "success", "error_during_execution", "error_max_turns", … */
  subtype: z.string().max(64),
  isError: z.boolean(),
  result: z.string().max(MAX_TEXT).nullable(),
  costUsd: z.number().nonnegative().nullable(),
  usage: z.object({
    inputTokens: z.number().int().nonnegative(),
    outputTokens: z.number().int().nonnegative(),
    cacheReadTokens: z.number().int().nonnegative(),
    cacheCreationTokens: z.number().int().nonnegative(),
  }),
  numTurns: z.number().int().nonnegative().nullable(),
  durationMs: z.number().nonnegative().nullable(),
  durationApiMs: z.number().nonnegative().nullable(),
  denials: z.array(PermissionDenial).max(100),
  stopReason: z.string().max(64).nullable(),
  terminalReason: z.string().max(64).nullable(),
  errors: z.array(z.string().max(1000)).max(20),
  apiErrorStatus: z.number().int().nullable(),
});

/** A system line that is not `init`: hook started/finished, retries, compaction, status… */
export const ClaudeSystem = z.object({
  type: z.literal('claude_system'),
  subtype: z.string().max(64),
  /** One line for people, built from known fields (e.g. "PreToolUse:Bash success (exit 0)"). */
  summary: z.string().max(1000),
  /** The whole line as JSON, capped. */
  raw: z.string().max(MAX_RAW),
});

/** A line of an unknown type, or not JSON at all: shown raw rather than dropped. */
export const ClaudeRaw = z.object({
  type: z.literal('claude_raw'),
  claudeType: z.string().max(64).nullable(),
  raw: z.string().max(MAX_RAW),
  truncated: z.boolean(),
});

/** The permission rule Claude suggested for "always allow": Bash(npm test), Edit, … */
export const PermissionRule = z.object({
  toolName: z.string().min(1).max(200),
  ruleContent: z.string().max(4096).nullable(),
});
export type PermissionRule = z.infer<typeof PermissionRule>;

/** What an operator needs to decide: the tool, its input and the rule "always" would add. */
export const ApprovalInfo = z.object({
  approvalId: ApprovalId,
  toolName: z.string().max(200),
  displayName: z.string().max(200).nullable(),
  toolUseId: Id.nullable(),
  input: cappedJson(MAX_INPUT_JSON + 1024),
  inputTruncated: z.boolean(),
  description: z.string().max(1000).nullable(),
  blockedPath: z.string().max(4096).nullable(),
  rule: PermissionRule.nullable(),
  /** Runner clock, ms: when the runner denies it unanswered. */
  expiresAt: EpochMs,
  /**
   * Claude's own `setMode` suggestion ("acceptEdits" on an edit): what "always" switches the
   * session to when it suggested no rule. Absent in older events, like the fields below.
   */
  modeSuggestion: z.string().max(64).nullable().optional(),
  /** AskUserQuestion: the questions, answered with `answers`. */
  questions: z.array(ClaudeQuestion).max(8).nullable().optional(),
  /** ExitPlanMode: the plan (markdown), from the tool call or the plan file Claude wrote. */
  plan: z.string().max(MAX_PLAN).nullable().optional(),
  planTruncated: z.boolean().optional(),
  /** Edit, Write, MultiEdit, NotebookEdit: what the tool would change, against the file on disk. */
  diff: ToolDiff.nullable().optional(),
});
export type ApprovalInfo = z.infer<typeof ApprovalInfo>;

export const ApprovalRequested = ApprovalInfo.extend({ type: z.literal('approval_requested') });

export const APPROVAL_REASONS = ['operator', 'timeout', 'cancelled', 'interrupted', 'ended'] as const;
export const ApprovalReason = z.enum(APPROVAL_REASONS);

/** How the runner answered Claude. This is the truth about an approval; the gateway follows it. */
export const ApprovalResolved = z.object({
  type: z.literal('approval_resolved'),
  approvalId: ApprovalId,
  decision: z.enum(['allow', 'deny']),
  always: z.boolean(),
  message: z.string().max(MAX_MESSAGE).nullable(),
  by: Actor,
  /** operator: answered; timeout: nobody answered in time; cancelled: Claude withdrew it; interrupted / ended: the run stopped. */
  reason: ApprovalReason,
  /** The answer's `approval_decision.creditId`, when it had one (see `ControlRef`). */
  creditId: z.string().regex(INPUT_ID_RE).nullable().optional(),
});

/**
 * The approvals the runner is waiting on, emitted after every (re)connect. Everything before it
 * in the event stream is already known to the gateway, so the gateway can reconcile exactly:
 * add what it lacks, re-send answers the runner never got, and close what the runner no
 * longer waits for (a restarted runner).
 */
export const ApprovalsSync = z.object({
  type: z.literal('approvals_sync'),
  pending: z.array(ApprovalInfo).max(MAX_PENDING_APPROVALS),
});

/** A user turn (the prompt, a follow-up) or keystrokes the runner passed to the child. */
export const InputSent = z.object({
  type: z.literal('input_sent'),
  inputId: InputId,
  by: Actor,
  /** The text (Claude turns) or, for pty keystrokes, null: key presses are not recorded. */
  text: z.string().max(MAX_INPUT).nullable(),
  bytes: z.number().int().nonnegative(),
});

/** After a result, Claude's stdin stays open for a follow-up until `until` (runner clock). */
export const AwaitingInput = z.object({
  type: z.literal('awaiting_input'),
  until: EpochMs,
});

/** The runner stopped waiting for a follow-up and closed Claude's stdin: Claude finishes. */
export const InputClosed = z.object({
  type: z.literal('input_closed'),
  reason: z.string().max(200),
});

/**
 * Interactive Claude in a `--pty` run waits for the person (its `Notification` hook fired: a
 * permission prompt, or idle at its prompt), with Claude's message; `waiting: false` once
 * keystrokes reached the terminal. The run shows "waiting for you" and a push goes out, as for a
 * stream-json run's `awaiting_input`.
 */
export const PtyWaiting = z.object({
  type: z.literal('pty_waiting'),
  waiting: z.boolean(),
  message: z.string().max(500).nullable(),
});

/** A message from the gateway the runner refused: unknown approval id, second answer, oversized input… */
export const ControlRefused = z.object({
  type: z.literal('control_refused'),
  kind: z.enum(['approval', 'input', 'resize', 'session']),
  id: z.string().max(64).nullable(),
  reason: z.string().max(300),
});

/**
 * The id of the operator's session control an event answers (`session_control.controlId`): the
 * gateway credits the operator it names only when the id vouches for them (server/core/credits.ts).
 * A cancel's for its interrupt; null when nothing of the gateway's asked for it (a local signal); absent
 * from runners before it.
 */
const ControlRef = z.string().regex(INPUT_ID_RE).nullable().optional();

export const InterruptSent = z.object({ type: z.literal('interrupt_sent'), by: Actor, controlId: ControlRef });

/**
 * Claude's permission mode or model changed (or became known): from its init, its status lines,
 * or its answer to an operator's `set_mode` / `set_model` (`by` names the operator; null when
 * Claude changed it itself, e.g. on leaving plan mode).
 */
export const ClaudeSettings = z.object({
  type: z.literal('claude_settings'),
  permissionMode: z.string().max(64).nullable(),
  model: z.string().max(200).nullable(),
  by: Actor.nullable(),
  controlId: ControlRef,
});

export const PtyResized = z.object({
  type: z.literal('pty_resized'),
  cols: z.number().int().min(2).max(1000),
  rows: z.number().int().min(2).max(500),
});

export const CLAUDE_EVENTS = [
  ClaudeInit,
  ClaudeText,
  ClaudeThinking,
  ClaudeToolUse,
  ClaudeToolResult,
  ClaudeUserText,
  ClaudeResult,
  ClaudeSystem,
  ClaudeRaw,
  ApprovalRequested,
  ApprovalResolved,
  ApprovalsSync,
  InputSent,
  AwaitingInput,
  InputClosed,
  ControlRefused,
  InterruptSent,
  ClaudeSettings,
  PtyResized,
  PtyWaiting,
] as const;

export type ClaudeInit = z.infer<typeof ClaudeInit>;
export type ClaudeText = z.infer<typeof ClaudeText>;
export type ClaudeThinking = z.infer<typeof ClaudeThinking>;
export type ClaudeToolUse = z.infer<typeof ClaudeToolUse>;
export type ClaudeToolResult = z.infer<typeof ClaudeToolResult>;
export type ClaudeUserText = z.infer<typeof ClaudeUserText>;
export type ClaudeResult = z.infer<typeof ClaudeResult>;
export type ClaudeSystem = z.infer<typeof ClaudeSystem>;
export type ClaudeRaw = z.infer<typeof ClaudeRaw>;
export type ApprovalRequested = z.infer<typeof ApprovalRequested>;
export type ApprovalResolved = z.infer<typeof ApprovalResolved>;
export type ApprovalsSync = z.infer<typeof ApprovalsSync>;
export type InputSent = z.infer<typeof InputSent>;
export type AwaitingInput = z.infer<typeof AwaitingInput>;
export type InputClosed = z.infer<typeof InputClosed>;
export type ControlRefused = z.infer<typeof ControlRefused>;
export type InterruptSent = z.infer<typeof InterruptSent>;
export type ClaudeSettings = z.infer<typeof ClaudeSettings>;
export type PtyResized = z.infer<typeof PtyResized>;
export type PtyWaiting = z.infer<typeof PtyWaiting>;

export type ClaudeEvent =
  | ClaudeInit
  | ClaudeText
  | ClaudeThinking
  | ClaudeToolUse
  | ClaudeToolResult
  | ClaudeUserText
  | ClaudeResult
  | ClaudeSystem
  | ClaudeRaw
  | ApprovalRequested
  | ApprovalResolved
  | ApprovalsSync
  | InputSent
  | AwaitingInput
  | InputClosed
  | ControlRefused
  | InterruptSent
  | ClaudeSettings
  | PtyResized
  | PtyWaiting;

/** Cuts a string to `max` characters without splitting a surrogate pair. */
export function capText(s: string, max: number): { text: string; truncated: boolean } {
  if (s.length <= max) return { text: s, truncated: false };
  let end = max;
  const code = s.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return { text: s.slice(0, end), truncated: true };
}

/** A JSON value as is when small enough, else a string preview of its serialisation. */
export function capJson(value: unknown, max: number): { value: z.infer<ReturnType<typeof z.json>>; truncated: boolean } {
  let text: string;
  try {
    text = JSON.stringify(value) ?? 'null';
  } catch {
    return { value: '[unserialisable]', truncated: true };
  }
  if (text.length <= max) return { value: JSON.parse(text) as z.infer<ReturnType<typeof z.json>>, truncated: false };
  return { value: capText(text, max).text, truncated: true };
}

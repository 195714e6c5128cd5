import { z } from 'zod';
import { RUN_ID_RE } from './ids.js';
import { Actor, ApprovalId, InputId, MAX_INPUT, MAX_MESSAGE, ApprovalInfo, ApprovalReason } from './claude-events.js';
import { ModelName, PermissionMode, PlanExitMode, QuestionAnswers } from './claude-steer.js';

/**
 * Steering a run: approvals, follow-up input and terminal size. The messages of each direction
 * are joined into the unions of runner-messages.ts and operator-messages.ts; the HTTP shapes are
 * used by server/http/api-claude.ts and the CLI.
 */

const RunId = z.string().regex(RUN_ID_RE, 'malformed run id');
const Decision = z.enum(['allow', 'deny']);
/** Base64 of raw bytes (pty keystrokes), at most MAX_INPUT bytes once decoded. */
const Base64Bytes = z
  .string()
  .max(Math.ceil(MAX_INPUT / 3) * 4)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'data must be base64');
const Cols = z.number().int().min(2).max(1000);
const Rows = z.number().int().min(2).max(500);

// ---- gateway → runner (strict: a field the runner does not know is a refusal, not ignored)

export const GatewayApprovalDecision = z
  .object({
    type: z.literal('approval_decision'),
    approvalId: ApprovalId,
    decision: Decision,
    /** Allow, and add the rule Claude suggested for the rest of this session. */
    always: z.boolean(),
    /** For a deny: what Claude is told. */
    message: z.string().max(MAX_MESSAGE).nullable(),
    by: Actor,
    /** AskUserQuestion: the answers, keyed by question (allow only). */
    answers: QuestionAnswers.optional(),
    /** ExitPlanMode: the mode the session continues in (allow only). */
    mode: PlanExitMode.optional(),
    /**
     * The gateway's id for this answer, sent only to a runner whose hello says `approvalCredits`:
     * the runner reports the approval resolved with it (`approval_resolved.creditId`), and the
     * gateway credits the operator it names only when the id vouches for them.
     */
    creditId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/).optional(),
  })
  .strict();
export type GatewayApprovalDecision = z.infer<typeof GatewayApprovalDecision>;

/** A user turn for Claude (`text`), or bytes for a pty (`text` typed as is, or `data`). */
export const GatewayInput = z
  .object({
    type: z.literal('input'),
    inputId: InputId,
    text: z.string().max(MAX_INPUT).optional(),
    data: Base64Bytes.optional(),
    by: Actor,
  })
  .strict()
  .refine((m) => (m.text === undefined) !== (m.data === undefined), 'exactly one of text and data');
export type GatewayInput = z.infer<typeof GatewayInput>;

export const GatewayResize = z.object({ type: z.literal('resize'), cols: Cols, rows: Rows }).strict();
export type GatewayResize = z.infer<typeof GatewayResize>;

export const CONTROL_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;
/**
 * A session control for Claude: switch its permission mode, its model, or stop the current turn
 * (an interrupt that keeps the session waiting for the next prompt). The runner reports the
 * outcome as `claude_settings` / `interrupt_sent`, or refuses (`control_refused`, kind "session").
 */
export const GatewaySessionControl = z
  .discriminatedUnion('action', [
    z.object({ type: z.literal('session_control'), controlId: z.string().regex(CONTROL_ID_RE), action: z.literal('set_mode'), mode: PermissionMode, by: Actor }).strict(),
    z.object({ type: z.literal('session_control'), controlId: z.string().regex(CONTROL_ID_RE), action: z.literal('set_model'), model: ModelName, by: Actor }).strict(),
    z.object({ type: z.literal('session_control'), controlId: z.string().regex(CONTROL_ID_RE), action: z.literal('interrupt'), by: Actor }).strict(),
  ]);
export type GatewaySessionControl = z.infer<typeof GatewaySessionControl>;

// ---- the approval as the gateway keeps and shows it

export const APPROVAL_STATES = ['pending', 'answered', 'resolved'] as const;

export const Approval = ApprovalInfo.extend({
  runId: z.string(),
  /**
   * pending: nobody answered yet; answered: an operator answered and the answer is on its way
   * to the runner; resolved: the runner answered Claude (see `resolution`).
   */
  state: z.enum(APPROVAL_STATES),
  /** Gateway clock, ms. */
  requestedAt: z.number(),
  answer: z
    .object({
      decision: Decision,
      always: z.boolean(),
      message: z.string().nullable(),
      by: z.string(),
      at: z.number(),
      answers: QuestionAnswers.optional(),
      mode: PlanExitMode.optional(),
    })
    .nullable(),
  resolution: z
    .object({ decision: Decision, always: z.boolean(), message: z.string().nullable(), by: z.string(), reason: ApprovalReason, at: z.number() })
    .nullable(),
});
export type Approval = z.infer<typeof Approval>;

// ---- operator → gateway (operator socket)

export const OperatorApprovalAnswer = z
  .object({
    type: z.literal('approval_answer'),
    runId: RunId,
    approvalId: ApprovalId,
    decision: Decision,
    always: z.boolean().optional(),
    message: z.string().max(MAX_MESSAGE).optional(),
  })
  .strict();

/** `text` is a follow-up turn (or typed text for a pty); `data` is base64 bytes for a pty. */
export const OperatorInput = z
  .object({
    type: z.literal('input'),
    runId: RunId,
    text: z.string().min(1).max(MAX_INPUT).optional(),
    data: Base64Bytes.optional(),
    /** Echoed back in `input_accepted`, to match answers to requests. */
    ref: z.string().max(64).optional(),
  })
  .strict();

export const OperatorResize = z.object({ type: z.literal('resize'), runId: RunId, cols: Cols, rows: Rows }).strict();

// ---- gateway → operator

/** The run's open approvals, sent after `subscribe` (before its output). */
export const OperatorApprovals = z.object({ type: z.literal('approvals'), runId: z.string(), approvals: z.array(Approval) });
/** One approval changed: requested, answered or resolved. Every subscriber of the run gets it. */
export const OperatorApproval = z.object({ type: z.literal('approval'), runId: z.string(), approval: Approval });
export const OperatorInputAccepted = z.object({
  type: z.literal('input_accepted'),
  runId: z.string(),
  inputId: z.string(),
  ref: z.string().optional(),
});

// ---- HTTP

export const AnswerApprovalRequest = z
  .object({
    decision: Decision,
    always: z.boolean().optional(),
    message: z.string().max(MAX_MESSAGE).optional(),
  })
  .strict();
export type AnswerApprovalRequest = z.infer<typeof AnswerApprovalRequest>;

/** `POST /api/v1/runs/{id}/approvals/{a}/answers`: AskUserQuestion's answers, keyed by question. */
export const AnswerQuestionsRequest = z.object({ answers: QuestionAnswers }).strict();
/**
 * `POST /api/v1/runs/{id}/approvals/{a}/plan`: approve the plan (and continue in `mode`:
 * default asks before edits, acceptEdits allows them), or keep planning (`message` tells Claude what to change).
 */
export const AnswerPlanRequest = z
  .object({ decision: z.enum(['approve', 'keep_planning']), mode: PlanExitMode.optional(), message: z.string().max(MAX_MESSAGE).optional() })
  .strict();
export type AnswerPlanRequest = z.infer<typeof AnswerPlanRequest>;
export const SetModeRequest = z.object({ mode: PermissionMode }).strict();
export const SetModelRequest = z.object({ model: ModelName }).strict();
/** A Claude session's mode and model as the gateway last heard them, and what operators may switch to. */
export const SessionResponse = z.object({
  permissionMode: z.string().nullable(),
  model: z.string().nullable(),
  /** Modes an operator may switch to on this run (bypassPermissions only where the runner allows it). */
  modes: z.array(PermissionMode),
  /** Whether the runner takes session controls (mode needs remote approval on). */
  canSetMode: z.boolean(),
});
export type SessionResponse = z.infer<typeof SessionResponse>;
/** What `POST …/mode`, `…/model` and `…/interrupt` answer: the control is on its way; the outcome shows in the events from `fromSeq`. */
export const ControlResponse = z.object({ controlId: z.string(), fromSeq: z.number().int().positive() });

export const ApprovalsResponse = z.object({ approvals: z.array(Approval) });
export const ApprovalResponse = z.object({ approval: Approval });

export const InputRequest = z
  .object({ text: z.string().min(1).max(MAX_INPUT).optional(), data: Base64Bytes.optional() })
  .strict()
  .refine((b) => (b.text === undefined) !== (b.data === undefined), 'give exactly one of text and data');
export type InputRequest = z.infer<typeof InputRequest>;
export const InputResponse = z.object({ inputId: z.string(), fromSeq: z.number().int().positive() });

export const ResizeRequest = z.object({ cols: Cols, rows: Rows }).strict();

/** One timeline event as `GET /api/v1/runs/{id}/events` and `ccg runs events --json` give it. */
export interface TimelineLine {
  seq: number;
  time: number;
  type: string;
  [field: string]: unknown;
}

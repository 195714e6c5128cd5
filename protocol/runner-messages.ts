import { z } from 'zod';
import { PROTOCOL_VERSION, RunnerInfo, SignalName } from './run.js';
import { ERRORS, type ErrorCode } from './errors.js';
import { AssistStatusBody } from './assist.js';
import { GatewayApprovalDecision, GatewayInput, GatewayResize, GatewaySessionControl } from './claude-control.js';
import { RunnerLiveText } from './claude-live.js';

/**
 * The runner WebSocket protocol (`/v1/runner`), JSON text frames. Output travels in binary
 * frames (see frames.ts). Each direction is one discriminated union on `type`.
 */

// runner → gateway
export const RunnerHello = z.object({
  type: z.literal('hello'),
  v: z.number().int(),
  runner: RunnerInfo,
});
export const RunnerStarted = z.object({
  type: z.literal('started'),
  pid: z.number().int().nonnegative(),
});
export const RunnerExit = z.object({
  type: z.literal('exit'),
  /** The child's exit code; null when it was ended by a signal or never started. */
  code: z.number().int().min(0).max(255).nullable(),
  signal: SignalName.nullable(),
  /** The last output sequence number the runner produced; the gateway records the exit once it has all of them. */
  lastSeq: z.number().int().nonnegative(),
  /** Set when the child could not be started at all. */
  error: z.string().max(1024).nullable().optional(),
});

/**
 * The runner's assist session changed (or the runner reconnected while one is open). Carries the
 * tmate links, which are credentials: a separate message, never part of the spooled event stream.
 */
export const RunnerAssistStatus = AssistStatusBody.extend({ type: z.literal('assist_status') }).strict();
export type RunnerAssistStatus = z.infer<typeof RunnerAssistStatus>;

export const RunnerToGateway = z.discriminatedUnion('type', [RunnerHello, RunnerStarted, RunnerExit, RunnerAssistStatus, RunnerLiveText]);
/** The `type`s of RunnerToGateway, to tell an unknown message from a malformed one. */
export const RUNNER_MESSAGE_TYPES: readonly string[] = ['hello', 'started', 'exit', 'assist_status', 'live_text'];
export type RunnerToGateway = z.infer<typeof RunnerToGateway>;

// gateway → runner
export const GatewayWelcome = z.object({
  type: z.literal('welcome'),
  v: z.number().int(),
  runId: z.string(),
  /** The sequence number the gateway expects next; the runner resends from here. */
  nextSeq: z.number().int().positive(),
  /** True when the run already has a final state: the runner must not start anything. */
  finished: z.boolean(),
  exitCode: z.number().int().nullable(),
  serverTime: z.number(),
  limits: z.object({ maxChunkBytes: z.number().int().positive(), maxRunBytes: z.number().int().positive() }),
  /** What the gateway sets for a Claude run (absent from older gateways): the spending limit passed to claude as --max-budget-usd. */
  claude: z.object({ maxBudgetUsd: z.number().positive().max(100_000).nullable() }).optional(),
});
export const GatewayAck = z.object({
  type: z.literal('ack'),
  /** Every chunk up to and including this seq is committed to the gateway's store. */
  seq: z.number().int().nonnegative(),
});
export const GatewayExitAck = z.object({ type: z.literal('exit_ack') });
export const GatewayCancel = z.object({
  type: z.literal('cancel'),
  by: z.string().max(120),
  /** The gateway's id for it: the runner reports Claude's interrupt with it (`interrupt_sent.controlId`). */
  controlId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/).optional(),
});
/** Request ids: single-use, chosen by the gateway, remembered by the runner. */
export const REQUEST_ID_RE = /^[A-Za-z0-9_-]{16,64}$/;
const RequestId = z.string().regex(REQUEST_ID_RE);
export const MAX_EXEC_PARAMS = 8;

/**
 * Run the allowlisted command `name` with these parameter values. Strict: no other field is
 * accepted (no argv, no env, no cwd: the runner's allowlist alone says what a name runs).
 */
export const GatewayExec = z
  .object({
    type: z.literal('exec'),
    requestId: RequestId,
    name: z.string().max(64),
    params: z
      .record(z.string().max(64), z.string().max(1024))
      .refine((p) => Object.keys(p).length <= MAX_EXEC_PARAMS, `at most ${MAX_EXEC_PARAMS} parameters`)
      .default({}),
  })
  .strict();
export type GatewayExec = z.infer<typeof GatewayExec>;
/** Collect artifacts now (the run log, git diffs, untracked files, the runner's own globs). */
export const GatewayCollect = z.object({ type: z.literal('collect'), requestId: RequestId }).strict();
export type GatewayCollect = z.infer<typeof GatewayCollect>;
/** Start or stop an assist session (tmate); refused unless the runner was started with --assist. */
export const GatewayAssist = z.object({ type: z.literal('assist'), requestId: RequestId, action: z.enum(['start', 'stop']) }).strict();
export type GatewayAssist = z.infer<typeof GatewayAssist>;
export const GatewayError = z.object({
  type: z.literal('error'),
  code: z.string().max(64),
  /** Shown to the runner's owner (sanitized): bounded, so a gateway cannot flood their terminal. */
  message: z.string().max(1024),
});

export const GatewayToRunner = z.discriminatedUnion('type', [
  GatewayWelcome,
  GatewayAck,
  GatewayExitAck,
  GatewayCancel,
  GatewayExec,
  GatewayCollect,
  GatewayAssist,
  GatewayError,
  GatewayApprovalDecision,
  GatewayInput,
  GatewayResize,
  GatewaySessionControl,
]);
export type GatewayToRunner = z.infer<typeof GatewayToRunner>;

export function errorMessage(code: ErrorCode, message?: string): z.infer<typeof GatewayError> {
  return { type: 'error', code, message: message ?? ERRORS[code].message };
}

export { PROTOCOL_VERSION };

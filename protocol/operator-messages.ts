import { z } from 'zod';
import { RUN_ID_RE } from './ids.js';
import { RunSummary } from './run.js';
import { AssistInfo } from './assist.js';
import { ArtifactInfo } from './artifacts.js';
import { OperatorLiveText } from './claude-live.js';
import { OperatorApproval, OperatorApprovalAnswer, OperatorApprovals, OperatorInput, OperatorInputAccepted, OperatorResize } from './claude-control.js';

/**
 * The operator WebSocket protocol (`/v1/operator`), used by the TUI, `ccg runs logs --follow`,
 * `ccg runs wait` and the phone pages. JSON text frames, plus binary VIEW frames (frames.ts)
 * for output.
 */

const RunId = z.string().regex(RUN_ID_RE, 'malformed run id');

// operator → gateway
export const OperatorHello = z.object({ type: z.literal('hello'), v: z.number().int(), client: z.string().max(64).optional() });
export const OperatorSubscribe = z.object({
  type: z.literal('subscribe'),
  runId: RunId,
  /** First sequence number wanted (resume point). */
  from: z.number().int().positive().optional(),
  /** Or: only the last `tail` chunks. Ignored when `from` is given. */
  tail: z.number().int().positive().max(100_000).optional(),
});
export const OperatorUnsubscribe = z.object({ type: z.literal('unsubscribe'), runId: RunId });
export const OperatorWatchRuns = z.object({ type: z.literal('watch_runs'), limit: z.number().int().positive().max(500).optional() });

export const OperatorToGateway = z.discriminatedUnion('type', [
  OperatorHello,
  OperatorSubscribe,
  OperatorUnsubscribe,
  OperatorWatchRuns,
  OperatorApprovalAnswer,
  OperatorInput,
  OperatorResize,
]);
export type OperatorToGateway = z.infer<typeof OperatorToGateway>;

// gateway → operator
export const OperatorWelcome = z.object({
  type: z.literal('welcome'),
  v: z.number().int(),
  user: z.object({ name: z.string(), role: z.string() }),
});
export const OperatorSubscribed = z.object({
  type: z.literal('subscribed'),
  runId: z.string(),
  from: z.number().int(),
  lastSeq: z.number().int(),
});
/** Sent when a subscriber has every stored chunk; live chunks follow. */
export const OperatorCaughtUp = z.object({ type: z.literal('caught_up'), runId: z.string(), seq: z.number().int() });
export const OperatorRun = z.object({ type: z.literal('run'), run: RunSummary });
export const OperatorRuns = z.object({ type: z.literal('runs'), runs: z.array(RunSummary) });
export const OperatorError = z.object({
  type: z.literal('error'),
  code: z.string(),
  message: z.string(),
  runId: z.string().optional(),
});

/**
 * A subscribed run's assist session changed (or its current state, right after `subscribe`).
 * Sent to operators and admins only: the links open a shell on the runner's machine.
 */
export const OperatorAssist = z.object({ type: z.literal('assist'), runId: z.string(), assist: AssistInfo });
/** A subscribed run's artifact list (after `subscribe` when it has any, and after every upload). */
export const OperatorArtifacts = z.object({ type: z.literal('artifacts'), runId: z.string(), artifacts: z.array(ArtifactInfo) });

export const GatewayToOperator = z.discriminatedUnion('type', [
  OperatorWelcome,
  OperatorSubscribed,
  OperatorCaughtUp,
  OperatorRun,
  OperatorRuns,
  OperatorError,
  OperatorAssist,
  OperatorArtifacts,
  OperatorApprovals,
  OperatorApproval,
  OperatorInputAccepted,
  OperatorLiveText,
]);
export type GatewayToOperator = z.infer<typeof GatewayToOperator>;

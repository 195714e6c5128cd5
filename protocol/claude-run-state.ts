import { z } from 'zod';

/**
 * What the gateway knows about a Claude run beyond its status (part of `RunSummary` as `claude`):
 * what it cost so far, its spending limit, whether Claude is retrying a failing API and whether it
 * stopped for the budget. Kept by server/core/claude-state.ts from the run's events.
 */

/** Retries in a row before a run shows "Claude is retrying" and people are notified. */
export const RETRY_ALERT_AFTER = 2;

/** The largest spending limit a run may be given, in US dollars. */
export const MAX_BUDGET_USD = 100_000;

/** A spending limit in US dollars: positive, at most MAX_BUDGET_USD, cents or finer. */
export const BudgetUsd = z.number().positive().max(MAX_BUDGET_USD);

export const ClaudeRetrying = z.object({
  /** Claude's attempt number (1 for the first retry). */
  attempt: z.number().int().nonnegative(),
  maxRetries: z.number().int().nonnegative().nullable(),
  /** "API overloaded (529)" and the like. */
  error: z.string().max(200),
  since: z.number(),
});
export type ClaudeRetrying = z.infer<typeof ClaudeRetrying>;

export const ClaudeRunState = z.object({
  /** Sum of the sessions' last reported totals (Claude Code reports a running total per session). */
  costUsd: z.number().nonnegative().nullable(),
  /** The last turn's share of it. */
  lastTurnCostUsd: z.number().nonnegative().nullable(),
  /** The spending limit set when the run was created (passed to claude as --max-budget-usd). */
  maxBudgetUsd: BudgetUsd.nullable(),
  /** Set while Claude retries a failing API call for the RETRY_ALERT_AFTER-th time or more. */
  retrying: ClaudeRetrying.nullable(),
  /** Why Claude stopped working on its own, when it did: the budget. */
  stopped: z.enum(['budget']).nullable(),
});
export type ClaudeRunState = z.infer<typeof ClaudeRunState>;

/** The state of a run nothing is known about yet. */
export function emptyClaudeState(maxBudgetUsd: number | null = null): ClaudeRunState {
  return { costUsd: null, lastTurnCostUsd: null, maxBudgetUsd, retrying: null, stopped: null };
}

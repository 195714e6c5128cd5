import { isFinal, type RunSummary } from '../../protocol/run.js';
import { money } from '../../protocol/timeline-narrative.js';

/**
 * The sentences a run's header and the runs list show about Claude and the runner, beyond the
 * status badge: cost, spending limit, retries, a budget stop, a lost runner. Display strings only
 * (eta escapes them); a hostname comes from the runner and is cleaned by the caller.
 */
export interface RunNarrativeView {
  /** "$0.0123" (the run's cost so far), or null. */
  cost: string | null;
  /** "$0.0123 so far (last turn $0.0040) · limit $1.00", or null. */
  costLine: string | null;
  /** "Claude is retrying: API overloaded (529), attempt 3 of 10", or null. */
  retrying: string | null;
  /** "Stopped: the spending limit ($1.00) was reached", or null. */
  stopped: string | null;
  /** "Runner lost at 12:03:04 UTC: …what to do…", or null. */
  lost: string | null;
}

/** The narrative parts of a run's view; `host` is the runner's cleaned hostname, if any. */
export function runNarrativeView(run: RunSummary, host: string | null): RunNarrativeView {
  const c = run.claude;
  const cost = c?.costUsd != null ? money(c.costUsd) : null;
  const parts: string[] = [];
  if (cost) parts.push(`${cost} so far${c?.lastTurnCostUsd != null ? ` (last turn ${money(c.lastTurnCostUsd)})` : ''}`);
  if (c?.maxBudgetUsd != null) parts.push(`limit ${money(c.maxBudgetUsd)}`);
  const retrying = c?.retrying && !isFinal(run.status) ? `Claude is retrying: ${c.retrying.error}, attempt ${c.retrying.attempt}${c.retrying.maxRetries ? ` of ${c.retrying.maxRetries}` : ''}` : null;
  const stopped = c?.stopped === 'budget' ? `Stopped: the spending limit${c.maxBudgetUsd != null ? ` (${money(c.maxBudgetUsd)})` : ''} was reached` : null;
  const lost =
    run.runnerLostAt != null && !run.runnerConnected && !isFinal(run.status)
      ? `Runner lost at ${new Date(run.runnerLostAt).toISOString().slice(11, 19)} UTC${host ? ` (on ${host})` : ''}. The run stays open: start the runner again on that machine with the same command, and it delivers the output it kept, stops the old Claude and starts it again with the prompt. Or cancel the run.`
      : null;
  return { cost, costLine: parts.length ? parts.join(' · ') : null, retrying, stopped, lost };
}

import { RETRY_ALERT_AFTER, type ClaudeRunState } from '../../protocol/claude-run-state.js';
import { apiErrorPhrase, apiRetryOf, type ApiRetry } from '../../protocol/claude-system.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import type { Logger } from '../log.js';
import type { RunService } from './runs.js';

interface Tracked {
  /** The session the run's latest events belong to. */
  session: string | null;
  /** Each session's last reported total. */
  totals: Map<string | null, number>;
}

/**
 * Keeps each run's `claude` summary (protocol/claude-run-state.ts) from its committed events: the
 * cost so far (Claude Code reports a running total per session; a run's cost is the sum of its
 * sessions' last totals) and the last turn's share, the "Claude is retrying" state (after
 * RETRY_ALERT_AFTER `api_retry` lines in a row, cleared by the next thing Claude writes), and a
 * stop for the spending limit. A run entering the retrying state is announced once per streak
 * through `onRetrying` (the notifier).
 */
export class ClaudeStateService {
  private readonly tracked = new Map<string, Tracked>();

  constructor(private readonly o: { runs: RunService; log: Logger; now: () => number; onRetrying: (runId: string, r: ApiRetry) => void }) {}

  onEvents(runId: string, events: readonly RunnerEvent[]): void {
    let t = this.tracked.get(runId);
    for (const ev of events) {
      if (ev.type === 'claude_init') {
        t ??= this.track(runId);
        t.session = ev.sessionId;
      } else if (ev.type === 'claude_result') {
        t ??= this.track(runId);
        const cost = ev.costUsd;
        const previous = t.totals.get(t.session) ?? 0;
        if (cost !== null) t.totals.set(t.session, cost);
        const total = [...t.totals.values()].reduce((a, b) => a + b, 0);
        const budget = ev.subtype === 'error_max_budget_usd';
        this.set(runId, (s) => ({
          ...s,
          costUsd: cost === null ? s.costUsd : total,
          lastTurnCostUsd: cost === null ? s.lastTurnCostUsd : Math.max(0, cost - previous),
          retrying: null,
          stopped: budget ? 'budget' : s.stopped,
        }));
      } else if (ev.type === 'claude_system' && ev.subtype === 'api_retry') {
        const r = apiRetryOf(ev.raw);
        if (!r || r.attempt < RETRY_ALERT_AFTER) continue;
        const run = this.o.runs.get(runId);
        const first = !run?.claude?.retrying;
        this.set(runId, (s) => ({ ...s, retrying: { attempt: r.attempt, maxRetries: r.maxRetries, error: apiErrorPhrase(r), since: s.retrying?.since ?? this.o.now() } }));
        if (first) this.o.onRetrying(runId, r);
      } else if (ev.type === 'claude_text' || ev.type === 'claude_tool_use' || ev.type === 'claude_thinking') {
        // Claude got an answer from the API: the retrying is over.
        if (this.o.runs.get(runId)?.claude?.retrying) this.set(runId, (s) => ({ ...s, retrying: null }));
      }
    }
  }

  /** Forget a run once it ended (its summary keeps the figures). */
  onRunEnded(runId: string): void {
    this.tracked.delete(runId);
  }

  private track(runId: string): Tracked {
    const t: Tracked = { session: null, totals: new Map() };
    this.tracked.set(runId, t);
    return t;
  }

  private set(runId: string, patch: (s: ClaudeRunState) => ClaudeRunState): void {
    this.o.runs.setClaude(runId, patch).catch((err: unknown) => this.o.log.warn('run.claude_state_failed', { run: runId, err: String(err).slice(0, 300) }));
  }
}

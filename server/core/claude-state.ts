import { RETRY_ALERT_AFTER, type ClaudeRunState } from '../../protocol/claude-run-state.js';
import { apiErrorPhrase, apiRetryOf, type ApiRetry } from '../../protocol/claude-system.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import type { Logger } from '../log.js';
import type { RunService } from './runs.js';

interface Tracked {
  /** The session the run's latest events belong to. */
  session: string | null;
  /** Each session's last reported total, at most MAX_SESSIONS of them (the first seen go first). */
  totals: Map<string | null, number>;
  /** The totals of the sessions dropped from `totals`. */
  dropped: number;
}

/**
 * Sessions a run's cost is tracked for one by one. Claude Code starts one per `--resume`; a run
 * with more is a hostile runner's, whose own cost figure is all it can spoil: a session past this
 * is dropped from `totals` with its total kept in `dropped` (were it to report again, it would
 * count twice).
 */
const MAX_SESSIONS = 1000;

type Patch = (s: ClaudeRunState) => ClaudeRunState;

/**
 * Keeps each run's `claude` summary (protocol/claude-run-state.ts) from its committed events: the
 * cost so far (Claude Code reports a running total per session; a run's cost is the sum of its
 * sessions' last totals) and the last turn's share, the "Claude is retrying" state (after
 * RETRY_ALERT_AFTER `api_retry` lines in a row, cleared by the next thing Claude writes), and a
 * stop for the spending limit. A run entering the retrying state is announced once per streak
 * through `onRetrying` (the notifier). The events of one chunk change the run's record once:
 * a runner that packed thousands of results into its chunks had every one rewrite the record,
 * tell every watcher and re-add every session's cost.
 */
export class ClaudeStateService {
  private readonly tracked = new Map<string, Tracked>();

  constructor(private readonly o: { runs: RunService; log: Logger; now: () => number; onRetrying: (runId: string, r: ApiRetry) => void }) {}

  onEvents(runId: string, events: readonly RunnerEvent[]): void {
    let t = this.tracked.get(runId);
    const patches: Patch[] = [];
    // Whether the run is retrying as the patches so far leave it.
    let retrying = Boolean(this.o.runs.get(runId)?.claude?.retrying);
    let costChanged = false;
    for (const ev of events) {
      if (ev.type === 'claude_init') {
        t ??= this.track(runId);
        t.session = ev.sessionId;
      } else if (ev.type === 'claude_result') {
        t ??= this.track(runId);
        const cost = ev.costUsd;
        const previous = t.totals.get(t.session) ?? 0;
        if (cost !== null) {
          t.totals.set(t.session, cost);
          if (t.totals.size > MAX_SESSIONS) {
            const [oldest, total] = t.totals.entries().next().value!;
            t.dropped += total;
            t.totals.delete(oldest);
          }
          costChanged = true;
        }
        const budget = ev.subtype === 'error_max_budget_usd';
        patches.push((s) => ({
          ...s,
          lastTurnCostUsd: cost === null ? s.lastTurnCostUsd : Math.max(0, cost - previous),
          retrying: null,
          stopped: budget ? 'budget' : s.stopped,
        }));
        retrying = false;
      } else if (ev.type === 'claude_system' && ev.subtype === 'api_retry') {
        const r = apiRetryOf(ev.raw);
        if (!r || r.attempt < RETRY_ALERT_AFTER) continue;
        patches.push((s) => ({ ...s, retrying: { attempt: r.attempt, maxRetries: r.maxRetries, error: apiErrorPhrase(r), since: s.retrying?.since ?? this.o.now() } }));
        if (!retrying) this.o.onRetrying(runId, r);
        retrying = true;
      } else if (ev.type === 'claude_text' || ev.type === 'claude_tool_use' || ev.type === 'claude_thinking') {
        // Claude got an answer from the API: the retrying is over.
        if (retrying) patches.push((s) => ({ ...s, retrying: null }));
        retrying = false;
      }
    }
    if (costChanged) {
      // Summed once for the chunk, however many results it holds.
      let total = t!.dropped;
      for (const v of t!.totals.values()) total += v;
      patches.push((s) => ({ ...s, costUsd: total }));
    }
    if (patches.length > 0) this.set(runId, (s) => patches.reduce((state, patch) => patch(state), s));
  }

  /** Forget a run once it ended (its summary keeps the figures). */
  onRunEnded(runId: string): void {
    this.tracked.delete(runId);
  }

  private track(runId: string): Tracked {
    const t: Tracked = { session: null, totals: new Map(), dropped: 0 };
    this.tracked.set(runId, t);
    return t;
  }

  private set(runId: string, patch: Patch): void {
    this.o.runs.setClaude(runId, patch).catch((err: unknown) => this.o.log.warn('run.claude_state_failed', { run: runId, err: String(err).slice(0, 300) }));
  }
}

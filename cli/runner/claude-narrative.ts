import type { ClaudeEnded } from '../../protocol/claude-narrative-events.js';
import { claudePreflight } from './claude-preflight.js';
import type { DriverIO } from './driver.js';

/**
 * The parts of driving Claude (claude.ts) that keep the run's story readable: the check before
 * Claude starts, the spending limit on its command line, and saying so when it dies mid-turn.
 */

/**
 * Runs the preflight (claude-preflight.ts), then `spawn`; a problem ends the run at once as a
 * child that could not start (the run fails with the sentence as its reason).
 */
export function startAfterPreflight(o: { argv: string[]; env: NodeJS.ProcessEnv; cwd: string }, io: DriverIO, spawn: () => void): void {
  claudePreflight(o.argv[0]!, o.env, o.cwd).then(
    (problem) => {
      if (problem === null) return spawn();
      io.exited(null, null, problem); // the runner prints it as the run's end
    },
    () => spawn(),
  );
}

/**
 * Claude's argv with `--max-budget-usd` for the gateway's limit. When the runner's owner gave one
 * too (--claude-arg=--max-budget-usd …), the lower of the two is used: the gateway can tighten the
 * owner's limit, never raise it.
 */
export function claudeArgsWithBudget(argv: string[], gatewayUsd: number | null, io: Pick<DriverIO, 'status'>): string[] {
  if (gatewayUsd === null) return argv;
  let owner: number | null = null;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--max-budget-usd' && i + 1 < argv.length) {
      owner = Number(argv[++i]);
      continue;
    }
    if (a.startsWith('--max-budget-usd=')) {
      owner = Number(a.slice('--max-budget-usd='.length));
      continue;
    }
    rest.push(a);
  }
  const limit = owner !== null && Number.isFinite(owner) && owner > 0 ? Math.min(owner, gatewayUsd) : gatewayUsd;
  io.status(`spending limit for Claude: $${limit}${owner !== null ? ` (the lower of this runner's $${owner} and the gateway's $${gatewayUsd})` : ' (set on the gateway)'}`);
  return [...rest, '--max-budget-usd', String(limit)];
}

/** The event for Claude ending while turns were still under way. */
export function endedMidTurn(code: number | null, signal: NodeJS.Signals | null, unfinishedTurns: number): ClaudeEnded {
  return { type: 'claude_ended', code, signal, unfinishedTurns };
}

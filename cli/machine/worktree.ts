import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from '../exit-codes.js';
import type { MachineConfig } from './config.js';

/** Where run `runId`'s worktree lives: under the daemon's state directory, never inside the repository. */
export function worktreePath(stateDir: string, runId: string): string {
  return join(stateDir, 'worktrees', runId);
}

function git(cwd: string, args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

/**
 * A fresh checkout for one run: `git worktree add -b ccg/<run-id>` from the repository's HEAD.
 * Several Claude runs can then work on one repository at once, each on its own branch.
 */
export function addWorktree(stateDir: string, repo: string, runId: string): string {
  const path = worktreePath(stateDir, runId);
  mkdirSync(join(stateDir, 'worktrees'), { recursive: true, mode: 0o700 });
  try {
    git(repo, ['worktree', 'add', '-q', '-b', `ccg/${runId}`, path, 'HEAD']);
  } catch (err) {
    const e = err as { stderr?: string };
    throw new CliError(`could not make a git worktree for the run: ${(e.stderr ?? String(err)).trim().slice(0, 300)}`);
  }
  return path;
}

/**
 * The cleanup policy: a run's worktree is kept after the run ends (its branch holds Claude's
 * work, and Continue resumes Claude there) until `worktreeKeepHours` have passed since the run
 * ended; then it is removed with `git worktree remove` — which refuses a checkout with
 * uncommitted changes, so those are kept and reported. The branch `ccg/<run-id>` is never deleted.
 */
export function pruneWorktrees(stateDir: string, runs: { runId: string; dir: string; worktree: boolean; endedAt: number | null; workspace: string }[], config: MachineConfig, status: (line: string) => void, now = Date.now()): string[] {
  const removed: string[] = [];
  const keepMs = config.worktreeKeepHours * 3600_000;
  for (const r of runs) {
    if (!r.worktree || r.endedAt === null || now - r.endedAt < keepMs) continue;
    const path = worktreePath(stateDir, r.runId);
    if (!existsSync(path) || !statSync(path).isDirectory()) continue;
    // A continued run reuses its predecessor's checkout: still in use while any run working there lives.
    if (runs.some((o) => o.dir === path && o.endedAt === null)) continue;
    const repo = config.workspaces.get(r.workspace)?.dir;
    if (!repo) continue;
    try {
      git(repo, ['worktree', 'remove', path]);
      removed.push(r.runId);
      status(`removed the worktree of run ${r.runId} (branch ccg/${r.runId} kept)`);
    } catch (err) {
      status(`kept the worktree of run ${r.runId}: ${((err as { stderr?: string }).stderr ?? String(err)).trim().slice(0, 200)}`);
    }
  }
  return removed;
}

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadMachineConfig } from '../../cli/machine/config.js';
import { addWorktree, pruneWorktrees, worktreePath } from '../../cli/machine/worktree.js';
import { newRunId } from '../../protocol/ids.js';
import { tempDir } from '../helpers/gateway.js';
import { gitWorkspace } from '../helpers/workspace.js';

test('worktrees: one per run on ccg/<run-id>; removed when their run ended long enough ago, unless dirty or still in use; branches kept', () => {
  const repo = realpathSync(gitWorkspace({ 'README': 'hello\n' }));
  const state = tempDir('ccg-wt-state-');
  const file = join(tempDir('ccg-wt-cfg-'), 'machine.json');
  writeFileSync(file, JSON.stringify({ worktreeKeepHours: 1, workspaces: { app: { dir: repo, worktree: true } } }));
  const config = loadMachineConfig(file);
  const [old, dirty, recent, reused] = [newRunId(), newRunId(), newRunId(), newRunId()];
  for (const id of [old, dirty, recent, reused]) {
    const path = addWorktree(state, repo, id);
    assert.equal(path, worktreePath(state, id));
    assert.equal(execFileSync('git', ['rev-parse', '--abbrev-ref', 'HEAD'], { cwd: path, encoding: 'utf8' }).trim(), `ccg/${id}`);
  }
  writeFileSync(join(worktreePath(state, dirty), 'README'), 'changed\n');
  const now = Date.now();
  const long = now - 2 * 3600_000;
  const rec = (runId: string, endedAt: number | null, dir = worktreePath(state, runId)) => ({ runId, dir, worktree: true, endedAt, workspace: 'app' });
  const lines: string[] = [];
  const removed = pruneWorktrees(state, [rec(old, long), rec(dirty, long), rec(recent, now - 60_000), rec(reused, long), rec(newRunId(), null, worktreePath(state, reused))], config, (l) => lines.push(l), now);
  assert.deepEqual(removed, [old]);
  assert.ok(!existsSync(worktreePath(state, old)));
  assert.ok(existsSync(worktreePath(state, dirty)) && lines.some((l) => l.includes(`kept the worktree of run ${dirty}`)), 'uncommitted changes are kept, and said so');
  assert.ok(existsSync(worktreePath(state, recent)), 'a recent one is kept');
  assert.ok(existsSync(worktreePath(state, reused)), 'a checkout a continued run still works in is kept');
  assert.match(execFileSync('git', ['branch', '--list', `ccg/${old}`], { cwd: repo, encoding: 'utf8' }), new RegExp(`ccg/${old}`), 'the branch stays');
});

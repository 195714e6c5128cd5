import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './gateway.js';

export const GIT_ENV = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.invalid', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.invalid' };

/** A temp git work tree with the given files committed. */
export function gitWorkspace(files: Record<string, string> = { 'README': 'hello\n' }): string {
  const ws = tempDir('ccg-ws-');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(ws, name), text);
  for (const args of [['init', '-q'], ['add', '.'], ['commit', '-q', '-m', 'first']]) {
    const r = spawnSync('git', args, { cwd: ws, env: { ...process.env, ...GIT_ENV } });
    assert.equal(r.status, 0, r.stderr.toString());
  }
  return ws;
}

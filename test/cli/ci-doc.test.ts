import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { RunSummary } from '../../protocol/run.js';
import { claudeBinary, claudeEnv } from '../helpers/claude.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { startModelApi, type ModelStep } from '../helpers/model-api.js';
import { CCG_BIN } from '../helpers/processes.js';
import { gitWorkspace } from '../helpers/workspace.js';

/**
 * docs/CI.md's shell script, run as written: real `ccg` commands on PATH against a real gateway,
 * the real `claude` against the model stand-in. It must exit with the run's exit code.
 */

const DOC = fileURLToPath(new URL('../../../docs/CI.md', import.meta.url));
const hasJq = spawnSync('jq', ['--version']).status === 0;

/** The first ```bash block after the heading. */
function scriptAfter(heading: string): string {
  const doc = readFileSync(DOC, 'utf8');
  const at = doc.indexOf(heading);
  assert.ok(at >= 0, `docs/CI.md has "${heading}"`);
  const m = /```bash\n([\s\S]*?)```/.exec(doc.slice(at));
  assert.ok(m, 'a bash block');
  return m[1]!;
}

async function runScript(steps: ModelStep[]): Promise<{ code: number | null; stdout: string; stderr: string; run: RunSummary }> {
  const g = await startGateway();
  const api = await startModelApi(steps);
  try {
    const dir = tempDir('ccg-ci-doc-');
    const bin = join(dir, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'ccg'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CCG_BIN)} "$@"\n`);
    writeFileSync(join(bin, 'claude'), `#!/bin/sh\nexec ${JSON.stringify(claudeBinary())} "$@"\n`);
    for (const f of ['ccg', 'claude']) chmodSync(join(bin, f), 0o755);
    const script = join(dir, 'ci.sh');
    writeFileSync(script, scriptAfter('## The same in a shell script'));
    const ws = gitWorkspace({ 'src.txt': 'one\n' });
    const env = { ...claudeEnv(api.url), PATH: `${bin}:${process.env['PATH']}`, CCG_GATEWAY: g.url, CCG_TOKEN: g.operatorToken, CCG_FINGERPRINT: g.fingerprint };
    const child = spawn('bash', [script], { cwd: ws, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    const run = g.gw.runs.list({ limit: 1 })[0]!;
    return { code, stdout, stderr, run };
  } finally {
    await api.close();
    await g.close();
  }
}

test('docs/CI.md: the shell script exits with the run\u2019s exit code (0, then 1 for a failing Claude run)', { skip: hasJq ? false : 'jq is not installed' }, async () => {
  const ok = await runScript([{ text: 'Refactored.' }]);
  assert.equal(ok.code, 0, `${ok.stdout}\n${ok.stderr}`);
  assert.match(ok.stderr + ok.stdout, /run [0-9a-z]{12} succeeded/);
  assert.equal(ok.run.status, 'exited');

  const failed = await runScript([{ httpError: { status: 400, type: 'invalid_request_error', message: 'prompt is too long' } }]);
  assert.equal(failed.run.exitCode, 1, 'claude exits 1 when the API refuses');
  assert.equal(failed.code, 1, `${failed.stdout}\n${failed.stderr}`);
  assert.match(failed.stderr, /failed with exit code 1/);
});

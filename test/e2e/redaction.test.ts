import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { spawnCcg } from '../helpers/processes.js';

test('a secret printed by the child never reaches the gateway, even split across writes', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const ghp = 'ghp_' + 'Zx9Qw8Er7T'.repeat(4);
  // The child writes half a token, pauses, writes the rest; prints an env secret and the run token it was never given.
  const script = [
    `printf 'token: ${ghp.slice(0, 9)}'`,
    'sleep 0.1',
    `printf '${ghp.slice(9)} done\\n'`,
    'echo "db=$DB_PASSWORD"',
    `echo "leak ${c.token}"`,
    'echo "env token=$CCG_RUN_TOKEN."',
  ].join('; ');
  const runner = spawnCcg(['runner', 'start', '--run-id', c.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--quiet', '--spool-dir', tempDir(), '--', 'sh', '-c', script], {
    CCG_RUN_TOKEN: c.token,
    DB_PASSWORD: 'correct-horse-battery',
  });
  const { code } = await runner.exited;
  assert.equal(code, 0, runner.stderr());
  const logs = (await runCli(['runs', 'logs', c.id], g.env)).stdout;
  assert.equal(logs, 'token: [REDACTED:github] done\ndb=[REDACTED:env:DB_PASSWORD]\nleak [REDACTED:ccg-token]\nenv token=.\n');
});

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { CommandsResponse, CreateRunResponse } from '../../protocol/api.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import type { AuditEntry } from '../../server/store/types.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { gitWorkspace } from '../helpers/workspace.js';

function audit(g: TestGateway): Promise<AuditEntry[]> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL('/api/v1/audit', g.url), { agent: new PinnedAgent(g.fingerprint), headers: { authorization: `Bearer ${g.operatorToken}` } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve((JSON.parse(Buffer.concat(parts).toString()) as { entries: AuditEntry[] }).entries));
    });
    req.on('error', reject);
    req.end();
  });
}

test('ccg runs commands / exec: list, stream the output, exit with the code, refusals and roles, all audited', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const ws = gitWorkspace({ 'a.txt': 'one\n' });
  writeFileSync(join(ws, 'a.txt'), 'two\n');
  const allowlist = join(tempDir('ccg-conf-'), 'allow.json');
  writeFileSync(allowlist, JSON.stringify({
    commands: [
      { name: 'test', argv: ['sh', '-c', 'echo "3 tests"; echo "1 failed" >&2; exit 4'], description: 'Run the tests' },
      { name: 'show', argv: ['git', 'show', '{rev}:a.txt'], params: { rev: { pattern: '[A-Za-z0-9~^]{1,40}' } } },
      { name: 'slow', argv: ['sleep', '30'], timeout: '1s' },
      { name: 'killed', argv: ['sh', '-c', 'kill -TERM $$'] },
    ],
  }));
  // A command file inside the workspace would be Claude's to edit: refused.
  writeFileSync(join(ws, 'allow.json'), '{"commands":[]}');
  const inside = await runCli(['runner', 'start', '--run-id', c.id, '--gateway', g.url, '--cwd', ws, '--allowlist', join(ws, 'allow.json'), '--', 'true'], { CCG_RUN_TOKEN: c.token });
  assert.equal(inside.code, 1);
  assert.match(inside.stderr, /inside the workspace/);

  const runner = spawnCcg(
    ['runner', 'start', '--run-id', c.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', ws, '--quiet', '--no-collect', '--spool-dir', tempDir(), '--allowlist', allowlist, '--allow', 'status=git status --porcelain', '--', 'sh', '-c', 'i=0; while [ ! -f stop ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done'],
    { CCG_RUN_TOKEN: c.token },
  );
  t.after(() => void (runner.child.exitCode === null && runner.child.kill('SIGKILL')));
  await waitFor(async () => ((JSON.parse((await runCli(['runs', 'commands', c.id, '--json'], g.env)).stdout) as CommandsResponse).connected ? true : undefined), 15_000, 'the runner');

  const list = JSON.parse((await runCli(['runs', 'commands', c.id, '--json'], g.env)).stdout) as CommandsResponse;
  assert.deepEqual(list.commands.map((x) => x.name), ['test', 'show', 'slow', 'killed', 'status']);
  assert.deepEqual(list.commands[1]!.params, [{ name: 'rev', pattern: '[A-Za-z0-9~^]{1,40}' }]);
  assert.ok(!JSON.stringify(list).includes('sh -c') && !JSON.stringify(list).includes('"argv"'), 'names and patterns, never argv');
  const human = await runCli(['runs', 'commands', c.id], g.env);
  assert.match(human.stdout, /^test +- +600s +Run the tests$/m);

  const testRun = await runCli(['runs', 'exec', c.id, 'test', '--wait'], g.env);
  assert.equal(testRun.code, 4, testRun.stderr);
  assert.equal(testRun.stdout, '3 tests\n1 failed\n');

  const show = await runCli(['runs', 'exec', c.id, 'show', 'rev=HEAD', '--wait', '--json'], g.env);
  assert.equal(show.code, 0, show.stdout + show.stderr);
  const lines = show.stdout.trim().split('\n').map((l) => JSON.parse(l) as { text?: string; exit?: { code: number } });
  assert.equal(lines.filter((l) => l.text).map((l) => l.text).join(''), 'one\n');
  assert.equal(lines.at(-1)?.exit?.code, 0);

  const status = await runCli(['runs', 'exec', c.id, 'status', '--wait'], g.env);
  assert.equal(status.stdout, ' M a.txt\n?? allow.json\n');

  const slow = await runCli(['runs', 'exec', c.id, 'slow', '--wait'], g.env);
  assert.equal(slow.code, 124);
  assert.match(slow.stderr, /timed out on the runner/);
  const killed = await runCli(['runs', 'exec', c.id, 'killed', '--wait'], g.env);
  assert.equal(killed.code, 128 + 15, 'a signal exits 128 + N');

  // The runner refuses what its own patterns refuse, even though the gateway passed it on.
  const refused = await runCli(['runs', 'exec', c.id, 'show', 'rev=--output=/tmp/x', '--wait'], g.env);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /the runner refused show: rev: values may not start with "-"/);
  // The gateway refuses names the runner never advertised, and missing parameters.
  const unknown = await runCli(['runs', 'exec', c.id, 'rm', '--wait'], g.env);
  assert.equal(unknown.code, 66);
  assert.match(unknown.stderr, /does not offer a command named "rm"/);
  const noParam = await runCli(['runs', 'exec', c.id, 'show', '--wait'], g.env);
  assert.equal(noParam.code, 1);
  assert.match(noParam.stderr, /needs the parameter "rev"/);

  // Viewers may list but not run.
  const viewer = await createApiToken(g.gw.store, { name: 'viewer', role: 'viewer', userId: null, now: Date.now() });
  assert.equal((await runCli(['runs', 'commands', c.id], { ...g.env, CCG_TOKEN: viewer.token })).code, 0);
  const denied = await runCli(['runs', 'exec', c.id, 'test', '--wait'], { ...g.env, CCG_TOKEN: viewer.token });
  assert.equal(denied.code, 77);
  assert.match(denied.stderr, /policy does not let the viewer role run "test"/);

  writeFileSync(join(ws, 'stop'), '');
  assert.equal((await runner.exited).code, 0);
  const away = await runCli(['runs', 'exec', c.id, 'test', '--wait'], g.env);
  assert.equal(away.code, 1);
  assert.match(away.stderr, /has ended \(exited\)/);

  const entries = (await audit(g)).filter((e) => e.target === c.id);
  const count = (action: string) => entries.filter((e) => e.action === action).length;
  assert.equal(count('command.request'), 6, 'every request the gateway passed on');
  assert.equal(count('command.exit'), 5);
  assert.equal(count('command.refused'), 1);
  assert.equal(count('command.denied'), 1);
  assert.ok(entries.some((e) => e.action === 'command.exit' && e.detail?.['name'] === 'slow' && e.detail?.['timedOut'] === true));
});

import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';

interface Doctor {
  ok: boolean;
  checks: { name: string; level: string; detail: string }[];
}

test('doctor reports node, the native uWS build, data dir, certificate and claude', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const bin = tempDir();
  writeFileSync(`${bin}/claude`, '#!/bin/sh\necho "2.1.331 (Claude Code)"\n');
  chmodSync(`${bin}/claude`, 0o755);
  const r = await runCli(['doctor', '--data', g.dataDir, '--json'], { PATH: `${bin}:${process.env['PATH']}` });
  assert.equal(r.code, 0, r.stdout);
  const d = JSON.parse(r.stdout) as Doctor;
  const by = Object.fromEntries(d.checks.map((c) => [c.name, c]));
  assert.equal(by['node']!.level, 'ok');
  assert.match(by['uWebSockets.js']!.detail, /native build/);
  assert.match(by['data dir']!.detail, /mode 0700/);
  assert.equal(by['certificate']!.detail.split(',')[0], g.fingerprint);
  assert.match(by['claude']!.detail, /2\.1\.331/);

  // A secret file readable by others fails the check; a missing claude is a warning.
  chmodSync(`${g.dataDir}/operator.token`, 0o644);
  const bad = await runCli(['doctor', '--data', g.dataDir, '--json'], { PATH: '/nonexistent', CCG_CLAUDE_BIN: '/nonexistent/claude' });
  assert.equal(bad.code, 1);
  const bd = JSON.parse(bad.stdout) as Doctor;
  assert.equal(bd.checks.find((c) => c.name === 'operator.token')?.level, 'fail');
  assert.equal(bd.checks.find((c) => c.name === 'claude')?.level, 'warn');
});

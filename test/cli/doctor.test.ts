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

test('doctor checks git, tmate and cloudflared, and the clock against a gateway', async (t) => {
  const { writeCloudflaredStandin } = await import('../helpers/standins.js');
  const bin = tempDir();
  writeCloudflaredStandin(bin);
  writeFileSync(`${bin}/tmate`, '#!/bin/sh\n[ "$1" = "-V" ] && echo "tmate 2.4.0"\n');
  chmodSync(`${bin}/tmate`, 0o755);
  const g = await startGateway();
  t.after(() => g.close());
  const ahead = await startGateway({ now: () => Date.now() + 400_000 });
  t.after(() => ahead.close());
  const drift = await startGateway({ now: () => Date.now() - 90_000 });
  t.after(() => drift.close());
  const env = { PATH: `${bin}:${process.env['PATH']}`, CCG_CLAUDE_BIN: '/nonexistent/claude' };
  const run = async (extra: Record<string, string>) => {
    const r = await runCli(['doctor', '--data', tempDir(), '--json'], { ...env, ...extra });
    return { code: r.code, by: Object.fromEntries((JSON.parse(r.stdout) as Doctor).checks.map((c) => [c.name, c])) };
  };

  const okRun = await run({ CCG_GATEWAY: g.url, CCG_FINGERPRINT: g.fingerprint });
  assert.equal(okRun.code, 0);
  assert.match(okRun.by['git']!.detail, /^git version /);
  assert.equal(okRun.by['tmate']!.detail, 'tmate 2.4.0');
  assert.match(okRun.by['cloudflared']!.detail, /^cloudflared version 2025\.11\.1/);
  assert.equal(okRun.by['clock']!.level, 'ok');
  assert.match(okRun.by['clock']!.detail, new RegExp(`within 1 s of ${g.url}`));

  const warn = await run({ CCG_GATEWAY: drift.url, CCG_FINGERPRINT: drift.fingerprint });
  assert.equal(warn.by['clock']!.level, 'warn');
  assert.match(warn.by['clock']!.detail, /^9\d s ahead of .*drifting/);

  const bad = await run({ CCG_GATEWAY: ahead.url, CCG_FINGERPRINT: ahead.fingerprint });
  assert.equal(bad.code, 1);
  assert.equal(bad.by['clock']!.level, 'fail');
  assert.match(bad.by['clock']!.detail, /^40\d s behind .*signed requests will be refused/);

  const none = await run({ PATH: '/nonexistent' });
  for (const tool of ['git', 'tmate', 'cloudflared']) assert.equal(none.by[tool]!.level, 'warn', tool);
  assert.match(none.by['tmate']!.detail, /--assist/);
  assert.equal(none.by['clock'], undefined, 'no gateway configured: no clock check');
  const unreachable = await run({ CCG_GATEWAY: 'https://127.0.0.1:1' });
  assert.equal(unreachable.by['clock']!.level, 'warn');
  assert.match(unreachable.by['clock']!.detail, /cannot reach/);
});

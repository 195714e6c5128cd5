import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { HealthResponse, StoreHealthResponse } from '../../protocol/api.js';
import { LmdbStore } from '../../server/store/lmdb-store.js';
import type { Store, StoreHealth } from '../../server/store/types.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';

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

test('doctor checks the gateway, the pin, the token and its role, the saved login; a missing pin is not a clock problem', async (t) => {
  const { saveConfig } = await import('../../cli/config.js');
  const g = await startGateway();
  t.after(() => g.close());
  const noTools = { PATH: '/nonexistent', CCG_CLAUDE_BIN: '/nonexistent/claude' };
  const run = async (env: Record<string, string>) => {
    const r = await runCli(['doctor', '--data', tempDir(), '--json'], { ...noTools, XDG_CONFIG_HOME: tempDir(), ...env });
    const d = JSON.parse(r.stdout) as Doctor;
    return { code: r.code, ok: d.ok, by: Object.fromEntries(d.checks.map((c) => [c.name, c])) };
  };

  const good = await run(g.env);
  assert.equal(good.code, 0, JSON.stringify(good.by));
  assert.equal(good.by['gateway']!.level, 'ok');
  assert.equal(good.by['pin']!.level, 'ok');
  assert.match(good.by['pin']!.detail, new RegExp(g.fingerprint));
  assert.equal(good.by['token']!.level, 'ok');
  assert.match(good.by['token']!.detail, /^accepted: .*role admin/);
  assert.equal(good.by['clock']!.level, 'ok');
  assert.match(good.by['login']!.detail, /^none saved/);

  const badToken = await run({ ...g.env, CCG_TOKEN: 'ccgo_' + 'x'.repeat(43) });
  assert.equal(badToken.code, 77);
  assert.equal(badToken.by['token']!.level, 'fail');
  assert.match(badToken.by['token']!.detail, /^refused: ERR_UNAUTHORIZED/);

  const wrongPin = await run({ ...g.env, CCG_FINGERPRINT: 'sha256:' + '0'.repeat(64) });
  assert.equal(wrongPin.code, 76);
  assert.equal(wrongPin.by['pin']!.level, 'fail');
  assert.match(wrongPin.by['pin']!.detail, new RegExp(`certificate is ${g.fingerprint}, not the pinned sha256:0{64}`));
  assert.match(wrongPin.by['token']!.detail, /token was not sent/);

  const noPin = await run({ CCG_GATEWAY: g.url, CCG_TOKEN: g.operatorToken });
  assert.equal(noPin.code, 76);
  assert.equal(noPin.by['pin']!.level, 'fail');
  assert.match(noPin.by['pin']!.detail, new RegExp(`It is ${g.fingerprint}: if \`ccg serve\` printed that, pass --fingerprint`));
  assert.equal(noPin.by['clock']!.level, 'ok', 'the clock is fine: a missing pin is not a clock problem');
  assert.equal(noPin.by['token']!.level, 'warn');

  const down = await run({ CCG_GATEWAY: 'https://127.0.0.1:1', CCG_TOKEN: g.operatorToken });
  assert.equal(down.code, 69);
  assert.equal(down.by['gateway']!.level, 'fail');
  assert.match(down.by['gateway']!.detail, /cannot reach https:\/\/127\.0\.0\.1:1: ECONNREFUSED/);

  // The saved login is used when nothing else names a gateway, and reported.
  const config = tempDir();
  saveConfig({ XDG_CONFIG_HOME: config }, { gateway: g.url, fingerprint: g.fingerprint, token: g.operatorToken, user: { name: 'ana', role: 'admin' } });
  const saved = await run({ XDG_CONFIG_HOME: config });
  assert.equal(saved.code, 0, JSON.stringify(saved.by));
  assert.match(saved.by['login']!.detail, new RegExp(`^ana \\(admin\\) on ${g.url}, pinned$`));
  assert.equal(saved.by['token']!.level, 'ok');
  const elsewhere = await run({ XDG_CONFIG_HOME: config, CCG_GATEWAY: 'https://127.0.0.1:1' });
  assert.match(elsewhere.by['login']!.detail, /not used for https:\/\/127\.0\.0\.1:1, a different gateway/);
  assert.notEqual(elsewhere.by['token']?.level, 'ok');
});

test('doctor shows what other programs and the gateway say without their terminal escapes', async () => {
  const bin = tempDir();
  // A `claude` and a `tmate` that answer --version with escapes: a title set, colours, a C1 CSI, a bidi override.
  writeFileSync(`${bin}/claude`, "#!/bin/sh\nprintf '\\033]0;pwned\\007 2.1.331 \\033[31mred\\033[0m \\302\\2332J \\342\\200\\256evil\\n'\n");
  writeFileSync(`${bin}/tmate`, "#!/bin/sh\nprintf 'tmate \\033[2J2.4\\n'\n");
  chmodSync(`${bin}/claude`, 0o755);
  chmodSync(`${bin}/tmate`, 0o755);
  const r = await runCli(['doctor', '--data', tempDir()], { CCG_CLAUDE_BIN: `${bin}/claude`, CCG_TMATE_BIN: `${bin}/tmate` });
  const claude = r.stdout.split('\n').find((l) => / claude /.test(l)) ?? '';
  assert.match(claude, /2\.1\.331 red/, r.stdout);
  assert.match(r.stdout, /tmate 2\.4/);
  assert.doesNotMatch(r.stdout, /[\u001b\u009b\u202e]/, 'no escape or bidi control reaches the terminal');
});

test("/healthz and /readyz say whether the store takes writes, /api/v1/health gives its report to signed-in users, and doctor fails on it, without escapes", async (t) => {
  const dataDir = tempDir();
  const inner = LmdbStore.open(dataDir);
  assert.deepEqual({ ...inner.health(), detail: '' }, { ok: true, kind: 'lmdb', detail: '' });
  let report: StoreHealth | null = null; // null: the LMDB store's own
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'health') return () => report ?? target.health();
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as Store;
  const g = await startGateway({ dataDir, store });
  t.after(() => g.close());
  const doctor = async (withToken = true) => {
    const env: Record<string, string> = { ...g.env, CCG_CLAUDE_BIN: '/nonexistent/claude' };
    if (!withToken) delete env['CCG_TOKEN'];
    const r = await runCli(['doctor', '--data', tempDir(), '--json'], env);
    const by = Object.fromEntries((JSON.parse(r.stdout) as Doctor).checks.map((c) => [c.name, c]));
    return { code: r.code, store: by['store']!, gateway: by['gateway']! };
  };

  const live = await request(g, 'GET', '/healthz');
  assert.equal(live.status, 200);
  assert.deepEqual(HealthResponse.parse(live.json).store, { ok: true, kind: 'lmdb' });
  assert.ok(!live.text.includes(dataDir), 'no file path on the public endpoint');
  assert.equal((await request(g, 'GET', '/readyz')).status, 200);
  assert.equal((await request(g, 'GET', '/api/v1/health')).status, 401, 'the report is for signed-in users');
  const full = StoreHealthResponse.parse((await request(g, 'GET', '/api/v1/health', { token: g.operatorToken })).json);
  assert.equal(full.store.detail, `LMDB in ${join(dataDir, 'db')}`);
  const good = await doctor();
  assert.equal(good.code, 0);
  assert.deepEqual([good.store.level, good.store.detail], ['ok', `lmdb: LMDB in ${join(dataDir, 'db')}`]);

  // A clustered node cut off from NATS (the report is the store's own words).
  report = {
    ok: false,
    kind: 'jetstream',
    detail: '\u001b]0;pwned\u0007NATS unreachable (\u001b[2Jconnection refused): writes are refused',
    cluster: { nodeId: 'n-1234abcd', server: null, servers: ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222'], name: 'ccg', replicas: 3, degraded: ['CCG_OUT'] },
  };
  const down = await request(g, 'GET', '/healthz');
  assert.equal(down.status, 200, 'still alive: pages and reads are served');
  assert.deepEqual(HealthResponse.parse(down.json).store, { ok: false, kind: 'jetstream' });
  assert.ok(!down.text.includes('10.0.0.1'), 'no NATS address on the public endpoint');
  const notReady = await request(g, 'GET', '/readyz');
  assert.equal(notReady.status, 503, 'a load balancer takes this node out');
  assert.equal(HealthResponse.parse(notReady.json).ok, false);
  assert.deepEqual(StoreHealthResponse.parse((await request(g, 'GET', '/api/v1/health', { token: g.operatorToken })).json).store, report);
  const bad = await doctor();
  assert.equal(bad.code, 1, 'doctor fails');
  assert.equal(bad.gateway.level, 'ok', 'the gateway itself answers');
  assert.equal(bad.store.level, 'fail');
  assert.match(bad.store.detail, /^takes no writes: jetstream: .*NATS unreachable \(.*connection refused\): writes are refused; node n-1234abcd, NATS none \(2 known\), cluster ccg, R3, 1 stream\(s\) or bucket\(s\) not fully current$/);
  const anonymous = await doctor(false);
  assert.deepEqual([anonymous.code, anonymous.store.level, anonymous.store.detail], [1, 'fail', 'takes no writes: jetstream']);
  const human = await runCli(['doctor', '--data', tempDir()], { ...g.env, CCG_CLAUDE_BIN: '/nonexistent/claude' });
  assert.equal(human.code, 1);
  assert.match(human.stdout, /^fail {2}store {11}takes no writes: jetstream: /m);
  assert.doesNotMatch(human.stdout, /[\u001b\u0007\u009b]/, 'no escape from the report reaches the terminal');

  // Recovered.
  report = null;
  assert.equal((await request(g, 'GET', '/readyz')).status, 200);
  assert.equal((await doctor()).code, 0);
});

test('doctor given a cluster\'s nodes checks each one: its store, its own pin', async (t) => {
  const healthy = await startGateway();
  t.after(() => healthy.close());
  const dataDir = tempDir();
  const inner = LmdbStore.open(dataDir);
  const sick = await startGateway({
    dataDir,
    store: new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'health') return (): StoreHealth => ({ ok: false, kind: 'jetstream', detail: 'no quorum' });
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as Store,
  });
  t.after(() => sick.close());
  const r = await runCli(['doctor', '--data', tempDir(), '--json', '--gateway', `${healthy.url},${sick.url}`, '--fingerprint', `${healthy.fingerprint},${sick.fingerprint}`], { CCG_CLAUDE_BIN: '/nonexistent/claude' });
  assert.equal(r.code, 1, r.stdout);
  const checks = (JSON.parse(r.stdout) as Doctor).checks;
  const of = (name: string) => checks.filter((c) => c.name === name).map((c) => [c.level, c.detail]);
  assert.deepEqual(of('gateway'), [['ok', `${healthy.url} answers`], ['ok', `${sick.url} answers`]]);
  assert.deepEqual(of('store'), [['ok', `${healthy.url}: lmdb`], ['fail', `${sick.url}: takes no writes: jetstream`]]);
  assert.deepEqual(of('pin'), [['ok', `${healthy.url}: the certificate matches ${healthy.fingerprint}`], ['ok', `${sick.url}: the certificate matches ${sick.fingerprint}`]]);
  assert.equal(of('clock').length, 2);

  // Pins swapped: each node is held to its own, and both fail (76).
  const swapped = await runCli(['doctor', '--data', tempDir(), '--json', '--gateway', `${healthy.url},${sick.url}`, '--fingerprint', `${sick.fingerprint},${healthy.fingerprint}`], { CCG_CLAUDE_BIN: '/nonexistent/claude' });
  assert.equal(swapped.code, 76);
  assert.deepEqual((JSON.parse(swapped.stdout) as Doctor).checks.filter((c) => c.name === 'pin').map((c) => c.level), ['fail', 'fail']);
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import { totpCodeAt } from '../../server/auth/totp.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { fetchJson } from '../helpers/page-client.js';
import { CCG_BIN } from '../helpers/processes.js';

const PW = 'correct horse battery';
const by = { name: 'test', remote: null };

test('ccg login saves a 0600 login that every command falls back to; flags and env win; ccg logout revokes it', async (t) => {
  let clock = Date.now();
  const g = await startGateway({ now: () => clock });
  t.after(() => g.close());
  await g.gw.accounts.createUser({ name: 'alice', password: PW, role: 'operator' }, by);
  const xdg = tempDir();
  const home = { XDG_CONFIG_HOME: xdg };
  const file = join(xdg, 'ccg', 'config.json');

  let r = await runCli(['login', '--gateway', g.url, '--fingerprint', g.fingerprint, '--username', 'alice', '--json'], { ...home, CCG_PASSWORD: 'wrong password' });
  assert.equal(r.code, 77);
  assert.equal(JSON.parse(r.stderr).error.code, 'ERR_LOGIN_FAILED');
  assert.equal(existsSync(file), false);

  r = await runCli(['login', '--gateway', g.url, '--fingerprint', g.fingerprint, '--username', 'alice'], { ...home, CCG_PASSWORD: PW });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /signed in to https:\/\/127\.0\.0\.1:\d+ as alice \(operator\)/);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(xdg, 'ccg')).mode & 0o777, 0o700);
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { gateway: string; fingerprint: string; token: string };
  assert.equal(saved.gateway, g.url);
  assert.equal(saved.fingerprint, g.fingerprint);
  assert.match(saved.token, /^ccgo_/);
  assert.ok(!r.stdout.includes(saved.token), 'the token is never printed');

  // No flags, no CCG_* variables: the saved login is used.
  r = await runCli(['runs', 'create', '--name', 'from saved login', '--json'], home);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as CreateRunResponse).run.createdBy, 'alice');
  // Environment beats the saved login; a flag beats the environment.
  r = await runCli(['runs', 'create', '--json'], { ...home, CCG_TOKEN: g.operatorToken });
  assert.equal((JSON.parse(r.stdout) as CreateRunResponse).run.createdBy, 'operator.token (bootstrap)');
  r = await runCli(['runs', 'create', '--json', '--token', saved.token], { ...home, CCG_TOKEN: g.operatorToken });
  assert.equal((JSON.parse(r.stdout) as CreateRunResponse).run.createdBy, 'alice');
  // The saved gateway named in the environment with another token: its saved pin still holds.
  r = await runCli(['runs', 'create', '--json'], { ...home, CCG_GATEWAY: g.url, CCG_TOKEN: g.operatorToken });
  assert.equal(r.code, 0, `the saved pin for that gateway is used: ${r.stderr}`);
  // Another gateway never gets the saved token.
  r = await runCli(['runs', 'list', '--json'], { ...home, CCG_GATEWAY: 'https://127.0.0.1:1' });
  assert.equal(r.code, 77);
  // …and the error says why the saved login was not used.
  assert.match(JSON.parse(r.stderr).error.message, /^no API token for https:\/\/127\.0\.0\.1:1: the saved login \(`ccg login`\) is for https:\/\/127\.0\.0\.1:\d+, and is only ever sent there/);

  // Logging in again replaces the saved token and revokes the old one.
  r = await runCli(['login', '--username', 'alice'], { ...home, CCG_PASSWORD: PW });
  assert.equal(r.code, 0, `the saved gateway and pin are reused: ${r.stderr}`);
  const again = JSON.parse(readFileSync(file, 'utf8')) as { token: string };
  assert.notEqual(again.token, saved.token);
  assert.equal((await fetchJson(g, '/api/v1/runs', saved.token)).status, 401);

  r = await runCli(['logout'], home);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(file), false);
  assert.equal((await fetchJson(g, '/api/v1/runs', again.token)).status, 401, 'revoked on the gateway');
  r = await runCli(['logout', '--json'], home);
  assert.equal(r.code, 66);
  r = await runCli(['runs', 'list'], home);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /run `ccg login`/);

  // Two-factor: without a terminal the code must come as --totp (or CCG_TOTP).
  const alice = g.gw.accounts.list().find((u) => u.name === 'alice')!;
  const { secret } = await g.gw.accounts.startTotp(alice);
  await g.gw.accounts.confirmTotp(g.gw.accounts.mustGet(alice.id), totpCodeAt(secret, clock), '127.0.0.1');
  const args = ['login', '--gateway', g.url, '--fingerprint', g.fingerprint, '--username', 'alice'];
  r = await runCli(args, { ...home, CCG_PASSWORD: PW });
  assert.equal(r.code, 77);
  assert.match(r.stderr, /needs a two-factor code: pass --totp/);
  clock += 30_000;
  r = await runCli([...args, '--totp', totpCodeAt(secret, clock)], { ...home, CCG_PASSWORD: PW });
  assert.equal(r.code, 0, r.stderr);

  // A real process reading the password from stdin.
  const child = spawn(process.execPath, [CCG_BIN, 'login', '--gateway', g.url, '--fingerprint', g.fingerprint, '-u', 'alice', '--password-stdin', '--json'], {
    env: { PATH: process.env['PATH'], ...home, CCG_TOTP: totpCodeAt(secret, (clock += 30_000)) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stdin.end(`${PW}\n`);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  assert.deepEqual(JSON.parse(out).user, { name: 'alice', role: 'operator' });
});

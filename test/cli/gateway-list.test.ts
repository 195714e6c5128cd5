import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gatewayFlags, MAX_GATEWAYS, parseGateways } from '../../cli/client/gateways.js';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;

test('--gateway takes one URL or a comma-separated list; one pin for all or one per URL', () => {
  assert.deepEqual(parseGateways('https://gw:3100/some/path', undefined), [{ url: 'https://gw:3100', fingerprint: undefined }]);
  assert.deepEqual(parseGateways(' https://gw1:3100 , https://gw2:3100', A.toUpperCase().replace('SHA256', 'sha256')), [
    { url: 'https://gw1:3100', fingerprint: A },
    { url: 'https://gw2:3100', fingerprint: A },
  ]);
  assert.deepEqual(parseGateways('https://gw1,https://gw2', `${A},${B}`), [
    { url: 'https://gw1', fingerprint: A },
    { url: 'https://gw2', fingerprint: B },
  ]);
  assert.deepEqual(parseGateways('http://127.0.0.1:1,http://localhost:2', undefined).map((g) => g.url), ['http://127.0.0.1:1', 'http://localhost:2']);
});

test('--gateway refuses what it cannot use, and says why', () => {
  const refuses = (gw: string | undefined, fp: string | undefined, re: RegExp) => assert.throws(() => parseGateways(gw, fp), re);
  refuses(undefined, undefined, /no gateway given/);
  refuses(' ', undefined, /no gateway given/);
  refuses('https://gw1,,https://gw2', undefined, /empty entry/);
  refuses('https://gw1,', undefined, /empty entry/);
  refuses('https://gw1,not a url', undefined, /"not a url" is not a URL/);
  refuses('ftp://gw1', undefined, /must be an https:\/\/ URL, not ftp:/);
  refuses('https://gw1,http://gw2.example', undefined, /plain http:\/\/ to a non-loopback/);
  refuses('https://gw1:3100,https://gw1:3100/x', undefined, /same gateway twice/);
  refuses(Array.from({ length: MAX_GATEWAYS + 1 }, (_, i) => `https://gw${i}`).join(','), undefined, /at most 16/);
  refuses('https://gw1,https://gw2,https://gw3', `${A},${B}`, /2 pins for 3 gateway URLs/);
  refuses('https://gw1', 'sha256:nothex', /invalid certificate fingerprint/);
  refuses('https://gw1,https://gw2', `${A},`, /invalid certificate fingerprint/);
  // A hostile value is cut in the message, not echoed whole.
  assert.throws(() => parseGateways(`x${'y'.repeat(10_000)}`, undefined), (err: Error) => err.message.length < 300);
});

test('the list handed on to a child starts at the node that answers and keeps each pin with its URL', () => {
  const one = parseGateways('https://gw1,https://gw2,https://gw3', A);
  assert.deepEqual(gatewayFlags(one, 1), ['--gateway', 'https://gw2,https://gw3,https://gw1', '--fingerprint', A]);
  assert.deepEqual(gatewayFlags(parseGateways('https://gw1', undefined)), ['--gateway', 'https://gw1']);
  const each = parseGateways('https://gw1,https://gw2', `${A},${B}`);
  assert.deepEqual(gatewayFlags(each, 1), ['--gateway', 'https://gw2,https://gw1', '--fingerprint', `${B},${A}`]);
  assert.deepEqual(parseGateways(...(gatewayFlags(each, 1).filter((_, i) => i % 2 === 1) as [string, string])), [each[1], each[0]]);
});

test('ccg runner start and ccg machine start refuse a bad gateway list before doing anything', async () => {
  const r = await runCli(['runner', 'start', '--gateway', 'https://gw1,https://gw2', '--fingerprint', `${A},${B},${A}`, '--run-id', '7k2m9x4q3w8z', '--', 'true'], { CCG_RUN_TOKEN: `ccgr_${'a'.repeat(43)}` });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /3 pins for 2 gateway URLs/);
  const m = await runCli(['machine', 'start', '--gateway', 'https://gw1,http://gw2.example', '--name', 'box'], { CCG_MACHINE_TOKEN: `ccgm_${'a'.repeat(43)}` });
  assert.notEqual(m.code, 0);
  assert.match(m.stderr, /plain http:\/\//);
});

test('an operator command given a list (CCG_GATEWAY shared with a runner) says it takes one URL', async () => {
  const r = await runCli(['runs', 'list'], { CCG_GATEWAY: 'https://gw1:3100,https://gw2:3100', CCG_TOKEN: `ccgo_${'a'.repeat(43)}` });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^ccg: this command takes one gateway URL; a comma-separated list of cluster nodes is for `ccg runner start` and `ccg machine start`/);
});

test('every command that talks to a gateway refuses plain http:// to another host before it connects: no token or password leaves in clear', async (t) => {
  // A listener on loopback, reached as ::ffff:127.0.0.1: a name the loopback check does not
  // take, and an address a regression would reach (nothing outside this machine is ever tried).
  const connections: string[] = [];
  const server = createServer((s) => {
    s.on('data', (d) => connections.push(String(d).slice(0, 200)));
    s.on('error', () => undefined);
    s.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const gateway = `http://[::ffff:127.0.0.1]:${port}`;
  const env = { CCG_GATEWAY: gateway, CCG_TOKEN: `ccgo_${'A'.repeat(43)}`, CCG_PASSWORD: 'a password', HOME: tempDir() };
  for (const argv of [['runs', 'list'], ['runs', 'show', 'abcdefghjkmn'], ['login', '-u', 'bob', '--gateway', gateway], ['doctor']]) {
    const r = await runCli(argv, env);
    assert.notEqual(r.code, 0, argv.join(' '));
    assert.match(r.stdout + r.stderr, /refusing plain http:\/\/ to a non-loopback gateway/, argv.join(' '));
  }
  // A login saved for such a URL (before it was refused) is not sent there either: logout refuses
  // and keeps the file, unless --force, which forgets it without a request.
  const xdg = tempDir();
  mkdirSync(join(xdg, 'ccg'), { recursive: true });
  const file = join(xdg, 'ccg', 'config.json');
  writeFileSync(file, JSON.stringify({ gateway, fingerprint: null, token: env.CCG_TOKEN }), { mode: 0o600 });
  const out = await runCli(['logout'], { XDG_CONFIG_HOME: xdg, HOME: env.HOME });
  assert.equal(out.code, 1);
  assert.match(out.stderr, /refusing plain http:\/\//);
  assert.ok(existsSync(file), 'the saved login is kept');
  assert.equal((await runCli(['logout', '--force'], { XDG_CONFIG_HOME: xdg, HOME: env.HOME })).code, 0);
  assert.ok(!existsSync(file), '--force forgets it');
  // The sentinel: a loopback name is still allowed, and its request arrives at the listener.
  await runCli(['runs', 'list'], { ...env, CCG_GATEWAY: `http://127.0.0.1:${port}` });
  await waitFor(() => (connections.length > 0 ? true : undefined), 5000, 'the loopback request');
  assert.equal(connections.length, 1, 'only the loopback request arrived');
  assert.match(connections[0]!, /^GET \/api\/v1\/runs/);
});

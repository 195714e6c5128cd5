import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { QuickTunnelUrl } from '../../cli/commands/tunnel.js';
import { tempDir } from '../helpers/gateway.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { QUICK_URL, writeCloudflaredStandin } from '../helpers/standins.js';

/** A data directory with a (placeholder) gateway certificate, as `ccg serve` leaves it. */
function dataDir(): string {
  const d = tempDir();
  mkdirSync(join(d, 'certs'));
  writeFileSync(join(d, 'certs/cert.pem'), '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
  return d;
}

test('ccg tunnel: a quick tunnel prints the trycloudflare URL and a QR code, checks the gateway certificate, and stops cloudflared on Ctrl-C', async () => {
  const bin = tempDir();
  writeCloudflaredStandin(bin, 'quick');
  const data = dataDir();
  const p = spawnCcg(['tunnel', '--data', data], { PATH: `${bin}:${process.env['PATH']}` });
  await waitFor(() => (p.stdout().toString().includes('Press Ctrl-C') ? true : undefined), 15_000, 'the tunnel to be announced');
  const out = p.stdout().toString();
  assert.match(out, new RegExp(`^ccg tunnel ready: ${QUICK_URL}$`, 'm'));
  assert.match(out, /▄|▀|█/, 'a terminal QR code');
  assert.match(out, new RegExp(`--gateway ${QUICK_URL}`));
  const args = readFileSync(join(bin, 'cloudflared.args'), 'utf8').trim().split('\n');
  assert.deepEqual(args, ['tunnel', '--no-autoupdate', '--url', 'https://127.0.0.1:3100', '--origin-ca-pool', join(data, 'certs/cert.pem')]);
  p.child.kill('SIGINT');
  const { code } = await p.exited;
  assert.equal(code, 0, p.stderr());
  assert.match(p.stderr(), /tunnel stopped/);
});

test('ccg tunnel: named tunnels, JSON output, plain-HTTP origins', async () => {
  const bin = tempDir();
  writeCloudflaredStandin(bin, 'named');
  const p = spawnCcg(['tunnel', '--name', 'ccg', '--hostname', 'ccg.example.com', '--url', 'http://127.0.0.1:3999', '--json'], { PATH: `${bin}:${process.env['PATH']}` });
  await waitFor(() => (p.stdout().toString().includes('\n') ? true : undefined), 15_000, 'the JSON line');
  const line = JSON.parse(p.stdout().toString().trim()) as { url: string; mode: string; pid: number };
  assert.equal(line.url, 'https://ccg.example.com');
  assert.equal(line.mode, 'named');
  assert.deepEqual(readFileSync(join(bin, 'cloudflared.args'), 'utf8').trim().split('\n'), ['tunnel', '--no-autoupdate', '--name', 'ccg', '--hostname', 'ccg.example.com', '--url', 'http://127.0.0.1:3999']);
  p.child.kill('SIGTERM');
  assert.equal((await p.exited).code, 0);
});

test('ccg tunnel: clear errors when cloudflared is missing, fails, or the origin cannot be checked', async () => {
  const missing = spawnCcg(['tunnel', '--data', dataDir()], { PATH: '/nonexistent' });
  const m = await missing.exited;
  assert.equal(m.code, 127);
  assert.match(missing.stderr(), /cloudflared is not installed or not on PATH: install it from https:\/\/developers\.cloudflare\.com/);

  const bin = tempDir();
  writeCloudflaredStandin(bin, 'fail');
  const failing = spawnCcg(['tunnel', '--data', dataDir()], { PATH: `${bin}:${process.env['PATH']}` });
  assert.equal((await failing.exited).code, 1);
  assert.match(failing.stderr(), /cloudflared exited \(code 1\) before the tunnel was up; last line: .*Failed to create new quick Tunnel/);

  const noCert = spawnCcg(['tunnel', '--data', tempDir()], { PATH: `${bin}:${process.env['PATH']}` });
  assert.equal((await noCert.exited).code, 1);
  assert.match(noCert.stderr(), /cannot check the gateway's certificate/);

  const half = spawnCcg(['tunnel', '--name', 'x'], { PATH: `${bin}:${process.env['PATH']}` });
  assert.equal((await half.exited).code, 1);
  assert.match(half.stderr(), /--name and --hostname go together/);
});

test('the quick-tunnel URL is found in the box cloudflared logs, and only there', () => {
  const q = new QuickTunnelUrl();
  assert.equal(q.feed('2026-01-01T00:00:00Z INF Requesting new quick Tunnel on trycloudflare.com...'), undefined);
  assert.equal(q.feed('2026-01-01T00:00:00Z INF Visit https://developers.cloudflare.com/ for docs'), undefined);
  assert.equal(q.feed('2026-01-01T00:00:00Z ERR Failed error="Post \\"https://api.trycloudflare.com/tunnel\\": EOF"'), undefined, 'the API host is not the tunnel');
  assert.equal(q.feed('2026-01-01T00:00:00Z INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |'), undefined);
  assert.equal(q.feed(`2026-01-01T00:00:00Z INF |  ${QUICK_URL}   |`), QUICK_URL);
  const custom = new QuickTunnelUrl();
  custom.feed('INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |');
  assert.equal(custom.feed('INF |  https://abc.quick.example.net  |'), 'https://abc.quick.example.net');
  assert.equal(new QuickTunnelUrl().feed(`INF |  ${QUICK_URL}  |`), QUICK_URL, 'a boxed trycloudflare URL even if the banner is reworded');
});

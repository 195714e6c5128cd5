import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import { STREAM_STDOUT } from '../../protocol/frames.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { spawnCcg } from '../helpers/processes.js';

// Issue 13 (High): a secret printed in two writes with a pause longer than the runner's release
// time (300 ms) used to reach viewers and the store in part, or whole (a private key).

const ANT = 'sk-ant-api03-' + 'Qw3rTy7u'.repeat(10) + '-ZZ';
const PEM = '-----BEGIN RSA PRIVATE KEY-----\n' + Array.from({ length: 30 }, (_, i) => `MIIEpAIBAAKCAQEA${String(i).padStart(2, '0')}` + 'xYz9'.repeat(12)).join('\n') + '\n-----END RSA PRIVATE KEY-----';

/** Every 8-character window of the secret's body: none may be stored. */
function assertNoBody(stored: string, secret: string, from: number): void {
  for (let i = from; i + 8 <= secret.length; i++) {
    const w = secret.slice(i, i + 8);
    if (/^[A-Za-z0-9]{8}$/.test(w)) assert.ok(!stored.includes(w), `stored ${JSON.stringify(w)} of the secret: ${JSON.stringify(stored.slice(0, 400))}`);
  }
}

test('a real runner: a key and a private key printed with a 600 ms pause inside never reach the gateway', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  // The shell writes part of each secret, pauses past the release time, writes the rest.
  const script = [
    `printf 'key=${ANT.slice(0, 30)}'`,
    'sleep 0.6',
    `printf '${ANT.slice(30)} done\\n'`,
    `printf 'k2=s'`,
    'sleep 0.6',
    `printf '${ANT.slice(1)} done\\n'`,
    `printf '%s' '${PEM.slice(0, 800)}'`,
    'sleep 0.6',
    `printf '%s\\nafter\\n' '${PEM.slice(800)}'`,
  ].join('; ');
  const runner = spawnCcg(['runner', 'start', '--run-id', c.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--quiet', '--spool-dir', tempDir(), '--', 'sh', '-c', script], { CCG_RUN_TOKEN: c.token });
  const { code } = await runner.exited;
  assert.equal(code, 0, runner.stderr());
  const logs = (await runCli(['runs', 'logs', c.id], g.env)).stdout;
  assertNoBody(logs, ANT, 7);
  assertNoBody(logs, PEM, 32);
  assert.equal(logs, 'key=[REDACTED:anthropic] done\nk2=s[REDACTED:anthropic] done\n[REDACTED:private-key]\nafter\n');
});

test('a runner that does not redact: the gateway stores none of a secret whose chunks come 600 ms apart', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const r = await fakeRunner(g, c.id, c.token, { mode: 'command' });
  t.after(() => r.close());
  const pause = () => new Promise((resolve) => setTimeout(resolve, 600));
  await r.output(STREAM_STDOUT, `key=${ANT.slice(0, 30)}`);
  await pause();
  await r.output(STREAM_STDOUT, `${ANT.slice(30)} done\n`);
  await r.output(STREAM_STDOUT, PEM.slice(0, 800));
  await pause();
  await r.output(STREAM_STDOUT, PEM.slice(800, 1200));
  await r.output(STREAM_STDOUT, `${PEM.slice(1200)}\nafter\n`);
  await r.exit(0);
  const logs = (await runCli(['runs', 'logs', c.id], g.env)).stdout;
  assertNoBody(logs, ANT, 7);
  assertNoBody(logs, PEM, 32);
  assert.equal(logs, 'key=[REDACTED:anthropic] done\n[REDACTED:private-key]\nafter\n');
});

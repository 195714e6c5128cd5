import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { RunSummary } from '../../protocol/run.js';
import { runCli } from '../helpers/cli.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { STREAM_STDOUT } from '../../protocol/frames.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';

test('--json shapes and exit codes: success, auth failure, not found, timeout, unreachable, pin mismatch', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());

  const created = await runCli(['runs', 'create', '--name', 'contract', '--json'], g.env);
  assert.equal(created.code, 0);
  const c = JSON.parse(created.stdout) as CreateRunResponse;
  assert.match(c.id, /^[0-9a-z]{12}$/);
  assert.match(c.token, /^ccgr_/);
  assert.match(c.runnerCommand, new RegExp(`^CCG_RUN_TOKEN=${c.token} ccg runner start --gateway ${g.url} --fingerprint ${g.fingerprint} --run-id ${c.id}`));
  assert.equal(c.run.status, 'created');
  assert.equal(JSON.stringify(c.run).includes(c.token), false, 'the run summary never carries the token');

  const list = await runCli(['runs', 'list', '--json'], g.env);
  assert.equal(list.code, 0);
  assert.deepEqual((JSON.parse(list.stdout) as { runs: RunSummary[] }).runs.map((r) => r.id), [c.id]);
  assert.equal(JSON.stringify(JSON.parse(list.stdout)).includes('tokenBox'), false);

  const expectError = async (argv: string[], env: Record<string, string>, exit: number, code: string) => {
    const r = await runCli([...argv, '--json'], env);
    assert.equal(r.code, exit, `${argv.join(' ')}: exit (${r.stderr})`);
    assert.equal(r.stdout, '', 'nothing on stdout');
    const err = JSON.parse(r.stderr.trim()) as { error: { code: string; message: string; exit: number } };
    assert.equal(err.error.code, code);
    assert.equal(err.error.exit, exit);
    assert.ok(err.error.message.length > 5);
    const human = await runCli(argv, env);
    assert.match(human.stderr, /^ccg: .+\n$/, 'one clear line without --json');
  };

  const badToken = { ...g.env, CCG_TOKEN: 'ccgo_' + 'x'.repeat(43) };
  await expectError(['runs', 'list'], badToken, 77, 'ERR_UNAUTHORIZED');
  await expectError(['runs', 'wait', c.id], badToken, 77, 'ERR_UNAUTHORIZED');
  await expectError(['runs', 'show', 'zzzzzzzzzzzz'], g.env, 66, 'ERR_RUN_NOT_FOUND');
  await expectError(['runs', 'logs', 'zzzzzzzzzzzz'], g.env, 66, 'ERR_RUN_NOT_FOUND');
  await expectError(['runs', 'wait', 'zzzzzzzzzzzz'], g.env, 66, 'ERR_RUN_NOT_FOUND');
  await expectError(['runs', 'show', '../../etc'], g.env, 66, 'ERR_RUN_NOT_FOUND');
  await expectError(['runs', 'wait', c.id, '--timeout', '300ms'], g.env, 124, 'ERR_TIMEOUT');
  // Past what a timer holds (about 24.8 days) Node fires after 1 ms: "still not finished" at once.
  for (const long of ['30d', '99999999']) {
    const r = await runCli(['runs', 'wait', c.id, '--timeout', long, '--json'], g.env);
    assert.equal(r.code, 1, `--timeout ${long}: a usage error, not a timeout (${r.stderr})`);
    assert.match(JSON.parse(r.stderr).error.message, /too long: at most 24d/);
    assert.doesNotMatch(r.stderr, /TimeoutOverflowWarning/);
  }

  const wrongPin = { ...g.env, CCG_FINGERPRINT: 'sha256:' + '0'.repeat(64) };
  await expectError(['runs', 'list'], wrongPin, 76, 'ERR_PIN_MISMATCH');
  await expectError(['runs', 'list'], { ...g.env, CCG_FINGERPRINT: '' }, 76, 'ERR_TLS');

  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const deadPort = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  await expectError(['runs', 'list'], { ...g.env, CCG_GATEWAY: `https://127.0.0.1:${deadPort}` }, 69, 'ERR_UNREACHABLE');
  await expectError(['runs', 'list'], { ...g.env, CCG_TOKEN: 'nope' }, 77, 'ERR_UNAUTHORIZED');
  await expectError(['runs', 'list'], { ...g.env, CCG_FINGERPRINT: 'sha256:nothex' }, 1, 'ERR_CLI');

  // Credentials in a URL are refused outright.
  const res = await fetchInsecure(`${g.url}/api/v1/runs?token=${g.operatorToken}`, g.fingerprint);
  assert.equal(res.status, 400);
  assert.equal(res.body.error.code, 'ERR_TOKEN_IN_URL');
});

async function fetchInsecure(url: string, fingerprint: string): Promise<{ status: number; body: { error: { code: string } } }> {
  const https = await import('node:https');
  const { PinnedAgent } = await import('../../cli/client/pinned-agent.js');
  return new Promise((resolve, reject) => {
    https.get(url, { agent: new PinnedAgent(fingerprint) }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString()) }));
    }).on('error', reject);
  });
}

test('runner: refuses a malformed or missing token and a finished run; warns about a token on argv', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const base = ['runner', 'start', '--run-id', c.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--spool-dir', tempDir()];

  let r = await runCli([...base, '--', 'true'], {});
  assert.equal(r.code, 77);
  assert.match(r.stderr, /no run token/);
  r = await runCli([...base, '--', 'true'], { CCG_RUN_TOKEN: 'ccgr_short' });
  assert.equal(r.code, 77);
  r = await runCli([...base, '--', 'true'], { CCG_RUN_TOKEN: 'ccgr_' + 'A'.repeat(43) });
  assert.equal(r.code, 77, r.stderr);
  assert.match(r.stderr, /ERR_SIGNATURE_INVALID/);

  r = await runCli([...base, '--token', c.token, '--json', '--', 'sh', '-c', 'exit 4'], {});
  assert.equal(r.code, 4);
  // With --json every line on stderr is JSON, the warning too.
  const lines = r.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as { status?: string });
  assert.ok(lines.some((l) => /visible in `ps`/.test(l.status ?? '')), r.stderr);

  r = await runCli([...base, '--', 'true'], { CCG_RUN_TOKEN: c.token });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /has already ended \(exit code 4\): a run starts once; create a new one/);
});

test('cancel: the runner interrupts its child and the run ends cancelled', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', c.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--grace', '2s', '--spool-dir', tempDir(), '--', 'sh', '-c', 'echo started; sleep 30'],
    { CCG_RUN_TOKEN: c.token },
  );
  t.after(() => runner.child.kill('SIGKILL'));
  await waitFor(() => (g.gw.runs.committedSeq(c.id) >= 1 ? true : undefined), 10_000, 'first output');
  const cancel = await runCli(['runs', 'cancel', c.id, '--json'], g.env);
  assert.equal(cancel.code, 0, cancel.stderr);
  assert.equal((JSON.parse(cancel.stdout) as { delivered: boolean }).delivered, true);
  const { code } = await runner.exited;
  assert.equal(code, 130, `sh dies of SIGINT: ${runner.stderr()}`);
  const wait = await runCli(['runs', 'wait', c.id, '--json'], g.env);
  assert.equal(wait.code, 130);
  assert.equal((JSON.parse(wait.stdout) as { run: RunSummary }).run.status, 'cancelled');
  const again = await runCli(['runs', 'cancel', c.id, '--json'], g.env);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /ERR_RUN_FINISHED/);

  // A run no runner ever picked up is cancelled at once.
  const idle = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const r = await runCli(['runs', 'cancel', idle.id, '--json'], g.env);
  assert.equal((JSON.parse(r.stdout) as { run: RunSummary }).run.status, 'cancelled');
});

test('a download cut off halfway exits 69 (ERR_UNREACHABLE) with or without --json, saying so', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = await fakeRunner(g, c.id, c.token, { mode: 'command' });
  t.after(() => runner.close());
  // 8 MiB: far more than arrives before the proxy stops forwarding.
  for (let i = 0; i < 32; i++) await runner.output(STREAM_STDOUT, `${'x'.repeat(1023)}\n`.repeat(256));
  const proxy = await FaultProxy.start(Number(new URL(g.url).port));
  t.after(() => proxy.close());
  for (const json of [false, true]) {
    proxy.heal();
    const p = spawnCcg(['runs', 'logs', c.id, ...(json ? ['--json'] : [])], { ...g.env, CCG_GATEWAY: proxy.url });
    await waitFor(() => (p.stdout().length > 0 ? true : undefined), 15_000, 'the first bytes of the log');
    proxy.stall();
    proxy.cut();
    const { code } = await p.exited;
    assert.equal(code, 69, `${json ? '--json' : 'text'}: exit (${p.stderr()})`);
    if (json) assert.equal(JSON.parse(p.stderr().trim().split('\n').at(-1)!).error.code, 'ERR_UNREACHABLE');
    else assert.match(p.stderr(), /^ccg: (the connection to the gateway broke off|cannot reach the gateway)/m);
  }
});

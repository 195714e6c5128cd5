import assert from 'node:assert/strict';
import { test } from 'node:test';
import type WebSocket from 'ws';
import type { CreateRunResponse } from '../../protocol/api.js';
import { STREAM_STDOUT, encodeOutput } from '../../protocol/frames.js';
import { fakeRunner, type FakeRunner } from '../helpers/fake-runner.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { rawRunnerUpgrade, signedHeaders } from '../helpers/runner-socket.js';
import { addUsers, pageUser } from '../helpers/users.js';

// Issue 13 (Medium): a stolen run token could not be cut off. Cancel only asks the runner; a
// hostile runner kept writing, reconnected, and the run stayed running.

async function createRun(g: TestGateway): Promise<CreateRunResponse> {
  return JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
}

/** The socket's close, as the runner saw it. */
function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** A hostile runner ignores cancel: it writes a line every 50 ms for as long as the socket lets it. */
function keepWriting(r: FakeRunner, from: number): () => number {
  let seq = from;
  const timer = setInterval(() => {
    if (r.ws.readyState !== r.ws.OPEN) return clearInterval(timer);
    r.ws.send(encodeOutput({ stream: STREAM_STDOUT, seq: ++seq, data: Buffer.from(`still here ${seq}\n`) }));
  }, 50);
  return () => {
    clearInterval(timer);
    return seq;
  };
}

/** The hostile runner comes back with the token: refused, for good. */
async function assertReconnectRefused(g: TestGateway, run: CreateRunResponse): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const again = await rawRunnerUpgrade(g.url, g.fingerprint, signedHeaders(run.token, run.id));
    assert.equal(again.status, 401, 'reconnect refused');
    assert.equal(again.body?.error?.code, 'ERR_RUN_REVOKED');
  }
}

test('ccg runs revoke: the runner socket closes at once, the token is refused from then on, audited', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = await createRun(g);
  const r = await fakeRunner(g, run.id, run.token, { mode: 'command' });
  const seq = await r.output(STREAM_STDOUT, 'hello\n');
  const stop = keepWriting(r, seq);
  const gone = closed(r.ws);
  const out = await runCli(['runs', 'revoke', run.id, '--json'], g.env);
  assert.equal(out.code, 0, out.stderr);
  const body = JSON.parse(out.stdout) as { run: { status: string }; connected: boolean };
  assert.equal(body.run.status, 'revoked');
  assert.equal(body.connected, true);
  const { code, reason } = await gone;
  stop();
  assert.equal(code, 4401);
  assert.match(reason, /ERR_RUN_REVOKED/);
  await assertReconnectRefused(g, run);
  const shown = (await apiRequest(g, 'GET', `/api/v1/runs/${run.id}`)).json as { run: { status: string; runnerConnected: boolean; reason: string } };
  assert.equal(shown.run.status, 'revoked');
  assert.equal(shown.run.runnerConnected, false);
  assert.match(shown.run.reason, /revoked by /);
  assert.equal((await runCli(['runs', 'wait', run.id], g.env)).code, 130);
  const audit = (await apiRequest(g, 'GET', '/api/v1/audit')).json as { entries: { action: string; target: string; actor: string }[] };
  assert.ok(audit.entries.some((e) => e.action === 'run.revoke' && e.target === run.id && e.actor !== 'gateway'), 'audited with who revoked');
  // Revoking twice is refused; a viewer may not revoke at all (see the page test).
  assert.equal((await runCli(['runs', 'revoke', run.id], g.env)).code, 1);
});

test('a cancelled run whose runner ignores the cancel is revoked after the grace period, and cannot come back', async (t) => {
  const g = await startGateway({ limits: { cancelGraceMs: 1500 } });
  t.after(() => g.close());
  const run = await createRun(g);
  const r = await fakeRunner(g, run.id, run.token, { mode: 'command' });
  const seq = await r.output(STREAM_STDOUT, 'working\n');
  const gone = closed(r.ws);
  const asked = Date.now();
  const cancel = await runCli(['runs', 'cancel', run.id, '--json'], g.env);
  assert.equal(cancel.code, 0, cancel.stderr);
  await r.next('cancel');
  const stop = keepWriting(r, seq);
  const { code, reason } = await gone;
  const wrote = stop();
  assert.ok(Date.now() - asked >= 1400, 'not before the grace period');
  assert.ok(wrote > seq + 5, 'the runner went on writing meanwhile');
  assert.equal(code, 4401);
  assert.match(reason, /ERR_RUN_REVOKED/);
  await assertReconnectRefused(g, run);
  const shown = (await apiRequest(g, 'GET', `/api/v1/runs/${run.id}`)).json as { run: { status: string; reason: string } };
  assert.equal(shown.run.status, 'revoked');
  assert.match(shown.run.reason, /not ended within 2 s/);
  const entry = await waitFor(async () => {
    const audit = (await apiRequest(g, 'GET', '/api/v1/audit')).json as { entries: { action: string; target: string; actor: string }[] };
    return audit.entries.find((e) => e.action === 'run.revoke' && e.target === run.id);
  }, 10_000, 'the audit entry');
  assert.equal(entry.actor, 'gateway');
});

test('a runner that honours the cancel within the grace period ends cancelled, not revoked', async (t) => {
  const g = await startGateway({ limits: { cancelGraceMs: 800 } });
  t.after(() => g.close());
  const run = await createRun(g);
  const r = await fakeRunner(g, run.id, run.token, { mode: 'command' });
  assert.equal((await runCli(['runs', 'cancel', run.id], g.env)).code, 0);
  await r.next('cancel');
  await r.exit(130);
  await r.close();
  // The sentinel: a second run cancelled later, whose runner ignores it, is revoked; the first
  // run's grace period had ended before that one's did.
  const later = await createRun(g);
  const hostile = await fakeRunner(g, later.id, later.token, { mode: 'command' });
  const gone = closed(hostile.ws);
  assert.equal((await runCli(['runs', 'cancel', later.id], g.env)).code, 0);
  assert.equal((await gone).code, 4401);
  const shown = (await apiRequest(g, 'GET', `/api/v1/runs/${run.id}`)).json as { run: { status: string } };
  assert.equal(shown.run.status, 'cancelled');
  const again = await rawRunnerUpgrade(g.url, g.fingerprint, signedHeaders(run.token, run.id));
  assert.equal(again.status, 101, 'the token of a run that ended normally is not revoked');
  again.ws!.terminate();
});

test('phone: operators see "Revoke token…" and revoke with CSRF; viewers neither see nor may post it', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olive', role: 'operator' }, { name: 'vic', role: 'viewer' }]);
  const run = await createRun(g);
  const r = await fakeRunner(g, run.id, run.token, { mode: 'command' });
  const gone = closed(r.ws);

  const viewer = await pageUser(g, 'vic');
  const seen = await viewer.get(`/runs/${run.id}`);
  assert.equal(seen.status, 200);
  assert.doesNotMatch(seen.body, /Revoke token/);
  assert.equal((await viewer.post(`/runs/${run.id}/revoke`, {})).status, 403);

  const op = await pageUser(g, 'olive');
  const page = await op.get(`/runs/${run.id}`);
  assert.match(page.body, /<summary>Revoke token…<\/summary>/);
  assert.match(page.body, new RegExp(`action="/runs/${run.id}/revoke"`));
  assert.equal((await op.post(`/runs/${run.id}/revoke`, {}, { csrf: null })).status, 403, 'no CSRF token: refused');
  const done = await op.post(`/runs/${run.id}/revoke`, {});
  assert.equal(done.status, 303);
  assert.equal(done.headers.location, `/runs/${run.id}?notice=run-revoked`);
  assert.equal((await gone).code, 4401);
  const after = await op.get(`/runs/${run.id}?notice=run-revoked`);
  assert.match(after.body, /Run token revoked/);
  assert.match(after.body, /revoked/);
  assert.doesNotMatch(after.body, /Revoke token…/, 'no button on an ended run');
});

test('a real runner whose run is revoked stops its command and ends at once (it lingered 10 minutes)', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = await createRun(g);
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--quiet', '--spool-dir', tempDir(), '--', 'sh', '-c', 'echo started; sleep 60'],
    { CCG_RUN_TOKEN: run.token },
  );
  t.after(() => (runner.child.exitCode === null && runner.child.signalCode === null ? runner.child.kill('SIGKILL') : undefined));
  await waitFor(async () => ((await runCli(['runs', 'logs', run.id], g.env)).stdout.includes('started') ? true : undefined), 15_000, 'the output');
  assert.equal((await runCli(['runs', 'revoke', run.id], g.env)).code, 0);
  // Once its child is gone: not after the default --linger (10 minutes), nor after the cancel
  // ladder's SIGTERM and SIGKILL (3 × --grace, 15 s) sent to a child that had already ended.
  const { code } = await Promise.race([runner.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the runner did not end: ${runner.stderr()}`)), 10_000))]);
  assert.equal(code, 77, runner.stderr());
  // The gateway's message as it came, and the error the runner ends with (not a third copy).
  const lines = runner.stderr().split('\n').filter((l) => l.includes('ERR_RUN_REVOKED'));
  assert.deepEqual(lines.map((l) => l.replace(/: ERR_RUN_REVOKED.*/, '')), ['ccg-runner: gateway', 'ccg: gateway closed the connection'], runner.stderr());
});

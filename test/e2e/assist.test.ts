import assert from 'node:assert/strict';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { AssistInfo, AssistResponse } from '../../protocol/assist.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { createLogger } from '../../server/log.js';
import type { AuditEntry } from '../../server/store/types.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { TMATE_LINKS, writeTmateStandin } from '../helpers/standins.js';

function gone(pid: number): true | undefined {
  try {
    process.kill(pid, 0);
    return undefined;
  } catch {
    return true;
  }
}

/** An operator socket subscribed to one run, keeping every JSON message. */
async function watcher(g: TestGateway, token: string, runId: string): Promise<{ ws: WebSocket; texts: Record<string, unknown>[]; sync(): Promise<void> }> {
  const ws = new WebSocket(new URL('/v1/operator', g.url.replace('https:', 'wss:')), { headers: { authorization: `Bearer ${token}` }, agent: new PinnedAgent(g.fingerprint) });
  const texts: Record<string, unknown>[] = [];
  ws.on('message', (d, bin) => void (!bin && texts.push(JSON.parse(String(d)) as Record<string, unknown>)));
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'hello', v: 1 }));
  ws.send(JSON.stringify({ type: 'subscribe', runId, from: 1 }));
  // Resubscribing is answered in order, after everything sent before it: a barrier.
  const sync = async () => {
    const n = texts.filter((m) => m['type'] === 'subscribed').length;
    ws.send(JSON.stringify({ type: 'subscribe', runId, from: 1 }));
    await waitFor(() => (texts.filter((m) => m['type'] === 'subscribed').length > n ? true : undefined), 10_000, 'resubscribe');
  };
  return { ws, texts, sync };
}

test('assist sessions: off unless --assist; links only for operators, never in the stream, logs or audit; stopped on request and at run end', async (t) => {
  const logLines: string[] = [];
  const g = await startGateway({ log: createLogger({ level: 'debug', write: (l) => logLines.push(l) }) });
  t.after(() => g.close());
  const viewer = await createApiToken(g.gw.store, { name: 'viewer', role: 'viewer', userId: null, now: Date.now() });
  const operator = await createApiToken(g.gw.store, { name: 'oper', role: 'operator', userId: null, now: Date.now() });
  const opEnv = { ...g.env, CCG_TOKEN: operator.token };

  // A runner without --assist: the gateway knows from its hello and refuses up front.
  const plain = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const ws = tempDir('ccg-ws-');
  const plainRunner = spawnCcg(['runner', 'start', '--run-id', plain.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', ws, '--quiet', '--no-collect', '--spool-dir', tempDir(), '--', 'sh', '-c', 'i=0; while [ ! -f stop-plain ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done'], { CCG_RUN_TOKEN: plain.token });
  t.after(() => void (plainRunner.child.exitCode === null && plainRunner.child.kill('SIGKILL')));
  await waitFor(async () => ((JSON.parse((await runCli(['runs', 'show', plain.id, '--json'], g.env)).stdout) as { run: { status: string } }).run.status === 'running' ? true : undefined), 15_000, 'plain run');
  const off = await runCli(['runs', 'assist', plain.id, 'start'], opEnv);
  assert.equal(off.code, 1);
  assert.match(off.stderr, /does not allow assist sessions/);
  writeFileSync(join(ws, 'stop-plain'), '');
  await plainRunner.exited;

  const c = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const bin = tempDir('ccg-bin-');
  const tmate = writeTmateStandin(bin);
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', c.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', ws, '--quiet', '--no-collect', '--spool-dir', tempDir(), '--assist', '--assist-max', '5', '--tmate-bin', tmate, '--', 'sh', '-c', 'i=0; while [ ! -f stop ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done'],
    { CCG_RUN_TOKEN: c.token, DB_PASSWORD: 'hunter2-hunter2' },
  );
  t.after(() => void (runner.child.exitCode === null && runner.child.kill('SIGKILL')));
  await waitFor(async () => ((JSON.parse((await runCli(['runs', 'show', c.id, '--json'], g.env)).stdout) as { run: { status: string } }).run.status === 'running' ? true : undefined), 15_000, 'run');
  const show0 = JSON.parse((await runCli(['runs', 'assist', c.id, 'show', '--json'], opEnv)).stdout) as AssistResponse;
  assert.deepEqual(show0, { enabled: true, maxMinutes: 5, assist: null });

  const viewerSock = await watcher(g, viewer.token, c.id);
  const adminSock = await watcher(g, g.operatorToken, c.id);
  t.after(() => {
    viewerSock.ws.close();
    adminSock.ws.close();
  });

  // Viewers may not start, stop or see a session.
  for (const action of ['start', 'show', 'stop']) {
    const r = await runCli(['runs', 'assist', c.id, action], { ...g.env, CCG_TOKEN: viewer.token });
    assert.equal(r.code, 77, `viewer ${action}: ${r.stderr}`);
  }

  const start = await runCli(['runs', 'assist', c.id, 'start', '--json'], opEnv);
  assert.equal(start.code, 0, start.stderr);
  const started = (JSON.parse(start.stdout) as { assist: AssistInfo }).assist;
  assert.equal(started.state, 'active');
  assert.deepEqual(started.links, { ssh: TMATE_LINKS.ssh, sshReadOnly: TMATE_LINKS.sshReadOnly, web: TMATE_LINKS.web, webReadOnly: TMATE_LINKS.webReadOnly });
  assert.ok(started.expiresAt! > Date.now() + 4 * 60_000 && started.expiresAt! <= Date.now() + 5 * 60_000);
  assert.equal(readFileSync(join(bin, 'tmate.cwd'), 'utf8').trim(), realpathSync(ws), 'tmate runs in the workspace');
  const tmateEnv = readFileSync(join(bin, 'tmate.env'), 'utf8');
  assert.ok(!tmateEnv.includes('CCG_RUN_TOKEN') && !tmateEnv.includes(c.token), 'the run token is not in the session');
  const pid1 = Number(readFileSync(join(bin, 'tmate.pid'), 'utf8'));

  const human = await runCli(['runs', 'assist', c.id, 'show'], opEnv);
  assert.match(human.stdout, new RegExp(`^ssh +${TMATE_LINKS.ssh}$`, 'm'));
  assert.match(human.stdout, /^state +active$/m);

  await adminSock.sync();
  await viewerSock.sync();
  assert.ok(adminSock.texts.some((m) => m['type'] === 'assist' && (m['assist'] as AssistInfo).links?.ssh === TMATE_LINKS.ssh), 'admins get the links live');
  assert.ok(!viewerSock.texts.some((m) => m['type'] === 'assist'), 'viewers never get an assist message');
  assert.ok(!JSON.stringify(viewerSock.texts).includes('tmate.io'));

  // Stop on request: tmate goes away.
  const stop = await runCli(['runs', 'assist', c.id, 'stop', '--json'], opEnv);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal((JSON.parse(stop.stdout) as { assist: AssistInfo }).assist.state, 'stopped');
  await waitFor(() => gone(pid1), 10_000, 'tmate to be stopped');
  const stopAgain = await runCli(['runs', 'assist', c.id, 'stop'], opEnv);
  assert.equal(stopAgain.code, 1);
  assert.match(stopAgain.stderr, /no assist session is running/);

  // Started again, then the run ends: the runner closes it, the gateway forgets the links.
  assert.equal((await runCli(['runs', 'assist', c.id, 'start'], opEnv)).code, 0);
  const pid2 = Number(readFileSync(join(bin, 'tmate.pid'), 'utf8'));
  assert.notEqual(pid2, pid1);
  writeFileSync(join(ws, 'stop'), '');
  assert.equal((await runner.exited).code, 0, runner.stderr());
  assert.ok(gone(pid2), 'tmate is gone when the run ends');
  const after = JSON.parse((await runCli(['runs', 'assist', c.id, 'show', '--json'], opEnv)).stdout) as AssistResponse;
  assert.equal(after.assist?.state, 'stopped');
  assert.equal(after.assist?.links, null);
  assert.match(after.assist?.reason ?? '', /the run ended/);

  // The record: who asked, what the runner did; never a link, in the stream, the audit or the log.
  const logs = await runCli(['runs', 'logs', c.id, '--json'], { ...g.env, CCG_TOKEN: viewer.token });
  const events = logs.stdout.trim().split('\n').map((l) => JSON.parse(l) as { stream: string; text: string }).filter((l) => l.stream === 'event').map((l) => JSON.parse(l.text) as { type: string });
  assert.deepEqual(events.map((e) => e.type), ['assist_started', 'assist_stopped', 'assist_refused', 'assist_started', 'assist_stopped']);
  assert.ok(!logs.stdout.includes('tmate.io'), 'no link in the stream every viewer reads');
  const audit = JSON.parse(await (await fetchAudit(g)).text()) as { entries: AuditEntry[] };
  const actions = audit.entries.filter((e) => e.target === c.id).map((e) => e.action).reverse();
  for (const a of ['assist.start', 'assist.started', 'assist.show', 'assist.stop', 'assist.stopped']) assert.ok(actions.includes(a), `${a} in ${actions.join(',')}`);
  assert.ok(!JSON.stringify(audit).includes('tmate.io'), 'no link in the audit log');
  assert.ok(!logLines.join('').includes('tmate.io'), 'no link in the gateway log');
  assert.ok(!logLines.join('').includes(c.token), 'no run token in the gateway log');
});

async function fetchAudit(g: TestGateway): Promise<{ text(): Promise<string> }> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = https.request(new URL('/api/v1/audit', g.url), { agent: new PinnedAgent(g.fingerprint), headers: { authorization: `Bearer ${g.operatorToken}` } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ text: async () => Buffer.concat(parts).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

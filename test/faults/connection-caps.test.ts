import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import { STREAM_STDOUT } from '../../protocol/frames.js';
import { AddMachineResponse, signMachineRequest } from '../../protocol/machine.js';
import { HEADER_PROTOCOL } from '../../protocol/signing.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { rawRunnerUpgrade, signedHeaders } from '../helpers/runner-socket.js';

// Issue 13 (Medium): ~20,500 connections from one address exhausted the gateway's descriptors
// and /healthz timed out. Connections are now capped per address and in total (with room kept
// for runners), and a signed runner socket that never says hello is closed.

interface Opened {
  status: number;
  code?: string;
  ws: WebSocket | null;
}

/** An operator WebSocket from loopback: 101 and the socket, or the refusal. */
function operatorSocket(g: TestGateway): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(new URL('/v1/operator', g.url.replace('https:', 'wss:')), { headers: { authorization: `Bearer ${g.operatorToken}` }, agent: new PinnedAgent(g.fingerprint), perMessageDeflate: false });
    ws.on('unexpected-response', (_req, res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(Buffer.concat(parts).toString()) as { error: { code: string } }).error.code, ws: null }));
    });
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('error', reject);
  });
}

async function createRun(g: TestGateway): Promise<CreateRunResponse> {
  return JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
}

test('per address: with a cap of 20, 25 connections from loopback get 20 through and 5 refused; /healthz answers; a closed one frees its slot', async (t) => {
  const g = await startGateway({ limits: { maxConnectionsPerAddress: 20, maxConnections: 1000, runnerReserve: 10 } });
  t.after(() => g.close());
  const opened: Opened[] = [];
  t.after(() => opened.forEach((o) => o.ws?.terminate()));
  for (let i = 0; i < 25; i++) opened.push(await operatorSocket(g));
  assert.deepEqual(opened.map((o) => o.status), [...Array(20).fill(101), ...Array(5).fill(503)]);
  assert.ok(opened.slice(20).every((o) => o.code === 'ERR_TOO_MANY_CONNECTIONS'));
  const health = await apiRequest(g, 'GET', '/healthz');
  assert.equal(health.status, 200);
  // A runner from the same address is held to the same cap, before its signature is even checked.
  const run = await createRun(g);
  const refused = await rawRunnerUpgrade(g.url, g.fingerprint, signedHeaders(run.token, run.id));
  assert.equal(refused.status, 503);
  assert.equal(refused.body?.error?.code, 'ERR_TOO_MANY_CONNECTIONS');
  // And a machine daemon, with a valid machine token.
  const admin = (await createApiToken(g.gw.store, { name: 'caps-admin', role: 'admin', userId: null, now: Date.now() })).token;
  const added = await apiRequest(g, 'POST', '/api/v1/machines', { name: 'capped' }, admin);
  assert.equal(added.status, 201, JSON.stringify(added.json));
  const machineToken = AddMachineResponse.parse(added.json).token;
  const machineHeaders = { ...signMachineRequest(machineToken, { method: 'GET', target: '/v1/machine', name: 'capped' }), [HEADER_PROTOCOL]: '1' };
  const machine = await rawRunnerUpgrade(g.url, g.fingerprint, machineHeaders, '/v1/machine');
  assert.equal(machine.status, 503);
  assert.equal(machine.body?.error?.code, 'ERR_TOO_MANY_CONNECTIONS');
  const closed = new Promise((resolve) => opened[0]!.ws!.once('close', resolve));
  opened[0]!.ws!.close();
  await closed;
  let again: Opened | null = null;
  for (let i = 0; i < 50 && again?.status !== 101; i++) {
    again?.ws?.terminate();
    again = await operatorSocket(g); // the close reaches the gateway a moment after the client sees it
  }
  assert.equal(again!.status, 101, 'the slot of a closed connection is given back');
  opened.push(again!);
});

test('in total: viewers stop short of the runners\' reserve; a signed runner still connects; /healthz answers', async (t) => {
  const g = await startGateway({ limits: { maxConnectionsPerAddress: 0, maxConnections: 12, runnerReserve: 4 } });
  t.after(() => g.close());
  const opened: Opened[] = [];
  t.after(() => opened.forEach((o) => o.ws?.terminate()));
  for (let i = 0; i < 10; i++) opened.push(await operatorSocket(g));
  assert.deepEqual(opened.map((o) => o.status), [...Array(8).fill(101), 503, 503]);
  assert.equal((await apiRequest(g, 'GET', '/healthz')).status, 200);
  const run = await createRun(g);
  const r = await fakeRunner(g, run.id, run.token, { mode: 'command' });
  t.after(() => r.close());
  assert.ok((await r.output(STREAM_STDOUT, 'runner in the reserve\n')) > 0);
});

test('a signed runner socket that never says hello is closed after the hello timeout; one that did stays', async (t) => {
  const g = await startGateway({ limits: { runnerHelloTimeoutMs: 1000 } });
  t.after(() => g.close());
  const good = await createRun(g);
  const r = await fakeRunner(g, good.id, good.token, { mode: 'command' });
  t.after(() => r.close());
  const silent = await createRun(g);
  const opened = Date.now();
  const up = await rawRunnerUpgrade(g.url, g.fingerprint, signedHeaders(silent.token, silent.id));
  assert.equal(up.status, 101);
  const { code, reason } = await new Promise<{ code: number; reason: string }>((resolve) => up.ws!.once('close', (c, why) => resolve({ code: c, reason: why.toString() })));
  assert.equal(code, 4400);
  assert.match(reason, /ERR_NOT_READY/);
  assert.ok(Date.now() - opened >= 900, 'not before the timeout');
  // The sentinel: the runner that said hello long before is still served.
  assert.ok((await r.output(STREAM_STDOUT, 'still here\n')) > 0);
});

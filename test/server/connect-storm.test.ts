import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { ApiClient } from '../../cli/client/api.js';
import { CreateRunResponse, HealthResponse } from '../../protocol/api.js';
import { tempDir } from '../helpers/gateway.js';
import { signedHeaders } from '../helpers/runner-socket.js';
import { startServe } from '../helpers/serve.js';

/** Opens a signed runner socket, says hello, resolves on welcome, then closes it. */
function helloRound(url: string, agent: PinnedAgent, run: CreateRunResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const u = new URL('/v1/runner', url);
    u.protocol = 'wss:';
    const ws = new WebSocket(u, { headers: signedHeaders(run.token, run.id), agent, perMessageDeflate: false });
    ws.on('open', () =>
      ws.send(JSON.stringify({ type: 'hello', v: 1, runner: { hostname: 'storm', pid: 1, version: 't', mode: 'command', command: ['x'], cwd: '/' } })),
    );
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { type: string };
      if (msg.type !== 'welcome') return reject(new Error(`expected welcome, got ${String(data)}`));
      ws.close();
      resolve();
    });
    ws.on('error', reject);
  });
}

// Regression: a runner upgrade completed from a promise continuation could run while uWS was
// parsing another socket's request, and uWS (v20.30) then aborted the process. It took a few
// dozen simultaneous connects to hit; this does a few hundred.
test('many runners connecting at once do not crash the gateway', async (t) => {
  const gw = await startServe(tempDir());
  t.after(() => gw.stop());
  const api = new ApiClient({ gateway: gw.url, token: gw.env['CCG_TOKEN']!, fingerprint: gw.fingerprint });
  const runs: CreateRunResponse[] = [];
  for (let i = 0; i < 100; i++) runs.push(await api.json('POST', '/api/v1/runs', CreateRunResponse, { name: `storm ${i}` }));
  const agent = new PinnedAgent(gw.fingerprint);
  for (let round = 0; round < 4; round++) {
    await Promise.all(runs.map((r) => helloRound(gw.url, agent, r)));
    assert.ok(gw.alive(), `gateway alive after round ${round + 1}; stderr: ${gw.proc.stderr().slice(-1000)}`);
  }
  assert.doesNotMatch(gw.proc.stderr(), /Cork buffer|terminate called/);
  const health = await api.json('GET', '/healthz', HealthResponse);
  assert.equal(health.ok, true);
});

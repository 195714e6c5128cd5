import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import { createLogger, scrubLogValue } from '../../server/log.js';
import { runCli } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';
import { signedHeaders, rawRunnerUpgrade } from '../helpers/runner-socket.js';

test('log lines never carry tokens, cookies, bearer headers or signatures', () => {
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l) });
  const runToken = 'ccgr_' + 'A'.repeat(43);
  const apiToken = 'ccgo_' + 'b'.repeat(43);
  const sig = 'f'.repeat(64);
  log.warn('http.error', { reason: `bad token ${runToken}`, err: `Authorization: Bearer ${apiToken}` });
  log.info('x', { token: 'anything-at-all', signature: sig, cookie: '__Host-ccg=abc', password: 'pw', sig: sig, nonce: 'n'.repeat(24) });
  log.info('x', { err: `Cookie: __Host-ccg_session=s3cr3tsessionid; theme=dark`, detail: `set __Host-ccg=sessvalue123; Path=/`, hdr: `x-ccg-signature: ${sig}` });
  log.info('x', { err: 'key sk-ant-api03-' + 'z'.repeat(40) + ' and ghp_' + 'Q'.repeat(36) });
  const text = lines.join('');
  for (const secret of [runToken, apiToken, sig, 'anything-at-all', 'abc', 's3cr3tsessionid', 'sessvalue123', 'z'.repeat(40), 'Q'.repeat(36), 'n'.repeat(24)]) {
    assert.ok(!text.includes(secret), `${secret.slice(0, 12)} leaked: ${text}`);
  }
  assert.match(text, /token="\[REDACTED\]"/);
  assert.match(text, /; Path=\//, "the rest of a line stays readable");
  assert.equal(scrubLogValue('run', '7k2m9x4q3w8z'), '7k2m9x4q3w8z');
  assert.equal(scrubLogValue('path', '/api/v1/runs/7k2m9x4q3w8z/artifacts'), '/api/v1/runs/7k2m9x4q3w8z/artifacts');
});

test("the gateway's own log stays clean through hostile runner and operator requests", async (t) => {
  const lines: string[] = [];
  const g = await startGateway({ log: createLogger({ level: 'debug', write: (l) => lines.push(l) }) });
  t.after(() => g.close());
  const c = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  // A good upgrade, a replay of it, one with a wrong token, one with the token in the URL.
  const h = signedHeaders(c.token, c.id);
  const ok = await rawRunnerUpgrade(g.url, g.fingerprint, h);
  ok.ws?.close();
  await rawRunnerUpgrade(g.url, g.fingerprint, h);
  await rawRunnerUpgrade(g.url, g.fingerprint, signedHeaders('ccgr_' + 'x'.repeat(43), c.id));
  await rawRunnerUpgrade(g.url, g.fingerprint, h, `/v1/runner?token=${c.token}`);
  await runCli(['runs', 'list'], { ...g.env, CCG_TOKEN: 'ccgo_' + 'y'.repeat(43) });
  const op = new WebSocket(new URL(`/v1/operator?access_token=${g.operatorToken}`, g.url.replace('https:', 'wss:')), { agent: new PinnedAgent(g.fingerprint) });
  await new Promise((r) => {
    op.on('error', r);
    op.on('unexpected-response', r);
  });
  const text = lines.join('');
  assert.match(text, /runner\.upgrade_refused/, 'the refusals are logged');
  for (const secret of [c.token, g.operatorToken, h['x-ccg-signature']!, h['x-ccg-nonce']!]) assert.ok(!text.includes(secret), `${secret.slice(0, 10)}… in the gateway log`);
});

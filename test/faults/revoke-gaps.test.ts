import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { uploadPath } from '../../protocol/artifacts.js';
import { HEADER_CONTENT_SHA256, signRequest } from '../../protocol/signing.js';
import { startGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { collect, signedHeaders } from '../helpers/runner-socket.js';

// Issue 13, revocation gaps found by an independent review: a socket that upgraded before the
// revoke but had not said hello stayed open (and was welcomed after it); an upload under way
// was stored after the revoke.

test('revoke closes a runner socket that upgraded but has not said hello yet: closed with ERR_RUN_REVOKED, never welcomed', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const created = await apiRequest(g, 'POST', '/api/v1/runs', { name: 'thief' });
  const runId = created.json.run.id as string;
  const token = created.json.token as string;
  const ws = new WebSocket(new URL('/v1/runner', g.url.replace(/^http/, 'ws')), { headers: signedHeaders(token, runId), agent: new PinnedAgent(g.fingerprint), perMessageDeflate: false });
  const seen = collect(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  // Make sure the gateway has the socket open (not only the client): a round trip through it.
  ws.ping();
  await new Promise<void>((resolve) => ws.once('pong', () => resolve()));
  const revoked = await apiRequest(g, 'POST', `/api/v1/runs/${runId}/revoke`, {});
  assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
  // Before the fix the socket simply stayed open: fail after a generous wait instead of hanging.
  let timer!: NodeJS.Timeout;
  const open = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the socket is still open 20 s after the revoke')), 20_000)));
  const { code, reason } = await Promise.race([seen.closed, open]).finally(() => clearTimeout(timer));
  ws.terminate();
  assert.equal(code, 4401);
  assert.match(reason, /ERR_RUN_REVOKED/);
  assert.ok(!seen.messages.some((m) => (m as { type: string }).type === 'welcome'), 'never welcomed');
});

test('an artifact upload under way when the token is revoked is refused and nothing of it is stored', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const created = await apiRequest(g, 'POST', '/api/v1/runs', { name: 'uploader' });
  const runId = created.json.run.id as string;
  const token = created.json.token as string;
  const body = Buffer.from('x'.repeat(200_000));
  const target = `${uploadPath(runId)}?name=notes.txt&kind=file&collection=exit`;
  const sha = createHash('sha256').update(body).digest('hex');
  const headers = { ...signRequest(token, { method: 'POST', target, runId, bodySha256: sha }), [HEADER_CONTENT_SHA256]: sha, 'content-length': String(body.length) };
  const reply = new Promise<{ status: number; json: { error?: { code: string } } | null }>((resolve, reject) => {
    const req = https.request(new URL(target, g.url), { method: 'POST', agent: new PinnedAgent(g.fingerprint), headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        let json = null;
        try {
          json = JSON.parse(Buffer.concat(parts).toString('utf8'));
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.write(body.subarray(0, 1000));
    t.after(() => req.destroy());
    // The gateway has accepted the signature and begun the upload (its temp file exists): revoke now.
    const tmp = join(g.dataDir, 'artifacts', 'tmp');
    waitFor(() => (existsSync(tmp) && readdirSync(tmp).length > 0 ? true : undefined), 10_000, 'the upload begun')
      .then(() => apiRequest(g, 'POST', `/api/v1/runs/${runId}/revoke`, {}))
      .then((r) => {
        assert.equal(r.status, 200);
        req.end(body.subarray(1000));
      })
      .catch(reject);
  });
  const got = await reply;
  assert.equal(got.status, 401, JSON.stringify(got.json));
  assert.equal(got.json?.error?.code, 'ERR_RUN_REVOKED');
  const listed = await apiRequest(g, 'GET', `/api/v1/runs/${runId}/artifacts`);
  assert.deepEqual(listed.json.artifacts, [], 'nothing stored');
});

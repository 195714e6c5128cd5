import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import https from 'node:https';
import { test } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { uploadPath } from '../../protocol/artifacts.js';
import { HEADER_CONTENT_SHA256, signRequest } from '../../protocol/signing.js';
import { startGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';

interface Reply {
  status: number;
  body: Buffer;
}

function request(g: { url: string; fingerprint: string }, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, g.url), { method, agent: new PinnedAgent(g.fingerprint), headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('two gateway nodes on one JetStream: one secret key and one token table, an artifact uploaded through one downloads through the other, a signed request replayed to the other node is refused', async (t) => {
  const nats = await startNatsCluster(1);
  t.after(() => nats.stop());
  const a = await startGateway({ nats: { servers: [nats.urls] } });
  t.after(() => a.close());
  const b = await startGateway({ nats: { servers: [nats.urls] } });
  t.after(() => b.close());
  assert.ok(a.gw.node && b.gw.node && a.gw.node !== b.gw.node, 'each node has its own id');
  assert.equal(a.gw.store.health().kind, 'jetstream');

  // A's CLI token works on B: one token table.
  const created = await apiRequest(a, 'POST', '/api/v1/runs', { name: 'across' });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const run = created.json as { id: string; token: string };
  const onB = await apiRequest({ url: b.url, fingerprint: b.fingerprint, operatorToken: a.operatorToken }, 'GET', `/api/v1/runs/${run.id}`);
  assert.equal(onB.status, 200, 'the run and the token are known to node B');

  // The run token was sealed by A; B opens it (one secret key) and takes a signed upload.
  const body = Buffer.from('made on node b\n');
  const sha = createHash('sha256').update(body).digest('hex');
  const target = `${uploadPath(run.id)}?name=notes.txt&kind=file&collection=exit`;
  const headers = { ...signRequest(run.token, { method: 'POST', target, runId: run.id, bodySha256: sha }), [HEADER_CONTENT_SHA256]: sha };
  const up = await request(b, 'POST', target, headers, body);
  assert.equal(up.status, 201, up.body.toString());

  // The same signed request again, to the other node: its nonce was claimed cluster-wide.
  const replay = await request(a, 'POST', target, headers, body);
  assert.equal(replay.status, 401, `replay refused: ${replay.body.toString()}`);
  assert.match(replay.body.toString(), /ERR_SIGNATURE_REPLAY|replay|nonce/i);

  // Downloaded through A, which never received it: fetched from the cluster's blobs.
  const dl = await request(a, 'GET', `/api/v1/runs/${run.id}/artifacts/notes.txt`, { authorization: `Bearer ${a.operatorToken}` });
  assert.equal(dl.status, 200);
  assert.equal(dl.body.toString(), 'made on node b\n');
});


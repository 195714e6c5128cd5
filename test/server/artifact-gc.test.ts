import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { uploadPath } from '../../protocol/artifacts.js';
import { HEADER_CONTENT_SHA256, signRequest } from '../../protocol/signing.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A signed artifact upload, as the runner makes it. */
function upload(g: TestGateway, run: { id: string; token: string }, name: string, body: Buffer): Promise<{ status: number; json: { error?: { code: string; message: string } } | null }> {
  const target = `${uploadPath(run.id)}?name=${encodeURIComponent(name)}&kind=file&collection=exit`;
  const headers = { ...signRequest(run.token, { method: 'POST', target, runId: run.id, bodySha256: sha(body) }), [HEADER_CONTENT_SHA256]: sha(body), 'content-length': String(body.length) };
  return new Promise((resolve, reject) => {
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
    req.on('error', reject);
    req.end(body);
  });
}

/** Every blob file under artifacts/sha256. */
function blobs(g: TestGateway): string[] {
  const root = join(g.dataDir, 'artifacts', 'sha256');
  return readdirSync(root).flatMap((d) => readdirSync(join(root, d)));
}

test('30 re-uploads of one name leave one blob; shared content is kept while anything refers to it', async (t) => {
  const g = await startGateway({ limits: { maxArtifactBytes: 80 * 1024, maxRunArtifactBytes: 160 * 1024 } });
  t.after(() => g.close());
  await g.gw.artifacts.swept;
  const a = await g.gw.runs.create('churn', 'test');
  const run = { id: a.run.id, token: a.token };
  let last = Buffer.alloc(0);
  for (let i = 0; i < 30; i++) {
    last = randomBytes(64 * 1024); // binary: stored as is, so its hash is the body's
    const r = await upload(g, run, 'same.bin', last);
    assert.equal(r.status, 201, JSON.stringify(r.json));
  }
  assert.deepEqual(blobs(g), [sha(last)], 'only the blob the name points to is left (before: 30 blobs, 1.9 MiB past a 160 KiB limit)');
  assert.deepEqual(g.gw.artifacts.list(run.id).map((x) => x.sha256), [sha(last)]);

  // The same content under two names (and in two runs): replacing one keeps the blob for the others.
  const b = await g.gw.runs.create('other', 'test');
  const other = { id: b.run.id, token: b.token };
  assert.equal((await upload(g, run, 'copy.bin', last)).status, 201);
  assert.equal((await upload(g, other, 'same.bin', last)).status, 201);
  assert.equal((await upload(g, run, 'same.bin', randomBytes(1024))).status, 201);
  assert.equal((await upload(g, run, 'copy.bin', randomBytes(1024))).status, 201);
  assert.ok(blobs(g).includes(sha(last)), 'still referenced by the other run');
  assert.equal((await upload(g, other, 'same.bin', randomBytes(1024))).status, 201);
  assert.ok(!blobs(g).includes(sha(last)), 'gone with its last reference');
  assert.equal(blobs(g).length, 3, 'one blob per current artifact');
  // Re-uploading identical content under the same name keeps its blob.
  const same = randomBytes(2048);
  assert.equal((await upload(g, other, 'same.bin', same)).status, 201);
  assert.equal((await upload(g, other, 'same.bin', same)).status, 201);
  assert.ok(blobs(g).includes(sha(same)));
  // Downloads of what is listed still work after all that.
  for (const r of [run.id, other.id]) for (const x of g.gw.artifacts.list(r)) assert.ok(existsSync(g.gw.artifacts.blobPath(x.sha256)), x.name);
});

test('a run has a lifetime budget of uploads and bytes, replaced ones included', async (t) => {
  const g = await startGateway({ limits: { maxArtifactBytes: 64 * 1024, maxRunUploadBytes: 200 * 1024, maxRunUploads: 1000 } });
  t.after(() => g.close());
  const a = await g.gw.runs.create('budget', 'test');
  const run = { id: a.run.id, token: a.token };
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await upload(g, run, 'same.bin', randomBytes(60 * 1024))).status);
  assert.deepEqual(statuses, [201, 201, 201, 413, 413], '3 × 60 KiB fit in 200 KiB over the run\'s life; the 4th does not, whatever it replaces');
  const r = await upload(g, run, 'small.bin', randomBytes(1024));
  assert.equal(r.status, 201, 'what is left of the budget can still be used');

  const g2 = await startGateway({ limits: { maxRunUploads: 3 } });
  t.after(() => g2.close());
  const b = await g2.gw.runs.create('count', 'test');
  const counted: number[] = [];
  for (let i = 0; i < 4; i++) counted.push((await upload(g2, { id: b.run.id, token: b.token }, 'n.bin', randomBytes(16))).status);
  assert.deepEqual(counted, [201, 201, 201, 413]);
});

test('at start, blob files nothing refers to are deleted (a crash between commit and delete, or an older gateway)', async (t) => {
  const dataDir = tempDir();
  let g = await startGateway({ dataDir });
  const a = await g.gw.runs.create('kept', 'test');
  const kept = randomBytes(4096);
  assert.equal((await upload(g, { id: a.run.id, token: a.token }, 'kept.bin', kept)).status, 201);
  await g.close();
  const stray = randomBytes(32).toString('hex');
  mkdirSync(join(dataDir, 'artifacts', 'sha256', stray.slice(0, 2)), { recursive: true });
  writeFileSync(join(dataDir, 'artifacts', 'sha256', stray.slice(0, 2), stray), 'left behind');
  g = await startGateway({ dataDir });
  t.after(() => g.close());
  assert.equal(await g.gw.artifacts.swept, 1);
  assert.deepEqual(blobs(g), [sha(kept)]);
});

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import { uploadPath, type ArtifactInfo } from '../../protocol/artifacts.js';
import { HEADER_CONTENT_SHA256, signRequest } from '../../protocol/signing.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: { error?: { code: string; message: string }; artifact?: ArtifactInfo } | null;
  body: Buffer;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function request(g: TestGateway, method: string, path: string, headers: Record<string, string>, body?: Buffer, chunked = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, g.url), { method, agent: new PinnedAgent(g.fingerprint), headers: { ...headers, ...(body && !chunked ? { 'content-length': String(body.length) } : {}) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const buf = Buffer.concat(parts);
        let json = null;
        try {
          json = JSON.parse(buf.toString('utf8'));
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json, body: buf });
      });
    });
    // The gateway may answer (and close) before it has read a refused body: that is the point.
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    if (body && chunked) {
      req.write(body.subarray(0, 10));
      req.end(body.subarray(10));
    } else req.end(body);
  });
}

interface UploadOpts {
  token: string;
  runId: string;
  pathRunId?: string;
  query?: string;
  body: Buffer;
  /** The hash that is signed (default: the body's). */
  signedSha?: string;
  /** The hash in x-ccg-content-sha256 (default: the signed one). */
  headerSha?: string;
  now?: number;
  chunked?: boolean;
  headers?: Record<string, string>;
}

function upload(g: TestGateway, o: UploadOpts): Promise<Reply> {
  const target = `${uploadPath(o.pathRunId ?? o.runId)}?${o.query ?? 'name=notes.txt&kind=file&collection=exit'}`;
  const signedSha = o.signedSha ?? sha(o.body);
  const headers = o.headers ?? {
    ...signRequest(o.token, { method: 'POST', target, runId: o.runId, bodySha256: signedSha }, o.now !== undefined ? { now: o.now } : {}),
    [HEADER_CONTENT_SHA256]: o.headerSha ?? signedSha,
  };
  return request(g, 'POST', target, headers, o.body, o.chunked);
}

async function createRun(g: TestGateway): Promise<CreateRunResponse> {
  return JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
}

test('artifact uploads: only the run token, for its own run, with exactly the signed body, a clean name, within limits', async (t) => {
  const g = await startGateway({ limits: { maxArtifactBytes: 64 * 1024, maxRunArtifacts: 4, maxRunArtifactBytes: 90 * 1024 } });
  t.after(() => g.close());
  const a = await createRun(g);
  const b = await createRun(g);
  const ghp = 'ghp_' + 'Ab1Cd2Ef3Gh4'.repeat(3);

  // A good upload: text is redacted again by the gateway, stored under the hash of what is stored.
  const text = Buffer.from(`run token ${a.token}\ngithub ${ghp}\nplain line\n`);
  const ok = await upload(g, { token: a.token, runId: a.id, body: text, query: 'name=logs%2Fbuild.log&kind=file&collection=exit' });
  assert.equal(ok.status, 201, JSON.stringify(ok.json));
  const info = ok.json!.artifact!;
  assert.equal(info.name, 'logs/build.log');
  assert.equal(info.redacted, true);
  assert.equal(info.contentType, 'text/plain; charset=utf-8');
  const stored = 'run token [REDACTED:ccg-token]\ngithub [REDACTED:github]\nplain line\n';
  assert.equal(info.sha256, sha(stored));
  const dl = await request(g, 'GET', `/api/v1/runs/${a.id}/artifacts/${encodeURIComponent('logs/build.log')}`, { authorization: `Bearer ${g.operatorToken}` });
  assert.equal(dl.body.toString(), stored);
  assert.equal(dl.headers['content-disposition'], 'attachment; filename="build.log"');

  // Binary (it has a NUL) is kept byte for byte.
  const bin = Buffer.concat([Buffer.from([0, 1, 2, 0]), randomBytes(40_000), Buffer.from(ghp)]);
  const okBin = await upload(g, { token: a.token, runId: a.id, body: bin, query: 'name=dump.bin&kind=file&collection=exit' });
  assert.equal(okBin.status, 201);
  assert.equal(okBin.json!.artifact!.sha256, sha(bin));
  assert.equal(okBin.json!.artifact!.redacted, false);
  assert.equal(okBin.json!.artifact!.contentType, 'application/octet-stream');

  const expectError = async (what: string, reply: Promise<Reply>, status: number, code: string) => {
    const r = await reply;
    assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json?.error?.code, code, what);
  };
  const body = Buffer.from('hello\n');
  await expectError('unsigned', request(g, 'POST', `${uploadPath(a.id)}?name=x.txt&kind=file&collection=exit`, { [HEADER_CONTENT_SHA256]: sha(body) }, body), 401, 'ERR_SIGNATURE_MISSING');
  await expectError("another run's token", upload(g, { token: b.token, runId: a.id, body }), 401, 'ERR_SIGNATURE_INVALID');
  await expectError("a valid signature of run B for run A's path", upload(g, { token: b.token, runId: b.id, pathRunId: a.id, body }), 403, 'ERR_FORBIDDEN');
  await expectError('a body other than the signed one', upload(g, { token: a.token, runId: a.id, body, signedSha: sha('something else') }), 401, 'ERR_SIGNATURE_INVALID');
  await expectError('the hash header changed after signing', upload(g, { token: a.token, runId: a.id, body, headerSha: sha('something else') }), 401, 'ERR_SIGNATURE_INVALID');
  await expectError('a stale timestamp', upload(g, { token: a.token, runId: a.id, body, now: Date.now() - 400_000 }), 401, 'ERR_SIGNATURE_STALE');
  await expectError('no content-length (chunked)', upload(g, { token: a.token, runId: a.id, body, chunked: true }), 400, 'ERR_BAD_REQUEST');
  await expectError('a body over the limit', upload(g, { token: a.token, runId: a.id, body: randomBytes(100 * 1024) }), 413, 'ERR_TOO_LARGE');
  const names: [string, string][] = [
    ['traversal', '..%2F..%2Fsecret.key'],
    ['a dot-dot segment', 'a%2F..%2Fb'],
    ['an absolute path', '%2Fetc%2Fpasswd'],
    ['NUL', 'a%00b'],
    ['CRLF (header injection)', 'a.txt%0D%0ASet-Cookie%3A%20x%3D1'],
    ['a quote', 'a%22.txt'],
    ['a space', 'a%20b.txt'],
    ['a backslash', 'a%5Cb'],
    ['empty', ''],
    ['too long', 'a'.repeat(401)],
  ];
  for (const [what, name] of names) {
    await expectError(`name: ${what}`, upload(g, { token: a.token, runId: a.id, body, query: `name=${name}&kind=file&collection=exit` }), 400, 'ERR_BAD_REQUEST');
  }
  await expectError('an unknown kind', upload(g, { token: a.token, runId: a.id, body, query: 'name=x.txt&kind=exe&collection=exit' }), 400, 'ERR_BAD_REQUEST');
  await expectError('an extra parameter', upload(g, { token: a.token, runId: a.id, body, query: 'name=x.txt&kind=file&collection=exit&path=%2Fetc' }), 400, 'ERR_BAD_REQUEST');
  await expectError('a repeated parameter', upload(g, { token: a.token, runId: a.id, body, query: 'name=x.txt&name=..%2Fy&kind=file&collection=exit' }), 400, 'ERR_BAD_REQUEST');

  // A nonce is good once, for uploads as for the upgrade.
  const target = `${uploadPath(a.id)}?name=once.txt&kind=file&collection=exit`;
  const headers = { ...signRequest(a.token, { method: 'POST', target, runId: a.id, bodySha256: sha(body) }), [HEADER_CONTENT_SHA256]: sha(body) };
  assert.equal((await request(g, 'POST', target, headers, body)).status, 201);
  await expectError('a replayed request', request(g, 'POST', target, headers, body), 401, 'ERR_NONCE_REPLAY');

  // Per-run limits: a fifth name is refused, replacing an existing one is not.
  assert.equal((await upload(g, { token: a.token, runId: a.id, body, query: 'name=four.txt&kind=file&collection=exit' })).status, 201);
  await expectError('a fifth artifact', upload(g, { token: a.token, runId: a.id, body, query: 'name=five.txt&kind=file&collection=exit' }), 413, 'ERR_TOO_LARGE');
  assert.equal((await upload(g, { token: a.token, runId: a.id, body: Buffer.from('new\n'), query: 'name=four.txt&kind=file&collection=exit' })).status, 201);
  await expectError('past the bytes per run', upload(g, { token: a.token, runId: a.id, body: randomBytes(60 * 1024), query: 'name=once.txt&kind=file&collection=exit' }), 413, 'ERR_TOO_LARGE');

  // A finished run takes no more uploads.
  assert.equal((await runCli(['runs', 'cancel', b.id], g.env)).code, 0);
  await expectError('a finished run', upload(g, { token: b.token, runId: b.id, body }), 409, 'ERR_RUN_FINISHED');

  // Downloads: names that are not names are simply not found; no token, no download.
  const auth = { authorization: `Bearer ${g.operatorToken}` };
  for (const bad of ['..%2F..%2Fsecret.key', '..', 'a.txt%0D%0ASet-Cookie%3A%20x', '%E0%A4%A']) {
    const r = await request(g, 'GET', `/api/v1/runs/${a.id}/artifacts/${bad}`, auth);
    assert.equal(r.status, 404, bad);
    assert.equal(r.headers['set-cookie'], undefined);
  }
  assert.equal((await request(g, 'GET', `/api/v1/runs/${a.id}/artifacts/dump.bin`, {})).status, 401);
  assert.equal((await request(g, 'GET', `/api/v1/runs/%E0%A4%A/artifacts`, auth)).status, 404, 'a malformed escape is a 404, not a crash');

  const list = (await request(g, 'GET', `/api/v1/runs/${a.id}/artifacts`, auth)).json as unknown as { artifacts: ArtifactInfo[] };
  assert.deepEqual(list.artifacts.map((x) => x.name), ['dump.bin', 'four.txt', 'logs/build.log', 'once.txt']);
  assert.deepEqual((await request(g, 'GET', `/api/v1/runs/${b.id}/artifacts`, auth)).json, { artifacts: [] });
  assert.deepEqual(readdirSync(join(g.dataDir, 'artifacts', 'tmp')), [], 'refused uploads leave nothing behind');

  // A listed artifact whose file is gone (a disk restored without it, a cluster node without the
  // blob store): a clear 404, not a 200 whose connection is then cut.
  const four = list.artifacts.find((x) => x.name === 'four.txt')!;
  rmSync(join(g.dataDir, 'artifacts', 'sha256', four.sha256.slice(0, 2), four.sha256));
  await expectError('a listed artifact whose file is gone', request(g, 'GET', `/api/v1/runs/${a.id}/artifacts/four.txt`, auth), 404, 'ERR_NOT_FOUND');
  assert.match(String((await request(g, 'GET', `/api/v1/runs/${a.id}/artifacts/four.txt`, auth)).json?.error?.message), /file .* is not on this gateway/);
  assert.equal((await request(g, 'GET', `/api/v1/runs/${a.id}/artifacts/once.txt`, auth)).status, 200, 'the others still download');
  assert.equal((await request(g, 'GET', '/healthz', {})).status, 200, 'the gateway is still up');
});

test('artifact upload speed, for the report (not asserted)', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const a = await createRun(g);
  for (const [label, body] of [['4 MiB binary', randomBytes(4 * 1024 * 1024)], ['4 MiB text', Buffer.from('test 123 passed in 4 ms\n'.repeat(174763))]] as const) {
    const started = performance.now();
    const r = await upload(g, { token: a.token, runId: a.id, body, query: `name=${label.replace(/ /g, '-')}&kind=file&collection=exit` });
    const ms = performance.now() - started;
    assert.equal(r.status, 201);
    t.diagnostic(`upload ${label}: ${ms.toFixed(0)} ms (${((body.length / 1024 / 1024) / (ms / 1000)).toFixed(0)} MiB/s, signed, hashed, ${label.includes('text') ? 'redacted, ' : ''}fsynced)`);
  }
});

test('uploads in progress count against the run limits: parallel uploads cannot pass them together', async (t) => {
  const g = await startGateway({ limits: { maxArtifactBytes: 64 * 1024, maxRunArtifactBytes: 100 * 1024 } });
  t.after(() => g.close());
  const a = await createRun(g);
  const body = randomBytes(60 * 1024);
  const target = `${uploadPath(a.id)}?name=first.bin&kind=file&collection=exit`;
  const headers = { ...signRequest(a.token, { method: 'POST', target, runId: a.id, bodySha256: sha(body) }), [HEADER_CONTENT_SHA256]: sha(body), 'content-length': String(body.length) };
  // The first upload sends half its body and waits.
  let firstReply!: Promise<number>;
  const req = https.request(new URL(target, g.url), { method: 'POST', agent: new PinnedAgent(g.fingerprint), headers });
  firstReply = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, 30 * 1024));
  // Once the gateway holds it open, a second 60 KiB upload would pass 100 KiB: refused.
  const { waitFor } = await import('../helpers/processes.js');
  await waitFor(() => (readdirSync(join(g.dataDir, 'artifacts', 'tmp')).length === 1 ? true : undefined), 10_000, 'the first upload to be in progress');
  const second = await upload(g, { token: a.token, runId: a.id, body: randomBytes(60 * 1024), query: 'name=second.bin&kind=file&collection=exit' });
  assert.equal(second.status, 413, JSON.stringify(second.json));
  req.end(body.subarray(30 * 1024));
  assert.equal(await firstReply, 201);
  // A small one still fits.
  assert.equal((await upload(g, { token: a.token, runId: a.id, body: randomBytes(30 * 1024), query: 'name=third.bin&kind=file&collection=exit' })).status, 201);
});

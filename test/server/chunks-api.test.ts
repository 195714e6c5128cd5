import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { ChunksResponse, CreateRunResponse } from '../../protocol/api.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { spawnCcg } from '../helpers/processes.js';

const EMIT = fileURLToPath(new URL('../../../test/fixtures/emit-lines.mjs', import.meta.url));

test('chunks API: bounded ranges forwards (from) and backwards (before), as JSON; hostile queries refused', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--spool-dir', tempDir(), '-q', '--', process.execPath, EMIT, '3000', '600'],
    { CCG_RUN_TOKEN: run.token },
  );
  assert.equal((await runner.exited).code, 0, runner.stderr());
  const last = g.gw.runs.committedSeq(run.id);
  assert.ok(last > 20, `enough chunks to page through (${last})`);
  const get = async (q: string, token = g.operatorToken) => request(g, 'GET', `/api/v1/runs/${run.id}/chunks${q}`, { token });
  const body = async (q: string) => {
    const r = await get(q);
    assert.equal(r.status, 200, `${q}: ${r.text}`);
    return r.json as ChunksResponse;
  };
  const seqs = (b: ChunksResponse) => b.chunks.map((c) => c.seq);

  let b = await body('?from=1&limit=1000&maxBytes=1048576');
  assert.deepEqual(seqs(b), Array.from({ length: last }, (_, i) => i + 1));
  assert.equal(b.lastSeq, last);
  assert.equal(b.more, false);
  const text = b.chunks.filter((c) => c.stream === 0).map((c) => Buffer.from(c.data, 'base64').toString('utf8')).join('');
  assert.equal(text, Array.from({ length: 3000 }, (_, i) => `${i + 1}\n`).join(''));
  assert.ok(b.chunks.every((c) => typeof c.time === 'number' && c.time > 0));

  b = await body('?from=3&limit=5');
  assert.deepEqual([seqs(b), b.more], [[3, 4, 5, 6, 7], true]);
  b = await body(`?before=${last + 1}&limit=5`);
  assert.deepEqual([seqs(b), b.more], [[last - 4, last - 3, last - 2, last - 1, last], true]);
  b = await body(`?before=${Number.MAX_SAFE_INTEGER}&limit=2`);
  assert.deepEqual(seqs(b), [last - 1, last], 'before past the end: the tail');
  b = await body('?before=3');
  assert.deepEqual([seqs(b), b.more], [[1, 2], false]);
  b = await body('?before=1');
  assert.deepEqual([seqs(b), b.more], [[], false]);
  b = await body(`?from=${last + 1}`);
  assert.deepEqual([seqs(b), b.more], [[], false]);
  b = await body(`?before=${last + 1}&maxBytes=1`);
  assert.deepEqual(seqs(b), [last], 'at least one chunk, even past maxBytes');

  const viewer = (await createApiToken(g.gw.store, { name: 'v', role: 'viewer', userId: null, now: Date.now() })).token;
  assert.equal((await get('?from=1', viewer)).status, 200, 'viewers may read output');
  assert.equal((await request(g, 'GET', `/api/v1/runs/${run.id}/chunks`)).status, 401);

  for (const q of ['?from=0', '?from=-1', '?from=abc', '?from=1.5', '?from=1&before=5', '?limit=0', '?limit=1001', '?maxBytes=0', '?maxBytes=2000000', '?tail=5', `?from=${'9'.repeat(20)}`]) {
    const r = await get(q);
    assert.equal(r.status, 400, `${q}: ${r.text}`);
    assert.equal(r.json.error.code, 'ERR_BAD_REQUEST');
  }
  assert.equal((await get(`?from=1&x=${g.operatorToken}`)).json.error.code, 'ERR_TOKEN_IN_URL');
  for (const id of ['zzzzzzzzzzzz', '..%2F..%2Fetc', 'A'.repeat(200)]) {
    const r = await request(g, 'GET', `/api/v1/runs/${id}/chunks`, { token: g.operatorToken });
    assert.equal(r.status, 404, id);
    assert.equal(r.json.error.code, 'ERR_RUN_NOT_FOUND');
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { newRunId, newRunToken } from '../../protocol/ids.js';
import { HEADER_PROTOCOL } from '../../protocol/signing.js';
import { verifyRunnerRequest, type RunnerAuthDeps } from '../../server/auth/runner-auth.js';
import { SecretBox } from '../../server/auth/secret-box.js';
import type { RunRecord } from '../../server/store/types.js';
import { createLogger } from '../../server/log.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { collect, rawRunnerUpgrade, signedHeaders } from '../helpers/runner-socket.js';

async function createRun(g: TestGateway, name = 'r'): Promise<CreateRunResponse> {
  const r = await runCli(['runs', 'create', '--name', name, '--json'], g.env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as CreateRunResponse;
}

test('runner upgrade: valid signature opens the socket, every hostile variant is refused', async (t) => {
  const logLines: string[] = [];
  const g = await startGateway({ log: createLogger({ level: 'debug', write: (l) => logLines.push(l) }) });
  t.after(() => g.close());
  const a = await createRun(g, 'a');
  const b = await createRun(g, 'b');

  const expectRefused = async (headers: Record<string, string>, status: number, code: string, what: string, path?: string) => {
    const r = await rawRunnerUpgrade(g.url, g.fingerprint, headers, path);
    assert.equal(r.status, status, `${what}: status`);
    assert.equal(r.body?.error?.code, code, `${what}: code (${r.body?.error?.message})`);
    assert.ok(r.body?.error?.message, `${what}: has a message`);
  };

  const ok = await rawRunnerUpgrade(g.url, g.fingerprint, signedHeaders(a.token, a.id));
  assert.equal(ok.status, 101);
  ok.ws!.close();

  const replayed = signedHeaders(a.token, a.id, { nonce: 'replay-nonce-000001' });
  assert.equal((await rawRunnerUpgrade(g.url, g.fingerprint, replayed)).ws?.close() ?? 101, 101);
  await expectRefused(replayed, 401, 'ERR_NONCE_REPLAY', 'replayed nonce');
  // 10 s past the ±300 s window: signing floors to whole seconds, and the suite may be slow.
  await expectRefused(signedHeaders(a.token, a.id, { now: Date.now() - 310_000 }), 401, 'ERR_SIGNATURE_STALE', 'stale timestamp');
  await expectRefused(signedHeaders(a.token, a.id, { now: Date.now() + 310_000 }), 401, 'ERR_SIGNATURE_STALE', 'future timestamp');
  await expectRefused(signedHeaders(a.token, a.id, { target: '/v1/other' }), 401, 'ERR_SIGNATURE_INVALID', 'path mismatch');
  await expectRefused(signedHeaders(a.token, a.id, { body: '{"x":1}' }), 401, 'ERR_SIGNATURE_INVALID', 'body mismatch');
  await expectRefused(signedHeaders(a.token, b.id), 401, 'ERR_SIGNATURE_INVALID', 'token of run A on run B');
  const runMismatch = signedHeaders(a.token, a.id);
  await expectRefused({ ...runMismatch, 'x-ccg-run-id': b.id }, 401, 'ERR_SIGNATURE_INVALID', 'run id swapped after signing');
  await expectRefused({ [HEADER_PROTOCOL]: '1' }, 401, 'ERR_SIGNATURE_MISSING', 'no signature at all');
  await expectRefused({ ...signedHeaders(a.token, a.id), 'x-ccg-signature': 'zz' + 'a'.repeat(62) }, 401, 'ERR_SIGNATURE_INVALID', 'garbled signature');
  await expectRefused({ ...signedHeaders(a.token, a.id), 'x-ccg-signature': '' }, 401, 'ERR_SIGNATURE_INVALID', 'empty signature');
  await expectRefused(signedHeaders(a.token, 'zzzzzzzzzzzz'), 404, 'ERR_RUN_NOT_FOUND', 'unknown run');
  await expectRefused({ ...signedHeaders(a.token, a.id), [HEADER_PROTOCOL]: '99' }, 426, 'ERR_VERSION', 'wrong protocol version');
  await expectRefused(signedHeaders(a.token, a.id, { target: `/v1/runner?token=${a.token}` }), 400, 'ERR_TOKEN_IN_URL', 'token in URL', `/v1/runner?token=${a.token}`);

  // Every refusal is logged, and no log line carries a token or a signature.
  const log = logLines.join('');
  assert.ok(logLines.filter((l) => l.includes('runner.upgrade_refused')).length >= 12, 'refusals are logged');
  assert.doesNotMatch(log, /ccg[ro]_/);
  assert.doesNotMatch(log, /[0-9a-f]{64}/);
});

test('a nonce stays used across a gateway restart on the same data dir', async (t) => {
  const dataDir = tempDir();
  const g1 = await startGateway({ dataDir });
  const run = await createRun(g1);
  const headers = signedHeaders(run.token, run.id, { nonce: 'durable-nonce-00001' });
  const first = await rawRunnerUpgrade(g1.url, g1.fingerprint, headers);
  assert.equal(first.status, 101);
  first.ws!.terminate();
  await g1.close();
  const g2 = await startGateway({ dataDir });
  t.after(() => g2.close());
  const again = await rawRunnerUpgrade(g2.url, g2.fingerprint, headers);
  assert.equal(again.status, 401);
  assert.equal(again.body?.error?.code, 'ERR_NONCE_REPLAY');
});

test('protocol violations close only the offending runner socket, with a clear code', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const a = await createRun(g, 'a');
  const b = await createRun(g, 'b');
  const open = async (run: CreateRunResponse) => {
    const r = await rawRunnerUpgrade(g.url, g.fingerprint, signedHeaders(run.token, run.id));
    return r.ws!;
  };
  const hello = (run: CreateRunResponse) =>
    JSON.stringify({ type: 'hello', v: 1, runner: { hostname: 'h', pid: 1, version: 't', mode: 'command', command: ['x'], cwd: '/' } });

  // A healthy runner on run B keeps working throughout.
  const good = await open(b);
  const goodMsgs = collect(good);
  good.send(hello(b));

  const cases: { name: string; send: (ws: import('ws').WebSocket) => void; code: number; reason: RegExp }[] = [
    { name: 'malformed JSON', send: (ws) => ws.send('{not json'), code: 4400, reason: /ERR_BAD_FRAME/ },
    { name: 'unknown type', send: (ws) => ws.send(JSON.stringify({ type: 'rm -rf' })), code: 4400, reason: /ERR_UNKNOWN_TYPE/ },
    { name: 'output before hello', send: (ws) => ws.send(Buffer.from('01000000000000000001ff', 'hex')), code: 4400, reason: /ERR_NOT_READY: output before hello/ },
    {
      name: 'output right after hello, before welcome',
      send: (ws) => {
        ws.send(hello(a));
        ws.send(Buffer.from('01000000000000000001ff', 'hex'));
      },
      code: 4400,
      reason: /ERR_NOT_READY: output before welcome: wait for the gateway's welcome/,
    },
    { name: 'wrong version in hello', send: (ws) => ws.send(JSON.stringify({ type: 'hello', v: 7, runner: { hostname: 'h', pid: 1, version: 't', mode: 'command', command: [], cwd: '/' } })), code: 4426, reason: /ERR_VERSION/ },
    { name: 'oversized binary frame', send: (ws) => ws.send(Buffer.alloc(600 * 1024)), code: 1009, reason: /ERR_FRAME_TOO_LARGE/ },
    { name: 'oversized text frame', send: (ws) => ws.send('"' + 'x'.repeat(100 * 1024) + '"'), code: 1009, reason: /ERR_FRAME_TOO_LARGE/ },
    // Past 4× the limit uWS cuts the connection itself, before reading the frame.
    { name: 'huge frame', send: (ws) => ws.send(Buffer.alloc(8 * 1024 * 1024)), code: 1006, reason: /^$/ },
    {
      name: 'sequence gap',
      send: (ws) => {
        ws.send(hello(a));
        ws.once('message', () => ws.send(Buffer.from('01000000000000000009ff', 'hex')));
      },
      code: 4409,
      reason: /ERR_SEQ_GAP/,
    },
  ];
  for (const c of cases) {
    const ws = await open(a);
    const { closed } = collect(ws);
    c.send(ws);
    const { code, reason } = await closed;
    assert.equal(code, c.code, `${c.name}: close code (${reason})`);
    assert.match(reason, c.reason, c.name);
  }
  assert.equal(good.readyState, good.OPEN, 'the other run was not disturbed');
  assert.ok(goodMsgs.messages.some((m) => (m as { type: string }).type === 'welcome'));
  // …and can still stream: its first chunk is acknowledged.
  good.send(Buffer.from('01000000000000000001' + Buffer.from('still here').toString('hex'), 'hex'));
  await new Promise<void>((resolve) => good.on('message', (d) => (JSON.parse(String(d)).type === 'ack' ? resolve() : undefined)));
  good.close();
});

test("a cluster node that has not heard of a run yet reads it from the store before refusing the runner's signature", async () => {
  const box = new SecretBox(randomBytes(32));
  const token = newRunToken();
  const id = newRunId();
  const run = { id, tokenBox: box.seal(token, `run-token:${id}`) } as RunRecord;
  const known = new Map<string, RunRecord>();
  const fetched: string[] = [];
  const deps = {
    runs: { get: (rid: string) => known.get(rid), tokenOf: (r: RunRecord) => box.open(r.tokenBox, `run-token:${r.id}`) },
    store: {
      claimNonce: async () => true,
      // What another node wrote a moment ago: on the server, not yet in this node's copy.
      fetchRun: async (rid: string) => {
        fetched.push(rid);
        if (rid === id) known.set(rid, run);
        return known.get(rid);
      },
    } as unknown as RunnerAuthDeps['store'],
    now: () => Date.now(),
  };
  const headers = signedHeaders(token, id);
  const got = await verifyRunnerRequest(deps, { method: 'GET', target: '/v1/runner', headers });
  assert.equal(got.id, id);
  assert.deepEqual(fetched, [id], 'asked the store once');
  // Known now: not asked again. An unknown (well-formed) run is asked once and refused; a malformed id is never asked.
  await verifyRunnerRequest(deps, { method: 'GET', target: '/v1/runner', headers: signedHeaders(token, id) });
  const other = newRunId();
  await assert.rejects(verifyRunnerRequest(deps, { method: 'GET', target: '/v1/runner', headers: signedHeaders(token, other) }), (e: unknown) => (e as { code?: string }).code === 'ERR_RUN_NOT_FOUND');
  await assert.rejects(verifyRunnerRequest(deps, { method: 'GET', target: '/v1/runner', headers: { ...signedHeaders(token, id), 'x-ccg-run-id': '../../x' } }));
  assert.deepEqual(fetched, [id, other]);
});

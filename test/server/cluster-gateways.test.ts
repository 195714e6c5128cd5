import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import https from 'node:https';
import { test, type TestContext } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { uploadPath } from '../../protocol/artifacts.js';
import { HEADER_CONTENT_SHA256, signRequest } from '../../protocol/signing.js';
import { approvalInfo, fakeRunner, messagesBeforeSentinel } from '../helpers/fake-runner.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { apiRequest } from '../helpers/http.js';
import { STREAM_STDOUT } from '../../protocol/frames.js';
import { readStreams } from '../helpers/faults.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';

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

/** Two gateway nodes on one nats-server (one JetStream), stopped after the test. */
async function twoNodes(t: TestContext): Promise<{ a: TestGateway; b: TestGateway }> {
  const nats = await startNatsCluster(1);
  t.after(() => nats.stop());
  const a = await startGateway({ nats: { servers: [nats.urls] } });
  t.after(() => a.close());
  const b = await startGateway({ nats: { servers: [nats.urls] } });
  t.after(() => b.close());
  return { a, b };
}

test('two gateway nodes on one JetStream: one secret key and one token table, an artifact uploaded through one downloads through the other, a signed request replayed to the other node is refused', async (t) => {
  const { a, b } = await twoNodes(t);
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


test('two gateway nodes on one JetStream: an approval asked on node A, answered on A and B at once: exactly one answer wins, the runner gets one decision', async (t) => {
  const { a, b } = await twoNodes(t);
  const created = await apiRequest(a, 'POST', '/api/v1/runs', { name: 'approve-across' });
  const run = created.json as { id: string; token: string };
  const runner = await fakeRunner(a, run.id, run.token);
  t.after(() => runner.close());
  await runner.events({ type: 'approval_requested', ...approvalInfo('appr_across000000001') });
  const onB = { url: b.url, fingerprint: b.fingerprint, operatorToken: a.operatorToken };
  await waitFor(async () => ((await apiRequest(onB, 'GET', `/api/v1/runs/${run.id}/approvals`)).json.approvals?.length === 1 ? true : undefined), 10_000, 'node B knows the approval');
  const [ra, rb] = await Promise.all([
    apiRequest(a, 'POST', `/api/v1/runs/${run.id}/approvals/appr_across000000001`, { decision: 'allow' }),
    apiRequest(onB, 'POST', `/api/v1/runs/${run.id}/approvals/appr_across000000001`, { decision: 'deny', message: 'from b' }),
  ]);
  assert.deepEqual([ra.status, rb.status].sort(), [200, 409], `one wins: ${JSON.stringify([ra.json, rb.json])}`);
  const winner = ra.status === 200 ? 'allow' : 'deny';
  const decision = await runner.next('approval_decision');
  assert.equal(decision.decision, winner);
  const before = await messagesBeforeSentinel(a, runner, run.id);
  assert.equal(before.filter((m) => m.type === 'approval_decision').length, 1, 'one decision reached the runner');
});

test('two gateway nodes on one JetStream: a runner that streamed into node A, moved to B and came back to A reads back whole through A, and A takes it on at the seq B stopped at', async (t) => {
  const { a, b } = await twoNodes(t);
  const created = await apiRequest(a, 'POST', '/api/v1/runs', { name: 'moved' });
  const run = created.json as { id: string; token: string };
  const t0 = Date.now();
  const lap = (what: string) => t.diagnostic(`${what} at ${Date.now() - t0} ms`);
  // A node lets the runner go when it leaves (the record then names no node) before it connects elsewhere.
  const letGo = (g: TestGateway, name: string) => waitFor(() => (g.gw.runs.get(run.id)?.runnerNode === null ? true : undefined), 10_000, `${name} let the runner go`);
  const first = await fakeRunner(a, run.id, run.token, { mode: 'command' });
  await Promise.all(['one\n', 'two\n', 'three\n'].map((line) => first.output(STREAM_STDOUT, line))); // sent in order, acked together
  await first.close();
  await letGo(a, 'node A');
  lap('on A: 3 chunks');
  const second = await fakeRunner({ ...b, operatorToken: a.operatorToken }, run.id, run.token, { mode: 'command' });
  await Promise.all(['four\n', 'five\n', 'six\n'].map((line) => second.output(STREAM_STDOUT, line)));
  await second.close();
  await letGo(b, 'node B');
  lap('on B: 3 more');
  // A, which counted 3 when the runner left it, learns the end from B's progress record, and a
  // viewer there reads all of it.
  await waitFor(() => (a.gw.runs.committedSeq(run.id) === 6 ? true : undefined), 10_000, "node A knows B's end");
  assert.deepEqual((await readStreams({ url: a.url, fingerprint: a.fingerprint, token: a.operatorToken }, run.id)).seqs, [1, 2, 3, 4, 5, 6], 'every seq so far through node A');
  lap('read through A');
  // Back on A, which counted 3 when the runner left: it takes the runner on where B stopped.
  const third = await fakeRunner(a, run.id, run.token, { mode: 'command' });
  assert.equal(third.messages.find((m) => m.type === 'welcome')?.nextSeq, 7, 'A asks for seq 7 on');
  await third.output(STREAM_STDOUT, 'seven\n');
  await third.exit(0);
  await third.close();
  await waitFor(() => (b.gw.runs.get(run.id)?.status === 'exited' ? true : undefined), 10_000, 'node B knows the run ended');
  lap('back on A: exited');
  for (const g of [a, b]) {
    const through = await readStreams({ url: g.url, fingerprint: g.fingerprint, token: a.operatorToken }, run.id);
    assert.deepEqual(through.seqs, [1, 2, 3, 4, 5, 6, 7], `every seq through node ${g === a ? 'A' : 'B'}`);
    assert.equal(through.stdout.toString(), 'one\ntwo\nthree\nfour\nfive\nsix\nseven\n');
    assert.equal(g.gw.runs.committedSeq(run.id), 7, `node ${g === a ? 'A' : 'B'}: the committed end is the run's`);
  }
});

test('two gateway nodes on one JetStream: a command asked through node B of a runner on node A is audited once when the runner answers on A', async (t) => {
  const { a, b } = await twoNodes(t);
  const created = await apiRequest(a, 'POST', '/api/v1/runs', { name: 'audit-across' });
  const run = created.json as { id: string; token: string };
  const runner = await fakeRunner(a, run.id, run.token, { mode: 'command', commands: [{ name: 'test', params: [], timeoutMs: 60_000 }] });
  t.after(() => runner.close());
  const onB = { url: b.url, fingerprint: b.fingerprint, operatorToken: a.operatorToken };
  await waitFor(async () => ((await apiRequest(onB, 'GET', `/api/v1/runs/${run.id}`)).json.run?.runnerConnected ? true : undefined), 10_000, 'node B sees the runner');
  const asked = await apiRequest(onB, 'POST', `/api/v1/runs/${run.id}/exec`, { name: 'test', params: {} });
  assert.equal(asked.status, 202, JSON.stringify(asked.json));
  const exec = await runner.next('exec');
  assert.equal(exec.requestId, asked.json.requestId);
  const exit = { type: 'exec_exit', requestId: exec.requestId, name: 'test', code: 0, signal: null, timedOut: false, truncated: false, durationMs: 5 } as const;
  await runner.events(exit, exit); // answered twice: audited once
  const audited = () => a.gw.store.listAudit({ limit: 100 }).filter((e) => e.action === 'command.exit' && e.detail?.['requestId'] === exec.requestId);
  await waitFor(() => (audited().length > 0 ? true : undefined), 10_000, 'the answer audited');
  // A sentinel asked through A, answered after: its entry means the earlier ones were written.
  const sentinel = await apiRequest(a, 'POST', `/api/v1/runs/${run.id}/exec`, { name: 'test', params: {} });
  const exec2 = await runner.next('exec', (m) => m.requestId === sentinel.json.requestId);
  await runner.events({ ...exit, requestId: exec2.requestId, code: 7 });
  await waitFor(() => (a.gw.store.listAudit({ limit: 100 }).some((e) => e.action === 'command.exit' && e.detail?.['code'] === 7) ? true : undefined), 10_000, 'the sentinel audited');
  assert.equal(audited().length, 1, 'one entry for the request asked through B');
});

test('two gateway nodes on one JetStream: a follow-up, a mode switch or a command sent through B for a runner on A is refused once A is cut off from NATS, not answered 202 and dropped', async (t) => {
  const { a, b } = await twoNodes(t);
  const created = await apiRequest(a, 'POST', '/api/v1/runs', { name: 'holder-gone' });
  const run = created.json as { id: string; token: string };
  const runner = await fakeRunner(a, run.id, run.token, { mode: 'claude', remote: { input: true, approval: true }, commands: [{ name: 'test', params: [], timeoutMs: 60_000 }] });
  t.after(() => runner.close());
  const onB = { url: b.url, fingerprint: b.fingerprint, operatorToken: a.operatorToken };
  await waitFor(async () => ((await apiRequest(onB, 'GET', `/api/v1/runs/${run.id}`)).json.run?.runnerConnected ? true : undefined), 10_000, 'node B sees the runner');
  const sent = await apiRequest(onB, 'POST', `/api/v1/runs/${run.id}/input`, { text: 'first' });
  assert.equal(sent.status, 202, JSON.stringify(sent.json));
  assert.equal((await runner.next('input')).text, 'first', 'delivered through A');
  // As if A died: its NATS connection and subscriptions go; B still counts A alive for a few seconds.
  await (a.gw.store as unknown as { link: { nc: { close(): Promise<void> } } }).link.nc.close();
  for (const [path, body] of [['input', { text: 'second' }], ['mode', { mode: 'plan' }], ['exec', { name: 'test', params: {} }]] as const) {
    const r = await apiRequest(onB, 'POST', `/api/v1/runs/${run.id}/${path}`, body);
    assert.equal(r.status, 409, `${path}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error?.code, 'ERR_RUNNER_AWAY', path);
  }
});

test('a node whose NATS server stops answering honours no stored credential and is not ready, within seconds, and recovers when it answers again', async (t) => {
  const nats = await startNatsCluster(1);
  t.after(() => nats.stop());
  const g = await startGateway({ nats: { servers: [nats.urls] } });
  t.after(() => g.close());
  const pid = nats.nodes[0]!.pid()!;
  assert.equal((await apiRequest(g, 'GET', '/api/v1/runs')).status, 200);
  assert.equal((await apiRequest(g, 'GET', '/readyz')).status, 200);
  // Hung, not gone: the socket stays up, so only silence tells. A token revoked on another node
  // meanwhile would pass on this node's copy; it was honoured for 20-30 s (the client's pings).
  process.kill(pid, 'SIGSTOP');
  t.after(() => void (() => { try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ } })());
  const refused = await waitFor(async () => {
    const r = await apiRequest(g, 'GET', '/api/v1/runs');
    return r.status === 200 ? undefined : r;
  }, 8000, 'the token refused while NATS does not answer');
  assert.equal(refused.status, 503, JSON.stringify(refused.json));
  assert.equal((refused.json as { error: { code: string } }).error.code, 'ERR_STORAGE');
  assert.match((refused.json as { error: { message: string } }).error.message, /credentials cannot be checked on this node/);
  assert.equal((await apiRequest(g, 'GET', '/readyz')).status, 503, 'not ready');
  process.kill(pid, 'SIGCONT');
  await waitFor(async () => ((await apiRequest(g, 'GET', '/api/v1/runs')).status === 200 ? true : undefined), 20_000, 'the token honoured again');
  await waitFor(async () => ((await apiRequest(g, 'GET', '/readyz')).status === 200 ? true : undefined), 20_000, 'ready again');
});

test('three NATS servers, two of them killed: the node says it takes no writes (/readyz 503, health not ok), and is ready again once the quorum is back', async (t) => {
  const nats = await startNatsCluster(3);
  t.after(() => nats.stop());
  const g = await startGateway({ nats: { servers: nats.nodes.map((n) => n.url) } });
  t.after(() => g.close());
  assert.equal((await apiRequest(g, 'GET', '/readyz')).status, 200);
  await nats.kill(1);
  await nats.kill(2);
  // It said ok with "degraded" while no write could succeed (runs create failed, login 503).
  // Health is read every 10 s: a later look sees it (a moment of "unreachable" may come first,
  // while the node's client moves to the surviving server).
  await waitFor(() => (/no leader/.test(g.gw.store.health().detail) ? true : undefined), 60_000, 'the store says it has no leader');
  assert.equal(g.gw.store.health().ok, false);
  assert.equal((await apiRequest(g, 'GET', '/readyz')).status, 503);
  // A write is refused saying what is wrong (nats.js's own words were "jetstream is not enabled").
  const w = await apiRequest(g, 'POST', '/api/v1/runs', { name: 'no quorum' });
  assert.equal(w.status, 503, JSON.stringify(w.json));
  assert.match((w.json as { error: { message: string } }).error.message, /no JetStream leader|unreachable|timeout|cannot be checked/i);
  await Promise.all([nats.restart(1, { ready: false }), nats.restart(2, { ready: false })]);
  await nats.ready();
  await waitFor(async () => ((await apiRequest(g, 'GET', '/readyz')).status === 200 ? true : undefined), 60_000, 'ready again with the quorum back');
});

test('a follower rides out its node not hearing NATS for longer than a credential recheck: `runs logs --follow` reconnects and ends with the run, exit 0', async (t) => {
  const nats = await startNatsCluster(1);
  t.after(() => nats.stop());
  const warned: string[] = [];
  const log = { debug() {}, info() {}, warn: (event: string) => void warned.push(event), error() {} };
  const g = await startGateway({ nats: { servers: [nats.urls] }, log });
  t.after(() => g.close());
  const pid = nats.nodes[0]!.pid()!;
  const created = await apiRequest(g, 'POST', '/api/v1/runs', { name: 'blip' });
  const run = created.json as { id: string; token: string };
  const runner = await fakeRunner(g, run.id, run.token, { mode: 'command' });
  t.after(() => runner.close());
  await runner.output(STREAM_STDOUT, 'first\n');
  const follower = spawnCcg(['runs', 'logs', run.id, '--follow'], { CCG_GATEWAY: g.url, CCG_TOKEN: g.operatorToken, CCG_FINGERPRINT: g.fingerprint });
  t.after(() => void (follower.child.exitCode === null && follower.child.kill('SIGKILL')));
  await waitFor(() => (follower.stdout().toString().includes('first') ? true : undefined), 15_000, 'the follower connected');
  // Until the socket's credentials are checked (every 15 s) while the node cannot vouch for
  // them: it closed with an error frame the CLI took for the end, exit 1.
  process.kill(pid, 'SIGSTOP');
  t.after(() => void (() => { try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ } })());
  await waitFor(() => (warned.includes('operator.unverifiable') ? true : undefined), 25_000, 'the socket closed as unverifiable');
  process.kill(pid, 'SIGCONT');
  await runner.output(STREAM_STDOUT, 'second\n');
  await runner.exit(0);
  const { code } = await follower.exited;
  assert.equal(code, 0, follower.stderr());
  assert.equal(follower.stdout().toString(), 'first\nsecond\n');
});

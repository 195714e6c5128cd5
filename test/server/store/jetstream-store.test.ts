import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import { silentLogger } from '../../../server/log.js';
import { MAX_PUBLISHES_IN_FLIGHT } from '../../../server/store/jetstream/chunks.js';
import { JetStreamStore } from '../../../server/store/jetstream/jetstream-store.js';
import type { ApiTokenRecord, AuthChange, RunRecord, UserRecord } from '../../../server/store/types.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster.js';
import { waitFor } from '../../helpers/processes.js';

/** Two gateway nodes' stores on one nats-server: what one writes, the other sees. */
let nats: NatsCluster;
const open = () => JetStreamStore.open({ servers: [nats.urls], log: silentLogger, audit: { retentionMs: 3600_000, maxBytes: 8 * 1024 * 1024 } });

/** Two nodes' stores on the one server, closed after the test. */
async function openTwo(t: TestContext): Promise<[JetStreamStore, JetStreamStore]> {
  const a = await open();
  const b = await open();
  t.after(async () => {
    await a.close();
    await b.close();
  });
  return [a, b];
}

before(async () => {
  nats = await startNatsCluster(1);
});
after(async () => {
  await nats?.stop();
});

function run(id: string, createdAt: number): RunRecord {
  return { id, name: `run ${id}`, status: 'created', runnerConnected: false, createdAt, updatedAt: createdAt, startedAt: null, endedAt: null, exitCode: null, signal: null, reason: null, lastSeq: 0, bytes: 0, createdBy: 'alice', runner: null, tokenBox: 'v1.x.y.z', cancelRequestedBy: null };
}

function user(id: string, name: string): UserRecord {
  return { id, name, email: null, role: 'operator', passwordHash: '$argon2id$x', disabled: false, createdAt: 1, updatedAt: 1, createdBy: 'test', totp: null, totpPending: null };
}

test('JetStream store: chunks are stored once per seq, read forwards and backwards, and a resend is durable only if it is the same bytes', async (t) => {
  const a = await open();
  t.after(() => a.close());
  const id = 'jschunks0001';
  await a.createRun(run(id, 1));
  for (let seq = 1; seq <= 300; seq++) await a.appendChunk(id, { seq, stream: seq % 3, time: 1000 + seq, data: Buffer.from(`line ${seq}\n`) });
  assert.equal(await a.lastSeq(id), 300);
  assert.equal(await a.lastSeq('jsnothing001'), 0);
  const fwd = await a.readChunks(id, 10, { limit: 100, maxBytes: 1e6 });
  assert.deepEqual(fwd.map((c) => c.seq), Array.from({ length: 100 }, (_, i) => i + 10));
  assert.equal(fwd[0]!.data.toString(), 'line 10\n');
  assert.equal(fwd[0]!.stream, 1);
  assert.equal(fwd[0]!.time, 1010);
  const tail = await a.readChunks(id, 290, { limit: 100, maxBytes: 1e6 });
  assert.deepEqual(tail.map((c) => c.seq), Array.from({ length: 11 }, (_, i) => i + 290), 'stops at the end');
  const back = await a.readChunksBefore(id, 301, { limit: 5, maxBytes: 1e6 });
  assert.deepEqual(back.map((c) => c.seq), [296, 297, 298, 299, 300]);
  const beyond = await a.readChunksBefore(id, Number.MAX_SAFE_INTEGER, { limit: 2, maxBytes: 1e6 });
  assert.deepEqual(beyond.map((c) => c.seq), [299, 300]);
  const bounded = await a.readChunks(id, 1, { limit: 1000, maxBytes: 20 });
  assert.deepEqual(bounded.map((c) => c.seq), [1, 2, 3], 'stops once maxBytes is passed');
  // A resend of the same bytes is fine (within the dedupe window and past it); other bytes are a conflict.
  await a.appendChunk(id, { seq: 5, stream: 2, time: 9, data: Buffer.from('line 5\n') });
  await assert.rejects(a.appendChunk(id, { seq: 5, stream: 2, time: 9, data: Buffer.from('other\n') }), (e: unknown) => (e as { code?: string }).code === 'ERR_CONFLICT');
  assert.equal((await a.readChunks(id, 5, { limit: 1, maxBytes: 1e6 }))[0]!.data.toString(), 'line 5\n', 'the stored seq never changes');
});

test('JetStream store: the end of a run is the end of what is stored without a hole (a node that took a runner on past a hole would lose the missing chunk for ever)', async (t) => {
  const a = await open();
  t.after(() => a.close());
  const id = 'jsholes00001';
  await a.createRun(run(id, 1));
  // Seq 2's publish failed (its NATS server died) while 3 to 20 were stored.
  for (const seq of [1, ...Array.from({ length: 18 }, (_, i) => i + 3)]) await a.appendChunk(id, { seq, stream: 1, time: seq, data: Buffer.from(`line ${seq}\n`) });
  assert.equal(await a.lastSeq(id), 1, 'a runner is taken on at seq 2, which it still has');
  await a.appendChunk(id, { seq: 2, stream: 1, time: 2, data: Buffer.from('line 2\n') });
  assert.equal(await a.lastSeq(id), 20);
});

test('JetStream store: 3,000 appends at once (30 runners with 100 unacknowledged each) all land, never more than the cap awaiting their ack', async (t) => {
  const a = await open();
  t.after(() => a.close());
  const runs = Array.from({ length: 30 }, (_, i) => `jsflood${String(i).padStart(5, '0')}`);
  for (const [i, id] of runs.entries()) await a.createRun(run(id, 10 + i));
  const chunks = (a as unknown as { chunks: { pending: { inFlight: number; queued: number } } }).chunks;
  let most = 0;
  let queuedSeen = 0;
  const watch = setInterval(() => {
    most = Math.max(most, chunks.pending.inFlight);
    queuedSeen = Math.max(queuedSeen, chunks.pending.queued);
  }, 1);
  const writes: Promise<void>[] = [];
  for (let seq = 1; seq <= 100; seq++) for (const id of runs) writes.push(a.appendChunk(id, { seq, stream: 1, time: seq, data: Buffer.from(`${id} ${seq}\n`) }));
  most = Math.max(most, chunks.pending.inFlight);
  queuedSeen = Math.max(queuedSeen, chunks.pending.queued);
  await Promise.all(writes);
  clearInterval(watch);
  assert.ok(most <= MAX_PUBLISHES_IN_FLIGHT, `at most ${MAX_PUBLISHES_IN_FLIGHT} in flight (saw ${most})`);
  assert.ok(queuedSeen > 0, 'the rest waited their turn');
  assert.deepEqual(chunks.pending, { inFlight: 0, queued: 0 });
  for (const id of [runs[0]!, runs[29]!]) assert.equal(await a.lastSeq(id), 100);
});

test('JetStream store: two nodes share runs, users, tokens, approvals and nonces; read-modify-writes are atomic across them', async (t) => {
  const [a, b] = await openTwo(t);
  assert.notEqual(a.nodeId, b.nodeId);
  assert.match(a.nodeId, /^n-[0-9a-f]{6}$/);

  // Runs: own writes read back at once; the other node gets them from its watcher, and hears them.
  const heard: RunRecord[] = [];
  b.onRunChange((r) => heard.push(r));
  await a.createRun(run('jsrun0000001', 100));
  await a.createRun(run('jsrun0000002', 200));
  assert.equal(a.getRun('jsrun0000001')?.name, 'run jsrun0000001');
  await waitFor(() => (b.getRun('jsrun0000002') ? true : undefined), 10_000, 'node b sees the run');
  assert.deepEqual(b.listRuns({ limit: 10 }).filter((r) => r.id.startsWith('jsrun')).map((r) => r.id), ['jsrun0000002', 'jsrun0000001'], 'newest first');
  await waitFor(() => (heard.some((r) => r.id === 'jsrun0000002') ? true : undefined), 10_000, 'onRunChange');
  // Both nodes change the same run at once: both changes stay.
  await Promise.all([
    a.updateRun('jsrun0000001', (r) => ({ ...r, cancelRequestedBy: 'alice' })),
    b.updateRun('jsrun0000001', (r) => ({ ...r, bytes: 42 })),
  ]);
  await waitFor(() => {
    const r = b.getRun('jsrun0000001');
    return r?.cancelRequestedBy === 'alice' && r.bytes === 42 ? true : undefined;
  }, 10_000, 'both changes kept');

  // Users: a name is taken once across nodes; the first user once.
  const [first, second] = await Promise.all([a.createUser(user('u1', 'ada'), { onlyFirst: true }), b.createUser(user('u2', 'bob'), { onlyFirst: true })]);
  assert.equal(Number(first) + Number(second), 1, 'exactly one first user');
  const winner = first ? 'ada' : 'bob';
  assert.equal(await b.createUser(user('u3', winner)), false, 'the name is taken on every node');
  await waitFor(() => (a.getUserByName(winner) && b.getUserByName(winner) ? true : undefined), 10_000, 'both see the user');

  // A TOTP step check-and-set from two nodes: only one passes.
  const winnerId = first ? 'u1' : 'u2';
  const step = (s: UserRecord) => ((s.totp?.lastStep ?? 0) < 7 ? { ...s, totp: { box: 'x', lastStep: 7, recoveryHashes: [], enabledAt: 1 } } : undefined);
  const steps = await Promise.all([a.updateUser(winnerId, step), b.updateUser(winnerId, step)]);
  assert.equal(steps.filter(Boolean).length, 1, 'one step accepted across nodes');

  // Tokens: a revocation on one node reaches the other's auth listeners.
  const changes: AuthChange[] = [];
  b.onAuthChange((c) => changes.push(c));
  const tok: ApiTokenRecord = { id: 'tok1', name: 't', role: 'operator', userId: null, createdAt: 1, revokedAt: null };
  await a.putApiToken('abc123', tok);
  await waitFor(() => (b.getApiToken('abc123') ? true : undefined), 10_000, 'b sees the token');
  await a.updateApiToken('abc123', (r) => ({ ...r, revokedAt: 5 }));
  await waitFor(() => (b.getApiToken('abc123')?.revokedAt === 5 && changes.some((c) => c.kind === 'token' && c.id === 'tok1') ? true : undefined), 10_000, 'b hears the revocation');

  // Sessions: one ended on a, b's listeners hear it.
  await a.putSession('sess1', { userId: winnerId, createdAt: 1, lastSeenAt: 1, csrf: 'c', stage: 'full', via: 'password', remote: '127.0.0.1', userAgent: 'x' });
  await waitFor(() => (b.getSession('sess1') ? true : undefined), 10_000, 'b sees the session');
  assert.equal(await a.deleteSession('sess1'), true);
  assert.equal(a.getSession('sess1'), undefined);
  await waitFor(() => (!b.getSession('sess1') && changes.some((c) => c.kind === 'session' && c.id === winnerId) ? true : undefined), 10_000, 'b hears the session end');

  // Nonces: claimed once across nodes.
  const claims = await Promise.all([a.claimNonce('nonce-abcdefghijklmnop', Date.now() + 60_000), b.claimNonce('nonce-abcdefghijklmnop', Date.now() + 60_000)]);
  assert.deepEqual(claims.sort(), [false, true]);

  // Approvals: the first answer wins across nodes.
  const appr = { runId: 'jsrun0000001', approvalId: 'appr_js0000000000001', toolName: 'Bash', input: { command: 'ls' }, state: 'pending', requestedAt: 1 } as unknown as Parameters<typeof a.putApproval>[0];
  await a.putApproval(appr);
  await waitFor(() => (b.getApproval('jsrun0000001', 'appr_js0000000000001') ? true : undefined), 10_000, 'b sees the approval');
  assert.equal(b.listOpenApprovals().length, 1);
  const answer = (by: string) => (cur: typeof appr) => (cur.state === 'pending' ? ({ ...cur, state: 'answered', answer: { decision: 'allow', always: false, message: null, by, at: 2 } } as typeof appr) : undefined);
  const answers = await Promise.all([a.updateApproval('jsrun0000001', 'appr_js0000000000001', answer('alice')), b.updateApproval('jsrun0000001', 'appr_js0000000000001', answer('bob'))]);
  assert.equal(answers.filter(Boolean).length, 1, 'one answer wins');
  assert.deepEqual(a.listApprovals('jsrun0000001', 10).map((x) => x.approvalId), ['appr_js0000000000001']);

  // Audit: entries of both nodes, newest first, redacted.
  await a.appendAudit({ at: 1, actor: 'alice', action: 'test.one', target: null, from: null });
  await b.appendAudit({ at: 2, actor: 'bob', action: 'test.two', target: null, from: null, detail: { note: 'key sk-ant-api03-' + 'x'.repeat(90) } });
  await waitFor(() => (a.listAudit({ limit: 10 }).length >= 2 ? true : undefined), 10_000, 'a sees both entries');
  assert.deepEqual(a.listAudit({ limit: 2 }).map((e) => e.action), ['test.two', 'test.one']);
  assert.ok(!JSON.stringify(a.listAudit({ limit: 2 })).includes('x'.repeat(40)), 'redacted');
  const page = a.listAuditPage({ limit: 1 });
  assert.equal(page.entries[0]!.action, 'test.two');
  assert.equal(a.listAuditPage({ limit: 1, before: page.next! }).entries[0]!.action, 'test.one');

  // Artifacts: a replaced blob is unreferenced once nothing refers to it.
  const art = (sha: string) => ({ name: 'log.txt', kind: 'log', bytes: 10, sha256: sha.repeat(64), uploadedAt: 1 }) as unknown as Parameters<typeof a.putArtifact>[1];
  assert.deepEqual(await a.putArtifact('jsrun0000001', art('a')), { unreferenced: [] });
  assert.deepEqual(await b.putArtifact('jsrun0000001', art('b')), { unreferenced: ['a'.repeat(64)] });
  await waitFor(() => (a.listArtifacts('jsrun0000001')[0]?.sha256 === 'b'.repeat(64) ? true : undefined), 10_000, 'a sees the replacement');
  // The usage is b's last write of the four: a hears it after the record.
  await waitFor(() => (a.usageOf('jsrun0000001').uploads === 2 ? true : undefined), 10_000, 'a sees the usage');
  assert.deepEqual(a.usageOf('jsrun0000001'), { uploads: 2, bytes: 20 });
  assert.equal(a.blobRefs('b'.repeat(64)), 1);

  // Meta: claimed once (the shared secret key).
  const claimed = await Promise.all([a.claimMeta('secret-box', 'A'), b.claimMeta('secret-box', 'B')]);
  assert.equal(claimed[0], claimed[1], 'both nodes end up with the same value');

  assert.equal(a.health().ok, true);
  assert.equal(a.health().kind, 'jetstream');
});

test('JetStream store: a revision claimed by a writer that died before its update does not block the key (the next writer takes it over after a moment)', async (t) => {
  const [a, b] = await openTwo(t);
  const id = 'jsabandon001';
  await a.createRun(run(id, 300));
  await waitFor(() => (b.getRun(id) ? true : undefined), 10_000, 'node b sees the run');
  // A writer on another node claimed the run's current revision, then died (SIGKILL, or its NATS
  // server went away) before it updated the run: its claim stays in the nonce bucket.
  const m = await a.link.jsm.streams.getMessage('KV_ccg_runs', { last_by_subj: `$KV.ccg_runs.${id}` });
  const nonces = await a.link.kvm.open('ccg_nonces');
  await nonces.create(`cas.ccg_runs.${id}.${m!.seq}`, '');
  const t0 = performance.now();
  const updated = await b.updateRun(id, (r) => ({ ...r, cancelRequestedBy: 'bob' }));
  assert.equal(updated?.cancelRequestedBy, 'bob', 'the write went through');
  t.diagnostic(`taken over after ${Math.round(performance.now() - t0)} ms`);
  await waitFor(() => (a.getRun(id)?.cancelRequestedBy === 'bob' ? true : undefined), 10_000, 'node a hears it');
  // And the next write, on a fresh revision, goes at once.
  await a.updateRun(id, (r) => ({ ...r, bytes: 7 }));
  assert.equal(a.getRun(id)?.bytes, 7);
});

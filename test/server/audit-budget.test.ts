import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUDIT_WINDOW_MS, auditCount, AuditAggregator } from '../../server/auth/audit-aggregate.js';
import { AUDIT_TRIM_BATCH, AuditBudget } from '../../server/core/audit-budget.js';
import { silentLogger } from '../../server/log.js';
import type { AuditEntry } from '../../server/store/types.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';

test('a flood of bad logins adds a few audit entries, not one per request; every attempt is counted', async (t) => {
  // Behind a tunnel: the address comes from CF-Connecting-IP, so two attackers can be told apart.
  const g = await startGateway({ trustProxy: true });
  t.after(() => g.close());
  const before = g.gw.store.auditUsage().entries;
  const started = Date.now();
  const login = (ip: string, i: number) =>
    request(g, 'POST', '/api/v1/login', { body: JSON.stringify({ username: `guess${i % 7}`, password: 'wrong password' }), headers: { 'cf-connecting-ip': ip } });
  // Sequential batches: the Argon2 limiter refuses (503, not audited) what queues past 16.
  let sent = 0;
  const statuses: Record<number, number> = {};
  for (let batch = 0; batch < 40; batch++) {
    const rs = await Promise.all(Array.from({ length: 15 }, (_, i) => login(batch % 2 ? '203.0.113.9' : '198.51.100.4', sent + i)));
    sent += rs.length;
    for (const r of rs) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  }
  const audited = (statuses[401] ?? 0) + (statuses[429] ?? 0);
  assert.ok((statuses[429] ?? 0) > 500, JSON.stringify(statuses));
  const during = g.gw.store.auditUsage().entries - before;
  // Before: one entry per request (600). Now: per address, action and minute-long window, the
  // first at once and one entry with the count of the repeats when the window closes.
  const bound = 2 * 2 * 2 * (Math.ceil((Date.now() - started) / AUDIT_WINDOW_MS) + 1);
  assert.ok(during <= bound, `entries written while the flood lasted: ${during} (bound ${bound})`);
  await g.gw.accounts.flushAudit();
  const entries = g.gw.store.listAudit({ limit: 100 }).filter((e) => e.action === 'login.failed' || e.action === 'login.throttled');
  assert.ok(entries.length <= bound, `entries after the window: ${entries.length}`);
  assert.equal(entries.reduce((n, e) => n + auditCount(e), 0), audited, 'every audited attempt is counted');
  const summary = entries.find((e) => e.action === 'login.throttled' && auditCount(e) > 1)!;
  assert.ok(summary, 'a summary entry');
  assert.match(String(summary.detail?.['names']), /guess\d/);
  assert.equal(typeof summary.detail?.['since'], 'number');
});

test('the aggregator: one window per action and address, bounded, flushed with a count', async () => {
  const written: AuditEntry[] = [];
  let now = 1_000_000;
  const agg = new AuditAggregator({ write: async (e) => void written.push(e), now: () => now, isAccount: () => false, windowMs: 3_600_000, maxWindows: 3 });
  const e = (action: string, from: string, actor = 'x'): AuditEntry => ({ at: now, actor, action, target: null, from, detail: { reason: 'password' } });
  for (let i = 0; i < 50; i++) await agg.add(e('login.failed', '10.0.0.1', `n${i}`));
  assert.equal(written.length, 1, 'the first is written at once, the repeats wait');
  await agg.add(e('login.throttled', '10.0.0.1'));
  await agg.add(e('login.failed', '10.0.0.2'));
  assert.equal(written.length, 3);
  // A fourth window: the oldest is written out early.
  await agg.add(e('login.failed', '10.0.0.3'));
  await new Promise((r) => setImmediate(r));
  assert.equal(written.length, 5);
  assert.equal(written[3]!.detail?.['repeated'], 49);
  assert.equal(written[3]!.actor, '(50 unknown names)', 'names that are no account share one window, counted');
  assert.equal(written[3]!.detail?.['distinctNames'], 50);
  assert.equal(written[3]!.detail?.['reasons'], 'password: 49');
  now += 5;
  await agg.flush();
  assert.equal(written.length, 5, 'windows without repeats write nothing more');
  assert.equal(written.reduce((n, x) => n + auditCount(x), 0), 53);
});

test('the audit log keeps its retention and size budget, trimming in batches with the event loop free between them', async (t) => {
  let clock = Date.now();
  const g = await startGateway({ now: () => clock });
  t.after(() => g.close());
  await g.gw.services.auditBudget.stop(); // driven by hand here
  const store = g.gw.store;
  const day = 86_400_000;
  // 3 old entries, then 20,000 recent ones of ~300 bytes.
  for (let i = 0; i < 3; i++) await store.appendAudit({ at: clock - 200 * day + i, actor: 'old', action: 'run.create', target: null, from: null });
  const pad = 'p'.repeat(200);
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 20_000; i++) writes.push(store.appendAudit({ at: clock - 1000 + (i % 1000), actor: 'admin', action: 'run.create', target: `r${i}`, from: '127.0.0.1', detail: { pad } }));
  await Promise.all(writes);
  const full = store.auditUsage();
  assert.equal(full.entries, 20_003);
  const maxBytes = Math.floor(full.bytes / 4);

  const budget = new AuditBudget({ store, log: silentLogger, now: () => clock, limits: { retentionMs: 180 * day, maxBytes } });
  let turns = 0;
  let spinning = true;
  const spin = () => {
    if (!spinning) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  const removed = await budget.enforce();
  spinning = false;
  const after = store.auditUsage();
  assert.ok(after.bytes <= maxBytes, `within the budget: ${after.bytes} > ${maxBytes}`);
  assert.ok(after.entries > 20_000 * 0.15, `not emptied: ${after.entries} left`);
  assert.equal(removed, 20_003 - after.entries + 1, 'one audit.trimmed entry is added');
  assert.ok(turns >= Math.floor(removed / AUDIT_TRIM_BATCH) - 1, `the loop ran between batches (${turns} turns for ${removed} deletions)`);
  const newest = store.listAudit({ limit: 2 });
  assert.equal(newest[0]!.action, 'audit.trimmed');
  assert.equal(newest[0]!.detail?.['overBudget'], true);
  assert.ok(!store.listAudit({ limit: 30_000 }).some((e) => e.actor === 'old'), 'the oldest went first');

  // Retention alone: time passes, everything older than the retention goes.
  clock += 181 * day;
  await store.appendAudit({ at: clock, actor: 'admin', action: 'run.create', target: null, from: null });
  await budget.enforce();
  const left = store.listAudit({ limit: 10 });
  assert.deepEqual(left.map((e) => e.action), ['audit.trimmed', 'run.create']);
});

test('the aggregator keeps an attacked account apart: its own window and entry, whatever junk names come first; reasons counted', async () => {
  const written: AuditEntry[] = [];
  const accounts = new Set(['root', 'alice']);
  const agg = new AuditAggregator({ write: async (e) => void written.push(e), now: () => 1_000_000, isAccount: (n) => accounts.has(n) });
  const e = (actor: string, from = '203.0.113.7'): AuditEntry => ({ at: 1_000_000, actor, action: 'login.failed', target: null, from, detail: { reason: accounts.has(actor) ? 'password' : 'unknown user' } });
  for (let i = 0; i <= 8; i++) await agg.add(e(`junk${i}`));
  for (let i = 0; i < 500; i++) await agg.add(e('root'));
  await agg.add(e('junk9'));
  // From rotating addresses of one /64: one window.
  for (let i = 0; i < 20; i++) await agg.add(e('alice', `2001:db8::${i + 1}`));
  await agg.flush();
  const root = written.filter((w) => w.actor === 'root');
  assert.equal(root.length, 2, 'the first failure for root at once, then its summary');
  assert.equal(root[1]!.detail?.['repeated'], 499);
  assert.equal(root[1]!.detail?.['reasons'], 'password: 499');
  const junk = written.filter((w) => w.actor.includes('unknown name'));
  assert.equal(junk.length, 1);
  assert.equal(junk[0]!.actor, '(10 unknown names)');
  assert.equal(junk[0]!.detail?.['reasons'], 'unknown user: 9');
  assert.match(String(junk[0]!.detail?.['names']), /^junk0, junk1, .*, …$/);
  const alice = written.filter((w) => w.actor === 'alice');
  assert.equal(alice.length, 2, 'a /64 is one address');
  assert.equal(alice[1]!.detail?.['repeated'], 19);
  assert.equal(written.reduce((n, x) => n + auditCount(x), 0), 530);
});

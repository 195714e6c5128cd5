import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUDIT_WINDOW_MS, auditCount } from '../../server/auth/audit-aggregate.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { scaled } from '../helpers/faults.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { addUsers, pageUser } from '../helpers/users.js';

const FLOOD = scaled(3000, 600);

test(`${FLOOD} bad logins from outside: the audit log grows by a few entries, every attempt counted; the gateway stays responsive`, async (t) => {
  const g = await startGateway({ trustProxy: true });
  t.after(() => g.close());
  const before = g.gw.store.auditUsage();
  const started = Date.now();
  let sent = 0;
  const counted: Record<number, number> = {};
  while (sent < FLOOD) {
    const batch = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        request(g, 'POST', '/api/v1/login', { body: JSON.stringify({ username: `admin${(sent + i) % 3}`, password: 'not the password' }), headers: { 'cf-connecting-ip': `198.51.100.${(sent + i) % 4}` } }),
      ),
    );
    sent += batch.length;
    for (const r of batch) counted[r.status] = (counted[r.status] ?? 0) + 1;
  }
  const health = await request(g, 'GET', '/healthz');
  assert.equal(health.status, 200);
  const during = g.gw.store.auditUsage();
  // Four addresses, two actions: per minute-long window, the first entry and one with the count
  // (before: one entry per request).
  const windows = Math.ceil((Date.now() - started) / AUDIT_WINDOW_MS) + 1;
  const bound = 4 * 2 * 2 * windows;
  assert.ok(during.entries - before.entries <= bound, `entries while the flood lasted: ${during.entries - before.entries} (bound ${bound})`);
  await g.gw.accounts.flushAudit();
  const entries = g.gw.store.listAudit({ limit: 1000 }).filter((e) => /^login\./.test(e.action));
  assert.ok(entries.length <= bound, `after the windows: ${entries.length}`);
  assert.equal(entries.reduce((n, e) => n + auditCount(e), 0), (counted[401] ?? 0) + (counted[429] ?? 0), JSON.stringify(counted));
});

test('a hostile run of 32 Claude texts of 64 KiB `*a*a…` viewed by four people at once does not stall the gateway', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'v1', role: 'viewer' }, { name: 'v2', role: 'viewer' }, { name: 'v3', role: 'viewer' }, { name: 'v4', role: 'viewer' }]);
  const viewers = await Promise.all(['v1', 'v2', 'v3', 'v4'].map((n) => pageUser(g, n)));
  const { run, token } = await g.gw.runs.create('hostile markdown', 'admin');
  const r = await fakeRunner(g, run.id, token, { mode: 'claude' });
  t.after(() => r.close());
  for (let k = 0; k < 32; k++) await r.events({ type: 'claude_text', text: `${'*a'.repeat(32 * 1024 - 8)}${String(k).padStart(16, '-')}`, truncated: false, messageId: null, parentToolUseId: null, error: null });
  await waitFor(() => (g.gw.runs.get(run.id)?.lastSeq ?? 0) >= 32 || undefined, 10_000, 'events stored');

  // Four page loads at once, and a health check behind them. Before: ~3.9 s of CPU per load,
  // every route stalled for tens of seconds (~11 s on an idle machine). The bound is generous
  // for a loaded test machine and still far below that.
  const started = Date.now();
  const loads = viewers.map((v) => v.get(`/runs/${run.id}`));
  const health = await request(g, 'GET', '/healthz');
  const healthMs = Date.now() - started;
  const pages = await Promise.all(loads);
  const allMs = Date.now() - started;
  t.diagnostic(`/healthz behind four loads: ${healthMs} ms; the four loads: ${allMs} ms`);
  assert.equal(health.status, 200);
  for (const p of pages) assert.equal(p.status, 200);
  assert.ok(healthMs < 5000, `/healthz answered after ${healthMs} ms`);
  assert.ok(allMs < 10_000, `four page loads took ${allMs} ms`);
});

import type { AuditEntry } from '../../../server/store/types.js';
import { assert, nowAndReopened, makeToken, ODD_IDS, tamper, type ContractTest, type StoreTraits } from './fixtures.js';

const GITHUB = `ghp_${'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'}`;
const ANTHROPIC = `sk-ant-api03-${'x'.repeat(93)}AA`;

function entry(at: number, action: string, over: Partial<AuditEntry> = {}): AuditEntry {
  return { at, actor: 'alice', action, target: `run-${at}`, from: '127.0.0.1', detail: { n: at, ok: true, none: null }, ...over };
}

/** Nonces, API tokens, meta values and the audit log. */
export function authContract(t: ContractTest, traits: StoreTraits): void {
  t('nonces: the first claim wins, every later one (also concurrent, also after a reopen) is refused', async (h) => {
    const far = Date.now() + 3_600_000;
    assert.equal(await h.store.claimNonce('nonce-aaaaaaaaaaaaaaaa', far), true);
    assert.equal(await h.store.claimNonce('nonce-aaaaaaaaaaaaaaaa', far), false);
    const racing = await Promise.all(Array.from({ length: 10 }, () => h.store.claimNonce('nonce-bbbbbbbbbbbbbbbb', far)));
    assert.equal(racing.filter(Boolean).length, 1, 'ten concurrent claims: exactly one wins');
    assert.equal(await h.store.claimNonce('nonce-cccccccccccccccc', far), true, 'another nonce is free');
    const store = await h.reopen();
    assert.equal(await store.claimNonce('nonce-aaaaaaaaaaaaaaaa', far), false, 'durable when resolved');
    assert.equal(await store.claimNonce('nonce-bbbbbbbbbbbbbbbb', far), false);
  });

  t('nonces: pruneNonces drops the expired ones (counting them), which may then be claimed again; the others stay', async ({ store }) => {
    const now = Date.now();
    assert.equal(await store.claimNonce('expired-1-aaaaaaaaaaaa', now - 2000), true);
    assert.equal(await store.claimNonce('expired-2-aaaaaaaaaaaa', now - 1), true);
    assert.equal(await store.claimNonce('live-1-aaaaaaaaaaaaaaa', now + 600_000), true);
    assert.equal(await store.claimNonce('live-2-aaaaaaaaaaaaaaa', now + 1), true);
    if (traits.expiresByItself) {
      // Expiry is the store's own business: a prune changes nothing, and nothing unexpired is lost.
      assert.equal(await store.pruneNonces(now), 0);
      assert.equal(await store.claimNonce('live-1-aaaaaaaaaaaaaaa', now + 600_000), false);
      assert.equal(await store.claimNonce('live-2-aaaaaaaaaaaaaaa', now + 600_000), false);
      return;
    }
    assert.equal(await store.pruneNonces(now), 2);
    assert.equal(await store.pruneNonces(now), 0, 'nothing left to prune');
    assert.equal(await store.claimNonce('expired-1-aaaaaaaaaaaa', now + 600_000), true, 'pruned: free again');
    assert.equal(await store.claimNonce('live-1-aaaaaaaaaaaaaaa', now + 600_000), false, 'not expired: still refused');
    assert.equal(await store.claimNonce('live-2-aaaaaaaaaaaaaaa', now + 600_000), false, 'expiring a millisecond later: still refused');
  });

  t('api tokens: put, get, list; update is atomic, sees the latest, and undefined leaves it', async ({ store }) => {
    assert.equal(store.getApiToken('h1'), undefined);
    assert.deepEqual(store.listApiTokens(), []);
    const rec = makeToken('tok1', { userId: 'u1', credGen: 2 });
    await store.putApiToken('h1', rec);
    await store.putApiToken('h2', makeToken('tok2', { role: 'viewer' }));
    assert.deepEqual(store.getApiToken('h1'), rec);
    assert.deepEqual(
      store.listApiTokens().sort((a, b) => a.hash.localeCompare(b.hash)),
      [{ hash: 'h1', record: rec }, { hash: 'h2', record: makeToken('tok2', { role: 'viewer' }) }],
    );
    // 20 concurrent read-modify-writes: none is lost.
    await Promise.all(Array.from({ length: 20 }, () => store.updateApiToken('h1', (r) => ({ ...r, credGen: (r.credGen ?? 0) + 1 }))));
    assert.equal(store.getApiToken('h1')!.credGen, 22);
    const revoked = await store.updateApiToken('h1', (r) => (r.revokedAt === null ? { ...r, revokedAt: 5 } : undefined));
    assert.equal(revoked?.revokedAt, 5, 'resolves with what was written');
    const again = await store.updateApiToken('h1', (r) => {
      r.revokedAt = 99; // a change that mutates its argument and then declines must not leak
      return undefined;
    });
    assert.equal(again, undefined);
    assert.equal(store.getApiToken('h1')!.revokedAt, 5, 'undefined: left as it was');
    let called = false;
    assert.equal(await store.updateApiToken('missing', (r) => ((called = true), r)), undefined);
    assert.equal(called, false, 'no record: change is not called');
    assert.equal(store.getApiToken('missing'), undefined, 'and none is made');
    const read = store.getApiToken('h2')!;
    tamper(() => (read.role = 'admin'));
    assert.equal(store.getApiToken('h2')!.role, 'viewer', 'a read record is a copy');
  });

  t('api tokens under odd hashes survive a reopen, revocations included', async (h) => {
    for (const [i, hash] of ODD_IDS.entries()) await h.store.putApiToken(hash, makeToken(`tok${i}`));
    await h.store.updateApiToken('a.b', (r) => ({ ...r, revokedAt: 77 }));
    for await (const store of nowAndReopened(h)) {
      assert.equal(store.listApiTokens().length, ODD_IDS.length);
      for (const [i, hash] of ODD_IDS.entries()) assert.equal(store.getApiToken(hash)?.id, `tok${i}`, hash);
      assert.equal(store.getApiToken('a.b')?.revokedAt, 77);
      assert.equal(store.getApiToken('a.b.c')?.revokedAt, null);
      assert.deepEqual(new Set(store.listApiTokens().map((t) => t.hash)), new Set(ODD_IDS));
    }
  });

  t('meta: any JSON value round-trips under any key, is replaced by a put, and survives a reopen', async (h) => {
    assert.equal(h.store.getMeta('absent'), undefined);
    const values: [string, unknown][] = [
      ['policy', { rules: [{ tool: 'Bash', allow: ['npm test'] }], updatedBy: 'ünï' }],
      ['flag', true],
      ['count', 42.5],
      ['text', 'x'.repeat(100_000)],
      ['list', [1, 'two', { three: [3] }]],
      ['machine.pending.abc', { prompt: 'do it', resume: null }],
      ...ODD_IDS.map((k, i): [string, unknown] => [`odd:${k}`, { i }]),
    ];
    for (const [k, v] of values) await h.store.putMeta(k, v);
    await h.store.putMeta('flag', false);
    await h.store.putMeta('machine.pending.gone', null);
    for await (const store of nowAndReopened(h)) {
      for (const [k, v] of values) if (k !== 'flag') assert.deepEqual(store.getMeta(k), v, k);
      assert.equal(store.getMeta('flag'), false);
      assert.equal(store.getMeta('machine.pending.gone') ?? null, null, 'null (or nothing) after putting null');
    }
  });

  t('audit: append, list newest first with a limit, usage counts entries; survives a reopen', async (h) => {
    assert.deepEqual(h.store.listAudit({ limit: 10 }), []);
    assert.equal(h.store.auditUsage().entries, 0);
    for (let i = 1; i <= 12; i++) await h.store.appendAudit(entry(1_700_000_000_000 + i * 10, `act.${i}`));
    const list = h.store.listAudit({ limit: 5 });
    assert.deepEqual(list.map((e) => e.action), ['act.12', 'act.11', 'act.10', 'act.9', 'act.8']);
    assert.deepEqual(list[0], entry(1_700_000_000_120, 'act.12'), 'every field back');
    const usage = h.store.auditUsage();
    assert.equal(usage.entries, 12);
    assert.ok(usage.bytes > 0, 'bytes of a non-empty log');
    const store = await h.reopen();
    assert.equal(store.listAudit({ limit: 100 }).length, 12);
    assert.equal(store.auditUsage().entries, 12);
  });

  t('audit: entries with the same time are all kept, in append order, across a reopen too', async (h) => {
    const at = 1_700_000_000_000;
    await Promise.all([1, 2, 3].map((i) => h.store.appendAudit(entry(at, `same.${i}`))));
    await h.store.appendAudit(entry(at, 'same.4'));
    const store = await h.reopen();
    await store.appendAudit(entry(at, 'same.5'));
    await store.appendAudit(entry(at, 'same.6'));
    const actions = store.listAudit({ limit: 100 }).map((e) => e.action);
    assert.equal(actions.length, 6, `nothing overwritten: ${actions.join(' ')}`);
    assert.deepEqual(actions.slice(0, 3), ['same.6', 'same.5', 'same.4']);
    assert.deepEqual(actions.slice(3).sort(), ['same.1', 'same.2', 'same.3']);
  });

  t('audit: pages walk the whole log newest first, each entry once, next null at the end', async ({ store }) => {
    for (let i = 1; i <= 25; i++) await store.appendAudit(entry(1_700_000_000_000 + i, `a${i}`));
    const seen: string[] = [];
    let before: string | undefined;
    const sizes: number[] = [];
    for (let pages = 0; pages < 10; pages++) {
      const page = store.listAuditPage({ limit: 10, ...(before ? { before } : {}) });
      sizes.push(page.entries.length);
      seen.push(...page.entries.map((e) => e.action));
      if (!page.next) break;
      assert.equal(typeof page.next, 'string');
      before = page.next;
    }
    assert.deepEqual(sizes, [10, 10, 5]);
    assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => `a${25 - i}`));
    // A page that ends exactly at the oldest entry says so.
    const first = store.listAuditPage({ limit: 5 });
    let page = first;
    for (let i = 0; i < 4; i++) page = store.listAuditPage({ limit: 5, before: page.next! });
    assert.equal(page.entries.length, 5);
    assert.equal(page.entries.at(-1)!.action, 'a1');
    const after = page.next === null ? [] : store.listAuditPage({ limit: 5, before: page.next }).entries;
    assert.deepEqual(after, [], 'nothing past the oldest');
    // A cursor stays valid while newer entries arrive.
    const p1 = store.listAuditPage({ limit: 3 });
    await store.appendAudit(entry(1_700_000_000_100, 'newer'));
    assert.deepEqual(store.listAuditPage({ limit: 3, before: p1.next! }).entries.map((e) => e.action), ['a22', 'a21', 'a20']);
  });

  t('audit: trim drops the oldest: all before `before`, at least `atLeast`, at most `limit`; usage follows', async ({ store }) => {
    const at = (i: number) => 1_700_000_000_000 + i * 1000;
    for (let i = 1; i <= 20; i++) await store.appendAudit(entry(at(i), `e${i}`));
    const oldest = () => store.listAudit({ limit: 100 }).at(-1)!.action;
    if (traits.expiresByItself) {
      // The store keeps to its budget by itself: a trim changes nothing.
      assert.equal(await store.trimAudit({ before: at(100), atLeast: 5, limit: 100 }), 0);
      assert.equal(store.auditUsage().entries, 20);
      assert.equal(oldest(), 'e1');
      return;
    }
    assert.equal(await store.trimAudit({ before: at(4), atLeast: 0, limit: 100 }), 3, 'e1..e3 are older than e4');
    assert.equal(oldest(), 'e4');
    assert.equal(await store.trimAudit({ before: 0, atLeast: 2, limit: 100 }), 2, 'at least 2, whatever their age');
    assert.equal(oldest(), 'e6');
    assert.equal(await store.trimAudit({ before: at(100), atLeast: 0, limit: 4 }), 4, 'at most limit');
    assert.equal(oldest(), 'e10');
    assert.equal(await store.trimAudit({ before: at(12), atLeast: 5, limit: 100 }), 5, 'the larger of the two');
    assert.equal(oldest(), 'e15');
    assert.equal(await store.trimAudit({ before: 0, atLeast: 0, limit: 100 }), 0);
    assert.equal(store.auditUsage().entries, 6);
    assert.deepEqual(store.listAudit({ limit: 100 }).map((e) => e.action), ['e20', 'e19', 'e18', 'e17', 'e16', 'e15']);
    assert.equal(await store.trimAudit({ before: at(100), atLeast: 0, limit: 100 }), 6);
    assert.equal(store.auditUsage().entries, 0);
    assert.deepEqual(store.listAudit({ limit: 10 }), []);
    assert.deepEqual(store.listAuditPage({ limit: 10 }), { entries: [], next: null });
  });

  t('audit: secrets of known formats are redacted in every text field before they are stored', async (h) => {
    await h.store.appendAudit({
      at: 1_700_000_000_000,
      actor: GITHUB,
      action: 'run.input',
      target: `https://x:${GITHUB}@github.com/o/r`,
      from: `from ${ANTHROPIC}`,
      detail: { text: `push with this token: ${GITHUB}`, message: `use ${ANTHROPIC} instead`, n: 3, ok: false, none: null },
    });
    for await (const store of nowAndReopened(h)) {
      const [e] = store.listAudit({ limit: 1 });
      const text = JSON.stringify(e);
      assert.ok(!text.includes(GITHUB) && !text.includes(ANTHROPIC), text);
      assert.equal(e!.actor, '[REDACTED:github]');
      assert.equal(e!.detail?.['text'], 'push with this token: [REDACTED:github]');
      assert.match(String(e!.target), /\[REDACTED:github\]/);
      assert.match(String(e!.from), /^from \[REDACTED:[a-z-]+\]$/);
      assert.deepEqual([e!.detail?.['n'], e!.detail?.['ok'], e!.detail?.['none']], [3, false, null], 'non-text fields as they were');
      assert.equal(e!.action, 'run.input');
      assert.deepEqual(store.listAuditPage({ limit: 1 }).entries, [e]);
    }
  });
}

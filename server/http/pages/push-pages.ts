import type { TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../../../protocol/errors.js';
import { PushSubscriptionInput } from '../../notify/web-push.js';
import { ago } from '../../render/run-view.js';
import { pageRoute, redirect, type BrowserDeps } from './browser.js';

/** What the settings page shows under "Notifications on this phone". */
export function pushSettings(d: BrowserDeps, user: string) {
  const now = d.now();
  return {
    publicKey: d.powers.push.publicKey,
    subscriptions: d.powers.push.list(user).map((s) => ({ id: s.id, host: new URL(s.endpoint).host, created: ago(s.createdAt, now) })),
  };
}

/**
 * Web Push from the settings page. The page's script subscribes through the service worker
 * (`/sw.js`) and posts the subscription here with the session's CSRF token, as a form. The
 * bearer API (`/api/v1/push/…`) takes no cookies, so a session can never reach it without this
 * check. Removing a subscription and the test notification are plain forms.
 */
export function mountPushPages(app: TemplatedApp, d: BrowserDeps): void {
  pageRoute(app, d, 'post', '/settings/push', { auth: 'user' }, async (pc) => {
    const f = await pc.form();
    const parsed = PushSubscriptionInput.safeParse({ endpoint: f.get('endpoint') ?? '', keys: { p256dh: f.get('p256dh') ?? '', auth: f.get('auth') ?? '' } });
    if (!parsed.success) throw new CcgError('ERR_BAD_REQUEST', `not a push subscription: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const p = pc.principal!;
    const rec = await d.powers.push.subscribe(parsed.data, p.name, { userId: p.userId ?? null, tokenId: p.tokenId, credGen: p.credGen ?? 0 });
    await d.accounts.audit({ name: p.name, remote: pc.ip }, 'push.subscribe', rec.id, { host: new URL(rec.endpoint).host });
    return { status: 201, json: { id: rec.id } };
  });

  pageRoute(app, d, 'post', '/settings/push/:id/delete', { auth: 'user' }, async (pc) => {
    const id = pc.ctx.params[0] ?? '';
    const p = pc.principal!;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id) || !(await d.powers.push.unsubscribe(id, p.name, false))) throw new CcgError('ERR_NOT_FOUND', 'You have no such subscription.');
    await d.accounts.audit({ name: p.name, remote: pc.ip }, 'push.unsubscribe', id);
    if (pc.htmx || (pc.ctx.headers['accept'] ?? '').startsWith('application/json')) return { status: 200, json: { ok: true } };
    return redirect(pc, '/settings?notice=push-removed#push');
  });

  pageRoute(app, d, 'post', '/settings/push/test', { auth: 'user' }, async (pc) => {
    const p = pc.principal!;
    const url = `${d.runnerUrl(pc.ctx.headers['host'])}/runs`;
    const delivered = await d.powers.push.send({ kind: 'test', runId: '', title: 'ccg notifications work', body: `Sent to ${p.name} from Settings`, url, tag: 'test' }, { user: p.name });
    return redirect(pc, `/settings?notice=${delivered > 0 ? 'push-test-sent' : 'push-test-none'}#push`);
  });
}

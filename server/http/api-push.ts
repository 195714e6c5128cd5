import type { TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../../protocol/errors.js';
import type { Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import { PushSubscriptionInput, type WebPush } from '../notify/web-push.js';
import { parseJson, route, type Ctx } from '../respond.js';

export interface PushApiOptions {
  push: WebPush;
  log: Logger;
  who: (ctx: Ctx) => Principal;
  maxBodyBytes: number;
  baseUrl: () => string;
}

/**
 * Web Push subscriptions for the phone pages: the VAPID public key a service worker subscribes
 * with (`applicationServerKey`), and storing or removing the subscription it gets.
 */
export function mountPushApi(app: TemplatedApp, o: PushApiOptions): void {
  route(app, 'get', '/api/v1/push/key', o.log, (ctx) => {
    o.who(ctx);
    return { status: 200, json: { publicKey: o.push.publicKey } };
  });

  route(app, 'get', '/api/v1/push/subscriptions', o.log, (ctx) => {
    const p = o.who(ctx);
    const subs = o.push.list(p.name).map((s) => ({ id: s.id, host: new URL(s.endpoint).host, createdAt: s.createdAt }));
    return { status: 200, json: { subscriptions: subs } };
  });

  route(app, 'post', '/api/v1/push/subscriptions', o.log, async (ctx) => {
    const p = o.who(ctx);
    const body = parseJson(await ctx.body(Math.min(o.maxBodyBytes, 16 * 1024)), PushSubscriptionInput);
    const rec = await o.push.subscribe(body, p.name, { userId: p.userId ?? null, tokenId: p.tokenId, credGen: p.credGen ?? 0 });
    o.log.info('push.subscribed', { user: p.name, id: rec.id, host: new URL(rec.endpoint).host });
    return { status: 201, json: { id: rec.id } };
  });

  route(app, 'del', '/api/v1/push/subscriptions/:id', o.log, async (ctx) => {
    const p = o.who(ctx);
    const id = ctx.params[0] ?? '';
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new CcgError('ERR_NOT_FOUND', 'no such subscription');
    if (!(await o.push.unsubscribe(id, p.name, p.role === 'admin'))) throw new CcgError('ERR_NOT_FOUND', 'no such subscription');
    return { status: 200, json: { ok: true } };
  });

  // Sends a test notification to the caller's own subscriptions (the "test" button).
  route(app, 'post', '/api/v1/push/test', o.log, async (ctx) => {
    const p = o.who(ctx);
    const delivered = await o.push.send({ kind: 'test', runId: '', title: 'ccg notifications work', body: `Sent to ${p.name}`, url: o.baseUrl(), tag: 'test' }, { user: p.name });
    return { status: 200, json: { delivered } };
  });
}

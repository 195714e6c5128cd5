import { createECDH, createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Agent } from 'node:https';
import { join } from 'node:path';
import type { PushOwner } from './push-audience.js';
// web-push is loaded at the first push sent, not at gateway start: an idle gateway does not pay for it.
let webPushModule: typeof import('web-push') | undefined;
const webPush = () => (webPushModule ??= createRequire(import.meta.url)('web-push') as typeof import('web-push'));
import { z } from 'zod';
import { CcgError } from '../../protocol/errors.js';
import type { Logger } from '../log.js';
import type { ClaudeStore, PushSubscriptionRecord } from '../store/types.js';
import { PushHosts, publicOnlyAgent } from './push-hosts.js';

/** The gateway's VAPID key pair (RFC 8292), made once into `<data>/vapid.json` (mode 0600). */
export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

export function ensureVapidKeys(dataDir: string): VapidKeys {
  const file = join(dataDir, 'vapid.json');
  if (existsSync(file)) {
    const keys = JSON.parse(readFileSync(file, 'utf8')) as Partial<VapidKeys>;
    if (typeof keys.publicKey === 'string' && typeof keys.privateKey === 'string') return { publicKey: keys.publicKey, privateKey: keys.privateKey };
  }
  // A P-256 key pair as web-push's generateVAPIDKeys makes it: the uncompressed public point and
  // the 32-byte private scalar, base64url.
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const keys: VapidKeys = { publicKey: ecdh.getPublicKey().toString('base64url'), privateKey: ecdh.getPrivateKey().toString('hex').padStart(64, '0') };
  keys.privateKey = Buffer.from(keys.privateKey, 'hex').toString('base64url');
  writeFileSync(file, JSON.stringify(keys, null, 2) + '\n', { mode: 0o600 });
  return keys;
}

const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/** A subscription as a browser's PushSubscription.toJSON() gives it. */
export const PushSubscriptionInput = z
  .object({
    endpoint: z.string().min(10).max(2048).url(),
    expirationTime: z.number().nullable().optional(),
    keys: z
      .object({
        // An uncompressed P-256 point (65 bytes → 87 base64url characters) and a 16-byte secret.
        p256dh: z.string().min(80).max(100).regex(B64URL, 'keys.p256dh must be base64url'),
        auth: z.string().min(16).max(32).regex(B64URL, 'keys.auth must be base64url'),
      })
      .strict(),
  })
  .strict();
export type PushSubscriptionInput = z.infer<typeof PushSubscriptionInput>;

export interface PushPayload {
  title: string;
  body: string;
  /** Where a tap on the notification should go (the run's page). */
  url: string;
  runId: string;
  kind: 'approval' | 'input' | 'finished' | 'retrying' | 'test';
  /** Notifications with the same tag replace each other on the phone. */
  tag: string;
}

export interface WebPushOptions {
  store: ClaudeStore;
  keys: VapidKeys;
  /** `mailto:` or `https:` contact for push services (CCG_VAPID_SUBJECT). */
  subject: string;
  log: Logger;
  now: () => number;
  /** The agent for push hosts the admin configured (tests: one that trusts the local stand-in). */
  agent?: Agent;
  /** Push hosts the admin allows besides the browsers' own services (`--push-hosts`). */
  pushHosts?: readonly string[];
  /** Whether a subscription's owner may still be notified (push-audience.ts); default: everyone. */
  audience?: (rec: PushSubscriptionRecord) => boolean;
}

/** Push subscriptions one user may keep (a phone, a laptop, a few browsers). */
export const MAX_SUBSCRIPTIONS_PER_USER = 10;
/** Test notifications one user may ask for per minute. */
const TESTS_PER_MINUTE = 3;

/**
 * Web Push to subscribed phones: payloads encrypted per RFC 8291 (aes128gcm) and signed with
 * the gateway's VAPID key, by the `web-push` package. A subscription the push service says is
 * gone (404/410) is deleted.
 */
export class WebPush {
  private readonly hosts: PushHosts;
  private readonly tests = new Map<string, number[]>();

  constructor(private readonly o: WebPushOptions) {
    this.hosts = new PushHosts(o.pushHosts ?? []);
  }

  get publicKey(): string {
    return this.o.keys.publicKey;
  }

  /**
   * Stores a browser's subscription for `user`. Only https endpoints of a known push service
   * (or a host the admin added) are taken, at most MAX_SUBSCRIPTIONS_PER_USER per user.
   */
  async subscribe(input: PushSubscriptionInput, user: string, owner?: PushOwner): Promise<PushSubscriptionRecord> {
    const url = new URL(input.endpoint);
    if (url.protocol !== 'https:') throw new CcgError('ERR_BAD_REQUEST', 'a push endpoint must be an https:// URL');
    if (url.username || url.password) throw new CcgError('ERR_BAD_REQUEST', 'a push endpoint must not carry credentials');
    // The gateway POSTs to this URL: never let a subscription aim it at the gateway's own network.
    if (!this.hosts.match(url)) {
      throw new CcgError('ERR_BAD_REQUEST', `a push endpoint must be on a browser push service (FCM, Mozilla, Windows, Apple); ${url.hostname.slice(0, 100)} is not one the gateway allows (an admin can add hosts with --push-hosts)`);
    }
    const id = createHash('sha256').update(input.endpoint).digest('base64url').slice(0, 32);
    const mine = this.list(user).filter((s) => s.id !== id);
    if (mine.length >= MAX_SUBSCRIPTIONS_PER_USER) {
      throw new CcgError('ERR_BAD_REQUEST', `you have ${mine.length} push subscriptions, the most one user may keep: remove one first (DELETE /api/v1/push/subscriptions/ID)`);
    }
    const rec: PushSubscriptionRecord = { id, endpoint: input.endpoint, keys: input.keys, user, ...(owner ? { userId: owner.userId, tokenId: owner.tokenId, ...(owner.userId ? { credGen: owner.credGen ?? 0 } : {}) } : {}), createdAt: this.o.now() };
    await this.o.store.putPushSubscription(rec);
    return rec;
  }

  async unsubscribe(id: string, user: string, admin: boolean): Promise<boolean> {
    const rec = this.o.store.listPushSubscriptions().find((s) => s.id === id);
    if (!rec) return false;
    if (rec.user !== user && !admin) throw new CcgError('ERR_FORBIDDEN', 'this subscription is not yours');
    return this.o.store.deletePushSubscription(id);
  }

  list(user: string | null): PushSubscriptionRecord[] {
    return this.o.store.listPushSubscriptions().filter((s) => user === null || s.user === user);
  }

  /**
   * Deletes the subscriptions whose owner may no longer be notified (deleted, disabled, token
   * revoked): run after every account change. Resolves with how many went.
   */
  async prune(): Promise<number> {
    const audience = this.o.audience;
    if (!audience) return 0;
    let n = 0;
    for (const s of this.o.store.listPushSubscriptions()) {
      if (audience(s)) continue;
      if (await this.o.store.deletePushSubscription(s.id)) n++;
      this.o.log.info('push.subscription_dropped', { id: s.id, user: s.user });
    }
    return n;
  }

  /** Test notifications are on demand: at most TESTS_PER_MINUTE a minute per user, whichever page or API asks. */
  private allowTest(user: string): void {
    const now = Date.now();
    const recent = (this.tests.get(user) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= TESTS_PER_MINUTE) throw new CcgError('ERR_RATE_LIMIT', `at most ${TESTS_PER_MINUTE} test notifications a minute`);
    recent.push(now);
    this.tests.set(user, recent);
    if (this.tests.size > 10_000) this.tests.clear();
  }

  /**
   * Sends to every subscription (or those of `user`); resolves with how many were delivered.
   * A `test` notification throws ERR_RATE_LIMIT past TESTS_PER_MINUTE a minute for its user.
   */
  async send(payload: PushPayload, opts: { user?: string; urgent?: boolean } = {}): Promise<number> {
    if (payload.kind === 'test') this.allowTest(opts.user ?? '');
    // Checked again at send time: a subscription stored under an older configuration is skipped.
    const subs = this.list(opts.user ?? null).filter((s) => {
      // The owner is checked now, not only when the sweep runs: nothing is sent to a deleted or
      // disabled user, whatever is still stored.
      if (this.o.audience && !this.o.audience(s)) return false;
      const ok = this.hosts.match(new URL(s.endpoint)) !== null;
      if (!ok) this.o.log.warn('push.host_refused', { id: s.id, host: new URL(s.endpoint).host });
      return ok;
    });
    const body = JSON.stringify(payload);
    const webpush = subs.length > 0 ? webPush() : null;
    const results = await Promise.allSettled(
      subs.map((s) => {
        // Built-in services: a connection only to public addresses, whatever DNS says at that moment.
        const agent = this.hosts.match(new URL(s.endpoint)) === 'builtin' ? publicOnlyAgent : this.o.agent;
        return webpush!.sendNotification({ endpoint: s.endpoint, keys: s.keys }, body, {
          vapidDetails: { subject: this.o.subject, publicKey: this.o.keys.publicKey, privateKey: this.o.keys.privateKey },
          TTL: payload.kind === 'approval' ? 600 : 3600,
          urgency: opts.urgent ? 'high' : 'normal',
          topic: payload.tag.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 32),
          timeout: 10_000,
          ...(agent ? { agent } : {}),
        });
      }),
    );
    let delivered = 0;
    results.forEach((r, i) => {
      const s = subs[i]!;
      if (r.status === 'fulfilled') {
        delivered++;
        return;
      }
      const status = (r.reason as { statusCode?: number }).statusCode;
      if (status === 404 || status === 410) {
        this.o.log.info('push.subscription_gone', { id: s.id, status });
        void this.o.store.deletePushSubscription(s.id);
      } else {
        this.o.log.warn('push.failed', { id: s.id, host: new URL(s.endpoint).host, status: status ?? null, err: String((r.reason as Error).message ?? r.reason).slice(0, 200) });
      }
    });
    return delivered;
  }
}

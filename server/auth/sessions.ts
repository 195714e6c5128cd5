import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthStore, SessionRecord, UserRecord } from '../store/types.js';

/**
 * Browser sessions. The id is 256 random bits and lives only in the `__Host-ccg` cookie (Secure,
 * HttpOnly, SameSite=Strict, Path=/, no Domain: the browser sends it to this origin alone); the
 * store keys the session by the id's SHA-256, so a copy of the database cannot be replayed as a
 * cookie. Sessions end when idle too long, when too old, at logout, and when the user is
 * disabled, deleted or changes the password (a session made under an older credential
 * generation is refused, however late it was made). Every login gets a new id.
 */
export const SESSION_COOKIE = '__Host-ccg';
/** Double-submit token of the anonymous forms (login, setup), against login CSRF. */
export const PRE_COOKIE = '__Host-ccg-pre';

export interface SessionPolicy {
  /** A session unused this long ends. */
  idleMs: number;
  /** A session this old ends, used or not. */
  maxMs: number;
  /** How long the "password right, code still due" stage may last. */
  pendingMs: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = { idleMs: 12 * 3600_000, maxMs: 7 * 24 * 3600_000, pendingMs: 5 * 60_000 };

/** lastSeenAt is written at most this often (reads are free, writes are not). */
const TOUCH_EVERY_MS = 60_000;

export interface ResolvedSession {
  hash: string;
  record: SessionRecord;
  user: UserRecord;
}

export function hashSessionId(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** Reads one cookie from a Cookie header (the first occurrence wins). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function cookieHeader(name: string, value: string, maxAgeS: number): string {
  return `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${Math.max(0, Math.floor(maxAgeS))}`;
}

export function clearCookieHeader(name: string): string {
  return `${name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;
}

const ID_RE = /^[A-Za-z0-9_-]{43}$/;

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class SessionService {
  /** Touches not yet committed: a read right after a touch must not see the older lastSeenAt. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly store: AuthStore,
    private readonly now: () => number,
    readonly policy: SessionPolicy = DEFAULT_SESSION_POLICY,
  ) {}

  /**
   * Starts a session; returns the id for the cookie (never stored) and the Set-Cookie value. It
   * carries `meta.credGen`, else the generation of `user` as given: pass the record whose
   * password was checked, not a fresh read.
   */
  async create(user: UserRecord, meta: Pick<SessionRecord, 'stage' | 'via' | 'remote' | 'userAgent'> & { credGen?: number }): Promise<{ id: string; hash: string; record: SessionRecord; cookie: string }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    const record: SessionRecord = {
      userId: user.id,
      createdAt: now,
      lastSeenAt: now,
      csrf: randomBytes(32).toString('base64url'),
      ...meta,
      userAgent: meta.userAgent.slice(0, 200),
      credGen: meta.credGen ?? user.credGen ?? 0,
    };
    const hash = hashSessionId(id);
    await this.store.putSession(hash, record);
    const life = meta.stage === 'totp' ? this.policy.pendingMs : this.policy.maxMs;
    return { id, hash, record, cookie: cookieHeader(SESSION_COOKIE, id, life / 1000) };
  }

  /** The live session named by the Cookie header, or undefined (unknown, expired, user gone or disabled). */
  resolve(cookie: string | undefined): ResolvedSession | undefined {
    const id = readCookie(cookie, SESSION_COOKIE);
    if (!id || !ID_RE.test(id)) return undefined;
    this.store.assertCredentialsCurrent?.();
    const hash = hashSessionId(id);
    const stored = this.store.getSession(hash);
    if (!stored) return undefined;
    const touched = this.seen.get(hash);
    const record = touched && touched > stored.lastSeenAt ? { ...stored, lastSeenAt: touched } : stored;
    if (this.expired(record)) {
      void this.store.deleteSession(hash).catch(() => undefined);
      return undefined;
    }
    const user = this.store.getUser(record.userId);
    if (!user || user.disabled || (record.credGen ?? 0) < (user.credGen ?? 0)) return undefined;
    return { hash, record, user };
  }

  expired(rec: SessionRecord): boolean {
    const now = this.now();
    if (rec.stage === 'totp') return now - rec.createdAt > this.policy.pendingMs;
    return now - rec.lastSeenAt > this.policy.idleMs || now - rec.createdAt > this.policy.maxMs;
  }

  /** Records use of a session (at most once a minute), which keeps it from going idle. */
  touch(s: ResolvedSession): void {
    const now = this.now();
    if (now - s.record.lastSeenAt < TOUCH_EVERY_MS) return;
    s.record = { ...s.record, lastSeenAt: now };
    this.seen.set(s.hash, now);
    void this.store
      .putSession(s.hash, s.record)
      .catch(() => undefined)
      .finally(() => {
        if (this.seen.get(s.hash) === now) this.seen.delete(s.hash);
      });
  }

  checkCsrf(s: ResolvedSession, presented: string | undefined): boolean {
    return typeof presented === 'string' && safeEqual(presented, s.record.csrf);
  }

  async destroy(hash: string): Promise<void> {
    this.seen.delete(hash);
    await this.store.deleteSession(hash);
  }

  /**
   * Ends every session of a user, except (optionally) the one making the change; after a
   * password change that one is moved to the user's new credential generation.
   */
  async destroyUser(userId: string, keepHash?: string): Promise<number> {
    const n = await this.store.deleteSessions((rec, hash) => rec.userId === userId && hash !== keepHash);
    const kept = keepHash === undefined ? undefined : this.store.getSession(keepHash);
    const user = this.store.getUser(userId);
    if (kept && user && kept.userId === userId && (kept.credGen ?? 0) !== (user.credGen ?? 0)) await this.store.putSession(keepHash!, { ...kept, credGen: user.credGen ?? 0 });
    return n;
  }

  async prune(): Promise<number> {
    return this.store.deleteSessions((rec) => this.expired(rec));
  }
}

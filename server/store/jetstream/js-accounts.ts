import { CcgError } from '../../../protocol/errors.js';
import type { ApiTokenRecord, AuthChange, SessionRecord, UserRecord } from '../types.js';
import { fromKeyPart, keyPart } from './keys.js';
import type { KvMirror } from './kv-mirror.js';

/** `ccg_users` holds the users (`u.<id>`), a claim on each name (`n.<name>` → id) and the first user's claim (`first`). */
type UsersValue = UserRecord | string;

const userKey = (id: string) => `u.${keyPart(id)}`;
const nameKey = (name: string) => `n.${keyPart(name)}`;
const FIRST_KEY = 'first';

/**
 * Users, API tokens and browser sessions on their KV buckets. Names are unique across nodes by
 * an atomic create of the name's claim; a read-modify-write goes through the revision check.
 * Every change a node applies (its own, or another node's from the watcher) is told to
 * `onAuthChange` listeners as the LMDB store tells its own: a token or user changed, a session
 * ended. So a token revoked on one node closes its sockets on every node.
 */
export class JsAccounts {
  private readonly listeners = new Set<(change: AuthChange) => void>();

  constructor(
    private readonly users: KvMirror<UsersValue>,
    private readonly tokens: KvMirror<ApiTokenRecord>,
    private readonly sessions: KvMirror<SessionRecord>,
  ) {
    tokens.onChange((c) => {
      const rec = c.value ?? c.old;
      if (rec) this.emit({ kind: 'token', id: rec.id });
    });
    users.onChange((c) => {
      if (!c.key.startsWith('u.')) return;
      const rec = (c.value ?? c.old) as UserRecord | undefined;
      if (rec) this.emit({ kind: 'user', id: rec.id });
    });
    sessions.onChange((c) => {
      // Ended (logout, expiry, a password change): its user's sockets and streams re-check.
      if (c.value === undefined && c.old) this.emit({ kind: 'session', id: c.old.userId });
    });
  }

  onAuthChange(listener: (change: AuthChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: AuthChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch {
        /* a listener's failure is its own: the write is done */
      }
    }
  }

  // ---- tokens

  /** Throws ERR_STORAGE unless the copies of users, tokens and sessions were known current within `ms`. */
  mustBeConfirmed(ms: number): void {
    for (const [what, m] of [['users', this.users], ['API tokens', this.tokens], ['sessions', this.sessions]] as const) {
      if (!m.confirmedWithin(ms)) throw new CcgError('ERR_STORAGE', `credentials cannot be checked on this node: its copy of the ${what} has not been confirmed current for over ${ms / 1000} s (NATS unreachable, split, or without a leader); retry, or use another node`);
    }
  }

  getApiToken(hash: string): ApiTokenRecord | undefined {
    return this.tokens.get(keyPart(hash));
  }

  putApiToken(hash: string, rec: ApiTokenRecord): Promise<void> {
    return this.tokens.put(keyPart(hash), rec);
  }

  listApiTokens(): { hash: string; record: ApiTokenRecord }[] {
    return [...this.tokens.all()].map(([k, record]) => ({ hash: fromKeyPart(k), record: structuredClone(record) }));
  }

  updateApiToken(hash: string, change: (rec: ApiTokenRecord) => ApiTokenRecord | undefined): Promise<ApiTokenRecord | undefined> {
    return this.tokens.update(keyPart(hash), change);
  }

  // ---- users

  getUser(id: string): UserRecord | undefined {
    return this.users.get(userKey(id)) as UserRecord | undefined;
  }

  getUserByName(name: string): UserRecord | undefined {
    const id = this.users.get(nameKey(name));
    return typeof id === 'string' ? this.getUser(id) : undefined;
  }

  listUsers(): UserRecord[] {
    const out: UserRecord[] = [];
    for (const [k, v] of this.users.all()) if (k.startsWith('u.')) out.push(structuredClone(v as UserRecord));
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  private countUsers(): number {
    let n = 0;
    for (const [k] of this.users.all()) if (k.startsWith('u.')) n++;
    return n;
  }

  async createUser(user: UserRecord, opts: { onlyFirst?: boolean } = {}): Promise<boolean> {
    if (opts.onlyFirst) {
      // The first user is claimed once, by whichever node gets there first.
      if (this.countUsers() > 0) return false;
      if (!(await this.users.create(FIRST_KEY, user.id))) return false;
    }
    if (!(await this.users.create(nameKey(user.name), user.id))) return false;
    await this.users.put(userKey(user.id), user);
    return true;
  }

  updateUser(id: string, change: (user: UserRecord) => UserRecord | undefined): Promise<UserRecord | undefined> {
    return this.users.update(userKey(id), (cur) => change(cur as UserRecord)) as Promise<UserRecord | undefined>;
  }

  async deleteUser(id: string): Promise<void> {
    const cur = this.getUser(id);
    if (!cur) return;
    await this.users.delete(userKey(id));
    if (this.users.get(nameKey(cur.name)) === id) await this.users.delete(nameKey(cur.name));
  }

  // ---- sessions

  getSession(hash: string): SessionRecord | undefined {
    return this.sessions.get(keyPart(hash));
  }

  putSession(hash: string, rec: SessionRecord): Promise<void> {
    return this.sessions.put(keyPart(hash), rec);
  }

  deleteSession(hash: string): Promise<boolean> {
    return this.sessions.delete(keyPart(hash));
  }

  async deleteSessions(drop: (rec: SessionRecord, hash: string) => boolean): Promise<number> {
    const keys: string[] = [];
    for (const [k, rec] of this.sessions.all()) if (drop(structuredClone(rec), fromKeyPart(k))) keys.push(k);
    await Promise.all(keys.map((k) => this.sessions.delete(k)));
    return keys.length;
  }
}

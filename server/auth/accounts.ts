import { randomBytes } from 'node:crypto';
import { Email, Password, Username, type UserRole } from '../../protocol/accounts.js';
import { CcgError } from '../../protocol/errors.js';
import type { Logger } from '../log.js';
import type { AuditEntry, AuthStore, UserRecord } from '../store/types.js';
import { revokeUserTokens } from './api-tokens.js';
import { AGGREGATED_ACTIONS, AuditAggregator } from './audit-aggregate.js';
import { deviceCookie, readDeviceCookie, type KnownDevice } from './device-cookie.js';
import { burnPasswordCheck, hashPassword, needsRehash, passwordTooLong, verifyPassword } from './passwords.js';
import type { SecretBox } from './secret-box.js';
import { LoginThrottle } from './throttle.js';
import { hashRecoveryCode, isRecoveryCode, newRecoveryCodes, newTotpSecret, totpStep, totpUri } from './totp.js';

export type AuditDetail = Record<string, string | number | boolean | null>;

export interface AccountDeps {
  store: AuthStore;
  box: SecretBox;
  log: Logger;
  now: () => number;
  throttle: LoginThrottle;
  /** Name shown in authenticator apps. */
  issuer?: string;
}

/** Who is acting, for the audit log. */
export interface Actor {
  name: string;
  remote: string | null;
}

export type PasswordResult = { user: UserRecord; needsCode: boolean };

/**
 * A user's credential generation: bumped by every password change and reset. Tokens and sessions
 * carry the generation they were made under and are refused once it is older than the user's,
 * however late they were made (a login that checked the old password before the change).
 */
export function credGenOf(u: Pick<UserRecord, 'credGen'>): number {
  return u.credGen ?? 0;
}

/** The one answer for an unknown user, a wrong password and a disabled account. */
const loginFailed = () => new CcgError('ERR_LOGIN_FAILED', 'wrong username or password');

function validate<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { message: string }[] } } }, v: unknown): T {
  const r = schema.safeParse(v);
  if (!r.success) throw new CcgError('ERR_BAD_REQUEST', r.error.issues[0]?.message ?? 'invalid value');
  return r.data;
}

/**
 * Users and everything that proves who they are: passwords (Argon2id), two-factor codes (TOTP
 * with single use of each step, recovery codes), throttling, and the audit entries for all of it.
 * Used by the pages and by `POST /api/v1/login` alike, so both answer the same way.
 */
export class AccountService {
  private readonly repeats: AuditAggregator;

  constructor(private readonly d: AccountDeps) {
    this.repeats = new AuditAggregator({ write: (e) => this.write(e), now: d.now, isAccount: (name) => d.store.getUserByName(name) !== undefined });
  }

  private totpContext(userId: string): string {
    return `totp:${userId}`;
  }

  /** Writes an audit entry; repeats of the failures anyone can cause are gathered (audit-aggregate.ts). */
  async audit(actor: Actor | string, action: string, target: string | null, detail?: AuditDetail): Promise<void> {
    const a = typeof actor === 'string' ? { name: actor, remote: null } : actor;
    const entry: AuditEntry = { at: this.d.now(), actor: a.name.slice(0, 64), action, target, from: a.remote, ...(detail ? { detail } : {}) };
    await (AGGREGATED_ACTIONS.has(action) ? this.repeats.add(entry) : this.write(entry));
  }

  private write(entry: AuditEntry): Promise<void> {
    return this.d.store.appendAudit(entry).catch((err: unknown) => this.d.log.warn('audit.write_failed', { err: String(err) }));
  }

  /** Writes the gathered repeats now (the gateway does at shutdown). */
  flushAudit(): Promise<void> {
    return this.repeats.flush();
  }

  adminExists(): boolean {
    return this.d.store.listUsers().some((u) => u.role === 'admin' && !u.disabled);
  }

  // ---- users

  async createUser(input: { name: string; password: string; role: UserRole; email?: string | null }, by: Actor, opts: { onlyFirst?: boolean } = {}): Promise<UserRecord> {
    const name = validate(Username, input.name);
    const password = validate(Password, input.password);
    const email = input.email ? validate(Email, input.email) : null;
    if (email && this.findByEmail(email)) throw new CcgError('ERR_BAD_REQUEST', `another user already has the email ${email}`);
    const now = this.d.now();
    const user: UserRecord = {
      id: randomBytes(8).toString('hex'),
      name,
      email,
      role: input.role,
      passwordHash: await hashPassword(password),
      disabled: false,
      createdAt: now,
      updatedAt: now,
      createdBy: by.name,
      totp: null,
      totpPending: null,
    };
    if (!(await this.d.store.createUser(user, opts))) {
      throw opts.onlyFirst && this.d.store.listUsers().length > 0
        ? new CcgError('ERR_NOT_FOUND', 'setup is already done')
        : new CcgError('ERR_BAD_REQUEST', `the username ${name} is taken`);
    }
    await this.audit(by, 'user.create', name, { role: user.role, email });
    return user;
  }

  get(id: string): UserRecord | undefined {
    return this.d.store.getUser(id);
  }

  mustGet(id: string): UserRecord {
    const u = this.d.store.getUser(id);
    if (!u) throw new CcgError('ERR_NOT_FOUND', 'no such user');
    return u;
  }

  list(): UserRecord[] {
    return this.d.store.listUsers();
  }

  findByEmail(email: string): UserRecord | undefined {
    const e = email.trim().toLowerCase();
    return this.d.store.listUsers().find((u) => u.email === e);
  }

  private async change(id: string, fn: (u: UserRecord) => void): Promise<UserRecord> {
    const out = await this.d.store.updateUser(id, (u) => {
      fn(u);
      u.updatedAt = this.d.now();
      return u;
    });
    if (!out) throw new CcgError('ERR_NOT_FOUND', 'no such user');
    return out;
  }

  /** Refuses a change that would leave no enabled admin. */
  private assertAdminRemains(changing: UserRecord, next: { role: UserRole; disabled: boolean } | null): void {
    if (changing.role !== 'admin' || changing.disabled) return;
    if (next && next.role === 'admin' && !next.disabled) return;
    const others = this.d.store.listUsers().filter((u) => u.id !== changing.id && u.role === 'admin' && !u.disabled);
    if (others.length === 0) throw new CcgError('ERR_BAD_REQUEST', 'this is the last admin: make someone else admin first');
  }

  async setRole(id: string, role: UserRole, by: Actor): Promise<UserRecord> {
    const u = this.mustGet(id);
    this.assertAdminRemains(u, { role, disabled: u.disabled });
    const out = await this.change(id, (x) => {
      x.role = role;
    });
    await this.audit(by, 'user.role', u.name, { from: u.role, to: role });
    return out;
  }

  async setDisabled(id: string, disabled: boolean, by: Actor): Promise<UserRecord> {
    const u = this.mustGet(id);
    if (disabled) this.assertAdminRemains(u, { role: u.role, disabled: true });
    const out = await this.change(id, (x) => {
      x.disabled = disabled;
    });
    await this.audit(by, disabled ? 'user.disable' : 'user.enable', u.name);
    return out;
  }

  async setEmail(id: string, email: string | null, by: Actor): Promise<UserRecord> {
    const value = email ? validate(Email, email) : null;
    const u = this.mustGet(id);
    const other = value ? this.findByEmail(value) : undefined;
    if (other && other.id !== id) throw new CcgError('ERR_BAD_REQUEST', `another user already has the email ${value}`);
    const out = await this.change(id, (x) => {
      x.email = value;
    });
    await this.audit(by, 'user.email', u.name, { email: value });
    return out;
  }

  /**
   * An admin sets someone's password. Every API token of that user is revoked with it: a token
   * made with the old password (perhaps by whoever learnt it) must not outlive it. The credential
   * generation goes up too, which also retires tokens and sessions still being made with the
   * old password, and (push-audience.ts) the user's push subscriptions. (Password
   * changes are made on the pages, with a session, never with a token: there is no token making
   * the change to spare. The caller ends the sessions.)
   */
  async resetPassword(id: string, password: string, by: Actor): Promise<{ user: UserRecord; tokensRevoked: number }> {
    const pw = validate(Password, password);
    const hash = await hashPassword(pw);
    const u = await this.change(id, (x) => {
      x.passwordHash = hash;
      x.credGen = credGenOf(x) + 1;
    });
    const tokensRevoked = await revokeUserTokens(this.d.store, id, this.d.now());
    await this.audit(by, 'user.password_reset', u.name, { tokensRevoked });
    return { user: u, tokensRevoked };
  }

  async deleteUser(id: string, by: Actor): Promise<UserRecord> {
    const u = this.mustGet(id);
    this.assertAdminRemains(u, null);
    await this.d.store.deleteUser(id);
    await this.audit(by, 'user.delete', u.name);
    return u;
  }

  // ---- login

  /**
   * Checks a username and password, throttled per account and address, per account over all
   * addresses (left out when `device` shows this browser signed in to the account before), and
   * per address. Unknown users, wrong passwords and disabled accounts get the same error after
   * the same work. The user returned is the record read with the hash checked: its `credGen` is
   * the one whatever this login makes must carry.
   */
  async checkPassword(username: string, password: string, remote: string, opts: { device?: KnownDevice } = {}): Promise<PasswordResult> {
    const name = username.trim().toLowerCase();
    const user = name.length <= 32 ? this.d.store.getUserByName(name) : undefined;
    const known = user !== undefined && opts.device?.userId === user.id && opts.device.credGen === credGenOf(user);
    const keys = [LoginThrottle.accountKey(username, remote), LoginThrottle.addressKey(remote), ...(known ? [] : [LoginThrottle.accountKey(username)])];
    // Counted before the Argon2 work, not after it: concurrent guesses see each other.
    const attempt = this.d.throttle.begin(keys);
    if (!attempt.ok) {
      await this.audit({ name: username.slice(0, 64) || '?', remote }, 'login.throttled', null, { retryAfterS: attempt.retryAfterS });
      throw new CcgError('ERR_THROTTLED', `too many failed attempts: try again in ${attempt.retryAfterS} s`);
    }
    let ok: boolean;
    try {
      ok = user && !passwordTooLong(password) ? await verifyPassword(password, user.passwordHash) : await burnPasswordCheck(password);
    } catch (err) {
      attempt.undo(); // never checked (ERR_BUSY): not a failure
      throw err;
    }
    if (!ok || !user || user.disabled) {
      await this.audit({ name: name.slice(0, 64) || '?', remote }, 'login.failed', null, { reason: !user ? 'unknown user' : user.disabled && ok ? 'disabled' : 'password' });
      throw loginFailed();
    }
    attempt.undo();
    // Only the per-address key is cleared: the account-wide count stays, or every success of the
    // real user would hand a guesser spread over many addresses a fresh allowance.
    if (!user.totp) this.d.throttle.succeed(keys[0]!);
    if (needsRehash(user.passwordHash)) {
      const hash = await hashPassword(password);
      // Only over the hash that was checked: a password changed meanwhile must not be overwritten
      // with the old one's new hash.
      await this.d.store.updateUser(user.id, (x) => {
        if (credGenOf(x) !== credGenOf(user) || x.passwordHash !== user.passwordHash) return undefined;
        x.passwordHash = hash;
        x.updatedAt = this.d.now();
        return x;
      });
    }
    return { user, needsCode: user.totp !== null };
  }

  /**
   * Checks a second factor: a TOTP code of a step later than any accepted before (so a code works
   * once), or an unused recovery code (then spent). Throttled like passwords. Atomic: two
   * requests with the same code cannot both pass.
   */
  async checkSecondFactor(user: UserRecord, code: string, remote: string, purpose: string): Promise<{ via: 'totp' | 'recovery'; remaining: number }> {
    const keys = [LoginThrottle.accountKey(user.name, remote), LoginThrottle.addressKey(remote)];
    const attempt = this.d.throttle.begin(keys);
    if (!attempt.ok) throw new CcgError('ERR_THROTTLED', `too many failed attempts: try again in ${attempt.retryAfterS} s`);
    const clean = code.replace(/\s+/g, '');
    let via: 'totp' | 'recovery' | null = null;
    let remaining = 0;
    const box = user.totp?.box;
    const secret = box ? this.d.box.open(box, this.totpContext(user.id)) : undefined;
    const step = secret ? totpStep(secret, clean, this.d.now()) : null;
    const recoveryHash = isRecoveryCode(clean) ? hashRecoveryCode(clean) : null;
    if (secret && (step !== null || recoveryHash)) {
      await this.d.store.updateUser(user.id, (u) => {
        if (!u.totp) return undefined;
        if (step !== null && step > u.totp.lastStep) {
          u.totp.lastStep = step;
          via = 'totp';
        } else if (recoveryHash && u.totp.recoveryHashes.includes(recoveryHash)) {
          u.totp.recoveryHashes = u.totp.recoveryHashes.filter((h) => h !== recoveryHash);
          via = 'recovery';
        } else {
          return undefined;
        }
        remaining = u.totp.recoveryHashes.length;
        return u;
      });
    }
    if (!via) {
      await this.audit({ name: user.name, remote }, `${purpose}.code_failed`, user.name, { reused: step !== null });
      throw new CcgError('ERR_TOTP_INVALID', 'the code is wrong or was already used');
    }
    attempt.undo();
    this.d.throttle.succeed(keys[0]!);
    if (via === 'recovery') await this.audit({ name: user.name, remote }, 'totp.recovery_used', user.name, { remaining });
    return { via, remaining };
  }

  /** A user changes their own password; every API token of theirs is revoked with it (see resetPassword). */
  async changePassword(user: UserRecord, current: string, next: string, remote: string): Promise<{ tokensRevoked: number; credGen: number }> {
    const pw = validate(Password, next);
    const keys = [LoginThrottle.accountKey(user.name, remote), LoginThrottle.addressKey(remote)];
    const attempt = this.d.throttle.begin(keys);
    if (!attempt.ok) throw new CcgError('ERR_THROTTLED', `too many failed attempts: try again in ${attempt.retryAfterS} s`);
    let ok: boolean;
    try {
      ok = await verifyPassword(current, user.passwordHash);
    } catch (err) {
      attempt.undo();
      throw err;
    }
    if (!ok) {
      await this.audit({ name: user.name, remote }, 'password.change_failed', user.name);
      throw new CcgError('ERR_LOGIN_FAILED', 'the current password is wrong');
    }
    attempt.undo();
    const hash = await hashPassword(pw);
    const changed = await this.change(user.id, (x) => {
      x.passwordHash = hash;
      x.credGen = credGenOf(x) + 1;
    });
    const tokensRevoked = await revokeUserTokens(this.d.store, user.id, this.d.now());
    await this.audit({ name: user.name, remote }, 'password.change', user.name, { tokensRevoked });
    return { tokensRevoked, credGen: credGenOf(changed) };
  }

  /** The Set-Cookie value that marks this browser as one that signed in to `user` (device-cookie.ts). */
  deviceCookie(user: UserRecord): string {
    return deviceCookie(this.d.box, user.id, credGenOf(user), this.d.now());
  }

  /** The account a request's device cookie vouches for, if any. */
  knownDevice(cookies: string | undefined): KnownDevice | undefined {
    return readDeviceCookie(this.d.box, cookies, this.d.now());
  }

  // ---- two-factor enrolment

  /** Starts (or restarts) enrolment: a new secret, kept sealed until confirmed. */
  async startTotp(user: UserRecord): Promise<{ secret: string; uri: string }> {
    if (user.totp) throw new CcgError('ERR_BAD_REQUEST', 'two-factor login is already on');
    const secret = newTotpSecret();
    await this.change(user.id, (x) => {
      x.totpPending = { box: this.d.box.seal(secret, this.totpContext(user.id)), createdAt: this.d.now() };
    });
    return { secret, uri: totpUri(secret, user.name, this.d.issuer ?? 'ccg') };
  }

  /** The pending secret (to show the QR code again), or undefined. */
  pendingTotp(user: UserRecord): { secret: string; uri: string } | undefined {
    if (!user.totpPending) return undefined;
    const secret = this.d.box.open(user.totpPending.box, this.totpContext(user.id));
    return secret ? { secret, uri: totpUri(secret, user.name, this.d.issuer ?? 'ccg') } : undefined;
  }

  /** Turns two-factor login on once a code from the app matches; returns the recovery codes (shown once). */
  async confirmTotp(user: UserRecord, code: string, remote: string): Promise<string[]> {
    const pending = this.pendingTotp(user);
    if (!pending) throw new CcgError('ERR_BAD_REQUEST', 'start enrolment first');
    const keys = [LoginThrottle.accountKey(user.name, remote), LoginThrottle.addressKey(remote)];
    const verdict = this.d.throttle.check(keys);
    if (!verdict.ok) throw new CcgError('ERR_THROTTLED', `too many failed attempts: try again in ${verdict.retryAfterS} s`);
    const step = totpStep(pending.secret, code.replace(/\s+/g, ''), this.d.now());
    if (step === null) {
      this.d.throttle.fail(keys);
      throw new CcgError('ERR_TOTP_INVALID', 'that code does not match: check the phone clock and type the current code');
    }
    const codes = newRecoveryCodes();
    await this.change(user.id, (x) => {
      if (!x.totpPending) return;
      x.totp = { box: x.totpPending.box, lastStep: step, recoveryHashes: codes.map(hashRecoveryCode), enabledAt: this.d.now() };
      x.totpPending = null;
    });
    this.d.throttle.succeed(keys[0]!);
    await this.audit({ name: user.name, remote }, 'totp.enable', user.name);
    return codes;
  }

  async disableTotp(user: UserRecord, code: string, remote: string): Promise<void> {
    if (!user.totp) throw new CcgError('ERR_BAD_REQUEST', 'two-factor login is not on');
    await this.checkSecondFactor(user, code, remote, 'totp.disable');
    await this.change(user.id, (x) => {
      x.totp = null;
      x.totpPending = null;
    });
    await this.audit({ name: user.name, remote }, 'totp.disable', user.name);
  }

  /** An admin turns off someone's two-factor login (lost phone and codes). */
  async resetTotp(id: string, by: Actor): Promise<void> {
    const u = await this.change(id, (x) => {
      x.totp = null;
      x.totpPending = null;
    });
    await this.audit(by, 'totp.reset', u.name);
  }
}

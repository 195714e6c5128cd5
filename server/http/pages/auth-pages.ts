import type { TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../../../protocol/errors.js';
import { LoginThrottle } from '../../auth/throttle.js';
import { SESSION_COOKIE, clearCookieHeader, type ResolvedSession } from '../../auth/sessions.js';
import type { UserRecord } from '../../store/types.js';
import type { FullReply } from '../../respond.js';
import { codeSpans } from '../../render/html.js';
import { html, pageRoute, redirect, safeNext, type BrowserDeps, type PageCtx } from './browser.js';
import { notice } from './notices.js';

/** Ends the session the request came with, if any (every login gets a new id). */
async function dropCurrent(pc: PageCtx): Promise<void> {
  const s = pc.d.sessions.resolve(pc.ctx.headers['cookie']);
  if (s) await pc.d.sessions.destroy(s.hash);
}

/** Starts the session after a successful first factor: full, or pending the second factor. */
async function startSession(pc: PageCtx, user: UserRecord, via: 'password' | 'setup' | 'cf-access', next: string): Promise<ReturnType<typeof redirect>> {
  await dropCurrent(pc);
  const stage = user.totp ? 'totp' : 'full';
  // `user` is the record the password was checked against: the session carries its credential generation.
  const s = await pc.d.sessions.create(user, { stage, via, remote: pc.ip, userAgent: pc.ctx.headers['user-agent'] ?? '' });
  pc.cookies.push(s.cookie);
  if (stage === 'totp') return redirect(pc, `/login/totp?next=${encodeURIComponent(next)}`);
  pc.cookies.push(pc.d.accounts.deviceCookie(user));
  await pc.d.accounts.audit({ name: user.name, remote: pc.ip }, 'login', user.name, { via, twoFactor: false });
  return redirect(pc, next);
}

export function mountAuthPages(app: TemplatedApp, d: BrowserDeps, o: { throttle: LoginThrottle; closeSessionStreams: (hash: string) => void }): void {
  pageRoute(app, d, 'get', '/', { auth: 'public' }, (pc) => {
    if (d.setupPending()) return redirect(pc, '/setup');
    return redirect(pc, pc.principal ? '/runs' : '/login');
  });

  // ---- first visit: the admin account

  const setupForm = (pc: PageCtx, status: number, error: string | null, values: { username?: string; email?: string } = {}) =>
    html(pc, status, 'setup', 'Set up', { error: error === null ? null : codeSpans(error), values, cfEmail: pc.cfEmail });

  pageRoute(app, d, 'get', '/setup', { auth: 'public' }, (pc) => {
    if (!d.setupPending()) throw new CcgError('ERR_NOT_FOUND', 'There is nothing at this address.');
    return setupForm(pc, 200, null);
  });

  pageRoute(app, d, 'post', '/setup', { auth: 'public' }, async (pc) => {
    if (!d.setupPending()) throw new CcgError('ERR_NOT_FOUND', 'There is nothing at this address.');
    const f = await pc.form();
    const values = { username: f.get('username') ?? '', email: f.get('email') ?? pc.cfEmail ?? '' };
    const keys = [LoginThrottle.accountKey('(setup)'), LoginThrottle.addressKey(pc.ip)];
    const verdict = o.throttle.check(keys);
    if (!verdict.ok) {
      const reply = setupForm(pc, 429, `Too many wrong codes: try again in ${verdict.retryAfterS} s.`, values);
      return { ...reply, headers: { ...reply.headers, 'retry-after': String(verdict.retryAfterS) } };
    }
    if (!d.checkSetupCode(f.get('code') ?? '')) {
      o.throttle.fail(keys);
      await d.accounts.audit({ name: '(setup)', remote: pc.ip }, 'setup.code_failed', null);
      return setupForm(pc, 403, 'That setup code is not right. It is printed by `ccg serve` and kept in `setup.code` in the data directory.', values);
    }
    if ((f.get('password') ?? '') !== (f.get('password2') ?? '')) return setupForm(pc, 400, 'The two passwords differ.', values);
    // With Access on, the admin's email must be the one Access vouches for, or they could not get back in.
    const email = pc.cfEmail ?? (values.email || null);
    let user: UserRecord;
    try {
      user = await d.accounts.createUser({ name: values.username, password: f.get('password') ?? '', role: 'admin', email }, { name: '(setup)', remote: pc.ip }, { onlyFirst: true });
    } catch (err) {
      if (err instanceof CcgError && err.code === 'ERR_BAD_REQUEST') return setupForm(pc, 400, err.message, values);
      throw err;
    }
    await d.markSetupDone();
    await d.accounts.audit({ name: user.name, remote: pc.ip }, 'setup.done', user.name);
    return startSession(pc, user, 'setup', '/settings?notice=welcome');
  });

  // ---- login

  const loginForm = (pc: PageCtx, status: number, error: string | null, username: string, next: string) => {
    const cfUser = pc.cfEmail ? d.accounts.findByEmail(pc.cfEmail) : undefined;
    return html(pc, status, 'login', 'Sign in', { error, username, next, cfEmail: cfUser ? pc.cfEmail : null }, { notice: notice(pc.ctx.query) });
  };

  pageRoute(app, d, 'get', '/login', { auth: 'public' }, (pc) => {
    if (d.setupPending()) return redirect(pc, '/setup');
    if (pc.principal) return redirect(pc, safeNext(new URLSearchParams(pc.ctx.query).get('next')));
    return loginForm(pc, 200, null, '', safeNext(new URLSearchParams(pc.ctx.query).get('next')));
  });

  pageRoute(app, d, 'post', '/login', { auth: 'public' }, async (pc) => {
    const f = await pc.form();
    const username = (f.get('username') ?? '').slice(0, 256);
    const next = safeNext(f.get('next'));
    if (pc.cfEmail) {
      // With Access on, the Access identity is checked before the password, as on the API login:
      // checked after, a signed-in person could try passwords for other accounts and tell a right
      // one (403) from a wrong one (401).
      const vouched = d.accounts.findByEmail(pc.cfEmail);
      if (!vouched || vouched.name !== username.trim().toLowerCase()) {
        await d.accounts.audit({ name: vouched?.name ?? pc.cfEmail.slice(0, 64), remote: pc.ip }, 'login.access_mismatch', username.slice(0, 64), { via: 'page' });
        throw new CcgError('ERR_ACCESS_DENIED', 'sign in as the user Cloudflare Access knows you as');
      }
    }
    try {
      const device = d.accounts.knownDevice(pc.ctx.headers['cookie']);
      const { user } = await d.accounts.checkPassword(username, f.get('password') ?? '', pc.ip, device ? { device } : {});
      return await startSession(pc, user, 'password', next);
    } catch (err) {
      if (err instanceof CcgError && (err.code === 'ERR_LOGIN_FAILED' || err.code === 'ERR_THROTTLED')) {
        const msg = err.code === 'ERR_THROTTLED' ? `Too many failed attempts. ${capitalise(err.message.replace(/^.*: /, ''))}.` : 'Wrong username or password.';
        return withRetryAfter(loginForm(pc, err.http, msg, username, next), err);
      }
      throw err;
    }
  });

  // Cloudflare Access already knows who this is: one tap to start a session.
  pageRoute(app, d, 'post', '/login/access', { auth: 'public' }, async (pc) => {
    if (!pc.cfEmail) throw new CcgError('ERR_NOT_FOUND', 'Cloudflare Access is not configured on this gateway.');
    const user = d.accounts.findByEmail(pc.cfEmail);
    if (!user || user.disabled) throw new CcgError('ERR_ACCESS_DENIED', `${pc.cfEmail} is not a user of this gateway`);
    return startSession(pc, user, 'cf-access', safeNext((await pc.form()).get('next')));
  });

  const codeForm = (pc: PageCtx, status: number, error: string | null, next: string) => html(pc, status, 'login-totp', 'Two-factor code', { error, next });

  pageRoute(app, d, 'get', '/login/totp', { auth: 'pending' }, (pc) => codeForm(pc, 200, null, safeNext(new URLSearchParams(pc.ctx.query).get('next'))));

  pageRoute(app, d, 'post', '/login/totp', { auth: 'pending' }, async (pc) => {
    const f = await pc.form();
    const next = safeNext(f.get('next'));
    const pending = pc.session as ResolvedSession;
    let result;
    try {
      result = await d.accounts.checkSecondFactor(pending.user, f.get('code') ?? '', pc.ip, 'login');
    } catch (err) {
      if (err instanceof CcgError && (err.code === 'ERR_TOTP_INVALID' || err.code === 'ERR_THROTTLED')) {
        const msg = err.code === 'ERR_THROTTLED' ? `Too many failed attempts. ${capitalise(err.message.replace(/^.*: /, ''))}.` : 'That code is wrong or was already used. Wait for the next code and try again.';
        return withRetryAfter(codeForm(pc, err.http, msg, next), err);
      }
      throw err;
    }
    // The second factor is in: the pending id is thrown away and a new one issued.
    await d.sessions.destroy(pending.hash);
    // The generation of the pending session (whose password was checked), not of a fresh read.
    const s = await d.sessions.create(pending.user, { stage: 'full', via: pending.record.via, remote: pc.ip, userAgent: pc.ctx.headers['user-agent'] ?? '', credGen: pending.record.credGen ?? 0 });
    pc.cookies.push(s.cookie);
    pc.cookies.push(d.accounts.deviceCookie({ ...pending.user, credGen: pending.record.credGen ?? 0 }));
    await d.accounts.audit({ name: pending.user.name, remote: pc.ip }, 'login', pending.user.name, { via: pending.record.via, twoFactor: result.via });
    return redirect(pc, result.via === 'recovery' && result.remaining <= 3 ? '/settings?notice=recovery-low' : next);
  });

  // ---- logout: GET only asks (GET never changes state); the button posts.

  pageRoute(app, d, 'get', '/logout', { auth: 'public' }, (pc) => {
    if (!pc.principal) return redirect(pc, '/login');
    return html(pc, 200, 'logout', 'Sign out', {});
  });

  pageRoute(app, d, 'post', '/logout', { auth: 'public' }, async (pc) => {
    const s = pc.session;
    if (s) {
      await d.sessions.destroy(s.hash);
      o.closeSessionStreams(s.hash);
      await d.accounts.audit({ name: s.user.name, remote: pc.ip }, 'logout', s.user.name);
    }
    pc.cookies.push(clearCookieHeader(SESSION_COOKIE));
    return redirect(pc, '/login?notice=logged-out');
  });
}

/** A throttled answer says when to come back. */
function withRetryAfter(reply: FullReply, err: CcgError): FullReply {
  if (err.code !== 'ERR_THROTTLED' || !('body' in reply)) return reply;
  return { ...reply, headers: { ...reply.headers, 'retry-after': /(\d+) s/.exec(err.message)?.[1] ?? '60' } };
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

import type { TemplatedApp } from 'uWebSockets.js';
import { UserRole } from '../../../protocol/accounts.js';
import { CcgError } from '../../../protocol/errors.js';
import { createApiToken, listApiTokens, revokeApiToken } from '../../auth/api-tokens.js';
import { minRole } from '../../../protocol/roles.js';
import { qrDataUrl } from '../../render/qr.js';
import { ago } from '../../render/run-view.js';
import type { ApiTokenRecord, UserRecord } from '../../store/types.js';
import { html, pageRoute, redirect, type BrowserDeps, type PageCtx } from './browser.js';
import { notice } from './notices.js';
import { pushSettings } from './push-pages.js';

const TOKEN_NAME_RE = /^[^\u0000-\u001f\u007f]{1,80}$/;

export function tokenView(t: ApiTokenRecord, now: number, owner: UserRecord | undefined) {
  return {
    id: t.id,
    name: t.name,
    // A user's token follows the user's role; a lower cap is shown as the limit it is.
    role: t.userId === null ? t.role : t.role === 'admin' ? `as ${owner?.name ?? 'user'} (${owner?.role ?? '?'})` : `at most ${t.role}`,
    created: ago(t.createdAt, now),
    revoked: t.revokedAt !== null,
  };
}

export function userView(u: UserRecord) {
  return { id: u.id, name: u.name, role: u.role, email: u.email, disabled: u.disabled, totp: u.totp !== null, recoveryLeft: u.totp?.recoveryHashes.length ?? 0 };
}

function me(pc: PageCtx): UserRecord {
  // Re-read: the session's copy may predate a change made in this request's transaction.
  return pc.d.accounts.mustGet(pc.user!.id);
}

async function settingsPage(pc: PageCtx, status: number, errors: { password?: string; totp?: string; token?: string } = {}) {
  const d = pc.d;
  const user = me(pc);
  const pending = d.accounts.pendingTotp(user);
  const tokens = listApiTokens(d.store, { userId: user.id }).filter((t) => t.revokedAt === null);
  return html(pc, status, 'settings', 'Settings', {
    user: userView(user),
    pending: pending ? { secret: pending.secret.replace(/(.{4})/g, '$1 ').trim(), uri: pending.uri, qr: await qrDataUrl(pending.uri) } : null,
    tokens: tokens.map((t) => tokenView(t, d.now(), user)),
    // Caps below the user's own role; "follow" stores no cap (admin) and tracks the user's role.
    caps: UserRole.options.filter((r) => r !== user.role && minRole(r, user.role) === r),
    errors,
    cfAccess: d.cf !== null,
    push: pushSettings(d, user.name),
  }, { nav: 'settings', notice: notice(pc.ctx.query), scripts: ['push.js'] });
}

/** Runs an action; a refusal the person can fix is shown on the settings page next to its form. */
async function orShow(pc: PageCtx, field: 'password' | 'totp' | 'token', fn: () => Promise<ReturnType<typeof redirect> | ReturnType<typeof html>>) {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CcgError && ['ERR_BAD_REQUEST', 'ERR_LOGIN_FAILED', 'ERR_TOTP_INVALID', 'ERR_THROTTLED'].includes(err.code)) {
      return settingsPage(pc, err.http, { [field]: err.message.charAt(0).toUpperCase() + err.message.slice(1) + '.' });
    }
    throw err;
  }
}

export function mountSettingsPages(app: TemplatedApp, d: BrowserDeps): void {
  pageRoute(app, d, 'get', '/settings', { auth: 'user' }, (pc) => settingsPage(pc, 200));

  pageRoute(app, d, 'post', '/settings/password', { auth: 'user' }, async (pc) => {
    const f = await pc.form();
    return orShow(pc, 'password', async () => {
      if ((f.get('new') ?? '') !== (f.get('new2') ?? '')) throw new CcgError('ERR_BAD_REQUEST', 'the two new passwords differ');
      await d.accounts.changePassword(me(pc), f.get('current') ?? '', f.get('new') ?? '', pc.ip);
      // Anyone else holding a session of this account is out; this browser stays in (its session
      // and device cookie move to the new credential generation).
      await d.sessions.destroyUser(pc.user!.id, pc.session!.hash);
      const now = d.accounts.get(pc.user!.id);
      if (now) pc.cookies.push(d.accounts.deviceCookie(now));
      return redirect(pc, '/settings?notice=password-changed');
    });
  });

  pageRoute(app, d, 'post', '/settings/totp/start', { auth: 'user' }, async (pc) =>
    orShow(pc, 'totp', async () => {
      await d.accounts.startTotp(me(pc));
      return redirect(pc, '/settings#totp');
    }),
  );

  pageRoute(app, d, 'post', '/settings/totp/confirm', { auth: 'user' }, async (pc) => {
    const f = await pc.form();
    return orShow(pc, 'totp', async () => {
      const codes = await d.accounts.confirmTotp(me(pc), f.get('code') ?? '', pc.ip);
      return html(pc, 200, 'recovery-codes', 'Recovery codes', { codes }, { nav: 'settings' });
    });
  });

  pageRoute(app, d, 'post', '/settings/totp/disable', { auth: 'user' }, async (pc) => {
    const f = await pc.form();
    return orShow(pc, 'totp', async () => {
      await d.accounts.disableTotp(me(pc), f.get('code') ?? '', pc.ip);
      return redirect(pc, '/settings?notice=totp-disabled');
    });
  });

  pageRoute(app, d, 'post', '/settings/tokens', { auth: 'user' }, async (pc) => {
    const f = await pc.form();
    return orShow(pc, 'token', async () => {
      const user = me(pc);
      const name = (f.get('name') ?? '').trim();
      if (!TOKEN_NAME_RE.test(name)) throw new CcgError('ERR_BAD_REQUEST', 'give the token a name (1 to 80 characters) to recognise it by');
      const capRaw = f.get('cap') ?? 'follow';
      const cap = capRaw === 'follow' ? { success: true as const, data: 'admin' as const } : UserRole.safeParse(capRaw);
      if (!cap.success) throw new CcgError('ERR_BAD_REQUEST', 'pick what the token may do');
      const { token, record } = await createApiToken(d.store, { name, role: cap.data, userId: user.id, now: d.now(), credGen: pc.session!.record.credGen ?? 0 });
      await d.accounts.audit({ name: user.name, remote: pc.ip }, 'token.create', record.id, { name, cap: record.role, owner: user.name });
      return html(pc, 201, 'token-created', 'Token created', { token, name, role: tokenView(record, d.now(), user).role }, { nav: 'settings' });
    });
  });

  pageRoute(app, d, 'post', '/settings/tokens/:id/revoke', { auth: 'user' }, async (pc) => {
    const user = me(pc);
    const rec = await revokeApiToken(d.store, pc.ctx.params[0] ?? '', d.now(), user.id);
    if (!rec) throw new CcgError('ERR_NOT_FOUND', 'You have no live token with that id.');
    await d.accounts.audit({ name: user.name, remote: pc.ip }, 'token.revoke', rec.id, { name: rec.name, owner: user.name });
    return redirect(pc, '/settings?notice=token-revoked#tokens');
  });
}

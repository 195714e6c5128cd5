import type { TemplatedApp } from 'uWebSockets.js';
import { UserRole } from '../../../protocol/accounts.js';
import { CcgError } from '../../../protocol/errors.js';
import { listApiTokens, revokeApiToken, revokeUserTokens } from '../../auth/api-tokens.js';
import { ago } from '../../render/run-view.js';
import { html, pageRoute, redirect, type BrowserDeps, type PageCtx } from './browser.js';
import { notice } from './notices.js';
import { tokenView, userView } from './settings-pages.js';

function actor(pc: PageCtx) {
  return { name: pc.principal!.name, remote: pc.ip };
}

function userIdOf(pc: PageCtx): string {
  const id = pc.ctx.params[0] ?? '';
  if (!/^[0-9a-f]{16}$/.test(id)) throw new CcgError('ERR_NOT_FOUND', 'There is no such user.');
  return id;
}

/** Admin pages: users and roles (/settings/users), the audit log (/audit). */
export function mountAdminPages(app: TemplatedApp, d: BrowserDeps): void {
  const usersPage = (pc: PageCtx, status: number, error: string | null, values: Record<string, string> = {}) => {
    const now = d.now();
    const users = d.accounts.list();
    const orphanTokens = listApiTokens(d.store).filter((t) => t.userId === null && t.revokedAt === null);
    return html(pc, status, 'users', 'Users', {
      users: users.map(userView),
      roles: UserRole.options,
      orphanTokens: orphanTokens.map((t) => tokenView(t, now, undefined)),
      error,
      values,
      cfAccess: d.cf !== null,
    }, { nav: 'settings', notice: notice(pc.ctx.query) });
  };

  const userPage = (pc: PageCtx, status: number, id: string, error: string | null) => {
    const u = d.accounts.mustGet(id);
    const tokens = listApiTokens(d.store, { userId: id }).filter((t) => t.revokedAt === null);
    return html(pc, status, 'user', u.name, { u: userView(u), roles: UserRole.options, tokens: tokens.map((t) => tokenView(t, d.now(), u)), error, self: u.id === pc.user!.id, cfAccess: d.cf !== null }, {
      nav: 'settings',
      notice: notice(pc.ctx.query),
    });
  };

  /** Runs a change to one user and comes back to its page; a refusal is shown there. */
  const onUser = (path: string, fn: (pc: PageCtx, id: string, f: URLSearchParams) => Promise<string | void>) =>
    pageRoute(app, d, 'post', `/settings/users/:id/${path}`, { auth: 'user', role: 'admin' }, async (pc) => {
      const id = userIdOf(pc);
      const f = await pc.form();
      try {
        const to = await fn(pc, id, f);
        return redirect(pc, to ?? `/settings/users/${id}?notice=user-updated`);
      } catch (err) {
        if (err instanceof CcgError && err.code === 'ERR_BAD_REQUEST') return userPage(pc, 400, id, err.message);
        throw err;
      }
    });

  pageRoute(app, d, 'get', '/settings/users', { auth: 'user', role: 'admin' }, (pc) => usersPage(pc, 200, null));

  pageRoute(app, d, 'post', '/settings/users', { auth: 'user', role: 'admin' }, async (pc) => {
    const f = await pc.form();
    const values = { name: f.get('name') ?? '', role: f.get('role') ?? 'viewer', email: f.get('email') ?? '' };
    const role = UserRole.safeParse(values.role);
    if (!role.success) return usersPage(pc, 400, 'Pick a role.', values);
    try {
      await d.accounts.createUser({ name: values.name, password: f.get('password') ?? '', role: role.data, email: values.email || null }, actor(pc));
    } catch (err) {
      if (err instanceof CcgError && err.code === 'ERR_BAD_REQUEST') return usersPage(pc, 400, err.message.charAt(0).toUpperCase() + err.message.slice(1) + '.', values);
      throw err;
    }
    return redirect(pc, '/settings/users?notice=user-updated');
  });

  pageRoute(app, d, 'get', '/settings/users/:id', { auth: 'user', role: 'admin' }, (pc) => userPage(pc, 200, userIdOf(pc), null));

  onUser('role', async (pc, id, f) => {
    const role = UserRole.safeParse(f.get('role'));
    if (!role.success) throw new CcgError('ERR_BAD_REQUEST', 'pick a role');
    await d.accounts.setRole(id, role.data, actor(pc));
  });
  onUser('email', async (pc, id, f) => {
    await d.accounts.setEmail(id, (f.get('email') ?? '').trim() || null, actor(pc));
  });
  onUser('disable', async (pc, id) => {
    if (id === pc.user!.id) throw new CcgError('ERR_BAD_REQUEST', 'you cannot disable yourself');
    await d.accounts.setDisabled(id, true, actor(pc));
    await d.sessions.destroyUser(id);
  });
  onUser('enable', async (pc, id) => {
    await d.accounts.setDisabled(id, false, actor(pc));
  });
  onUser('password', async (pc, id, f) => {
    await d.accounts.resetPassword(id, f.get('password') ?? '', actor(pc));
    await d.sessions.destroyUser(id, id === pc.user!.id ? pc.session!.hash : undefined);
    return `/settings/users/${id}?notice=password-reset`;
  });
  onUser('totp-reset', async (pc, id) => {
    await d.accounts.resetTotp(id, actor(pc));
  });
  onUser('delete', async (pc, id, f) => {
    const u = d.accounts.mustGet(id);
    if (id === pc.user!.id) throw new CcgError('ERR_BAD_REQUEST', 'you cannot delete yourself');
    if ((f.get('confirm') ?? '').trim().toLowerCase() !== u.name) throw new CcgError('ERR_BAD_REQUEST', `type the username (${u.name}) to confirm`);
    await d.accounts.deleteUser(id, actor(pc));
    await d.sessions.destroyUser(id);
    await revokeUserTokens(d.store, id, d.now());
    return '/settings/users?notice=user-deleted';
  });

  pageRoute(app, d, 'post', '/settings/tokens/:id/revoke-any', { auth: 'user', role: 'admin' }, async (pc) => {
    const rec = await revokeApiToken(d.store, pc.ctx.params[0] ?? '', d.now());
    if (!rec) throw new CcgError('ERR_NOT_FOUND', 'There is no live token with that id.');
    await d.accounts.audit(actor(pc), 'token.revoke', rec.id, { name: rec.name, owner: rec.userId ? (d.accounts.get(rec.userId)?.name ?? null) : null });
    const back = (await pc.form()).get('back');
    return redirect(pc, back && /^\/settings\/users(\/[0-9a-f]{16})?$/.test(back) ? `${back}?notice=token-revoked` : '/settings/users?notice=token-revoked');
  });

  pageRoute(app, d, 'get', '/audit', { auth: 'user', role: 'admin' }, (pc) => {
    const before = new URLSearchParams(pc.ctx.query).get('before') ?? undefined;
    const page = d.store.listAuditPage({ limit: 100, ...(before && /^\d{1,16}\.\d{1,7}$/.test(before) ? { before } : {}) });
    const now = d.now();
    const entries = page.entries.map((e) => ({
      iso: new Date(e.at).toISOString().replace(/\.\d+Z$/, 'Z'),
      ago: ago(e.at, now),
      actor: e.actor,
      action: e.action,
      target: e.target,
      from: e.from,
      detail: e.detail ? Object.entries(e.detail).map(([k, v]) => `${k}=${v === null ? '–' : String(v)}`).join('  ').slice(0, 400) : '',
      bad: /failed|refused|denied|throttled/.test(e.action),
    }));
    return html(pc, 200, 'audit', 'Audit log', { entries, next: page.next, first: !before }, { nav: 'audit' });
  });
}

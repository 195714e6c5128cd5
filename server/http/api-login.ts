import type { TemplatedApp } from 'uWebSockets.js';
import { LoginRequest, type LoginResponse } from '../../protocol/accounts.js';
import { CcgError } from '../../protocol/errors.js';
import { credGenOf, type AccountService } from '../auth/accounts.js';
import { createApiToken, hashApiToken } from '../auth/api-tokens.js';
import { CF_ACCESS_HEADER, type CfAccessVerifier } from '../auth/cf-access.js';
import { authenticateBearer } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { AuthStore } from '../store/types.js';
import { clientIp } from './pages/browser.js';
import { parseJson, route } from '../respond.js';

export interface LoginApiOptions {
  store: AuthStore;
  accounts: AccountService;
  log: Logger;
  now: () => number;
  trustProxy: boolean;
  /** Cloudflare Access, when configured: a login needs the person's Access assertion too. */
  cf: CfAccessVerifier | null;
}

/**
 * `POST /api/v1/login` (what `ccg login` calls): username, password and, for accounts with
 * two-factor login, the code, in one request; answers with a new API token bound to the user.
 * Same checks, throttling and answers as the login page; with Cloudflare Access configured, the
 * request must carry an Access assertion for the same user, as every page request must.
 * `POST /api/v1/logout` revokes the token it is called with.
 */
export function mountLoginApi(app: TemplatedApp, o: LoginApiOptions): void {
  route(app, 'post', '/api/v1/login', o.log, async (ctx) => {
    const body = parseJson(await ctx.body(96 * 1024), LoginRequest);
    const ip = clientIp(ctx, o.trustProxy);
    if (o.cf) {
      // With Access on, a password alone is not enough here either (the pages check Access on
      // every request): the assertion must vouch for the account being signed in to. Checked
      // before the password, so a mismatch says nothing about whether the password was right.
      const { email } = await o.cf.verify(ctx.headers[CF_ACCESS_HEADER]);
      const vouched = o.accounts.findByEmail(email);
      if (!vouched || vouched.disabled) throw new CcgError('ERR_ACCESS_DENIED', `${email} is not a user of this gateway: ask an admin to add it`);
      if (vouched.name !== body.username.trim().toLowerCase()) {
        await o.accounts.audit({ name: vouched.name, remote: ip }, 'login.access_mismatch', body.username.slice(0, 64), { via: 'api' });
        throw new CcgError('ERR_ACCESS_DENIED', `Cloudflare Access says you are ${email} (user ${vouched.name}): sign in as ${vouched.name}`);
      }
    }
    const { user, needsCode } = await o.accounts.checkPassword(body.username, body.password, ip);
    let twoFactor: string | false = false;
    if (needsCode) {
      if (!body.totp) throw new CcgError('ERR_TOTP_REQUIRED', 'this account needs a two-factor code: send it as "totp"');
      twoFactor = (await o.accounts.checkSecondFactor(user, body.totp, ip, 'login')).via;
    }
    // "admin" here is no cap: the token acts with the user's current role, whatever it becomes.
    // The token carries the credential generation read with the hash that was checked: if the
    // password changed while this login was being checked, the token is refused from the start.
    const { token, record } = await createApiToken(o.store, { name: body.name ?? `ccg login from ${ip}`, role: 'admin', userId: user.id, now: o.now(), credGen: credGenOf(user) });
    await o.accounts.audit({ name: user.name, remote: ip }, 'login', user.name, { via: 'api', twoFactor });
    await o.accounts.audit({ name: user.name, remote: ip }, 'token.create', record.id, { name: record.name, owner: user.name });
    const out: LoginResponse = { token, user: { name: user.name, role: user.role } };
    return { status: 201, json: out };
  });

  route(app, 'post', '/api/v1/logout', o.log, async (ctx) => {
    const p = authenticateBearer(o.store, ctx.headers);
    if (!p.userId) throw new CcgError('ERR_BAD_REQUEST', 'this token does not belong to a user (it is not from ccg login); revoke it on /settings instead');
    const token = /^Bearer\s+(\S+)$/i.exec(ctx.headers['authorization'] ?? '')![1]!;
    await o.store.updateApiToken(hashApiToken(token), (rec) => (rec.revokedAt === null ? { ...rec, revokedAt: o.now() } : undefined));
    await o.accounts.audit({ name: p.name, remote: clientIp(ctx, o.trustProxy) }, 'logout', p.name, { via: 'api', token: p.tokenId });
    return { status: 200, json: { revoked: true } };
  });
}

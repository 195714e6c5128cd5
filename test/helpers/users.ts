import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { ADMIN_EXISTS_KEY } from '../../server/auth/setup-code.js';
import type { TestGateway } from './gateway.js';
import { PageClient, login, setupAdmin } from './page-client.js';

export const PW = 'correct horse battery';

/**
 * Finishes setup (an admin, through /setup as a browser would; directly on a plain-HTTP gateway)
 * and adds users with the given roles, all with the password PW.
 */
export async function addUsers(g: TestGateway, users: { name: string; role: 'admin' | 'operator' | 'viewer' }[]): Promise<void> {
  if (g.url.startsWith('https:')) {
    const c = new PageClient(g.url, g.fingerprint);
    assert.equal((await setupAdmin(c, g.gw.setupCode!, 'admin', PW)).status, 303);
  } else {
    await g.gw.accounts.createUser({ name: 'admin', password: PW, role: 'admin' }, { name: 'setup', remote: null });
    await g.gw.store.putMeta(ADMIN_EXISTS_KEY, true);
  }
  for (const u of users) await g.gw.accounts.createUser({ name: u.name, password: PW, role: u.role }, { name: 'admin', remote: null });
}

/** A signed-in PageClient (cookie jar, CSRF token of the last page). */
export async function pageUser(g: TestGateway, name: string): Promise<PageClient> {
  const c = new PageClient(g.url, g.fingerprint);
  assert.equal((await login(c, name, PW)).status, 303, `login as ${name}`);
  return c;
}

/** Signs a real browser page in through the login form. */
export async function phoneLogin(page: Page, url: string, name: string): Promise<void> {
  await page.goto(`${url}/login`);
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(PW);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/runs$/);
}

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../../../protocol/errors.js';
import { AccountService } from '../../auth/accounts.js';
import { CfAccessVerifier, type CfAccessConfig } from '../../auth/cf-access.js';
import type { SecretBox } from '../../auth/secret-box.js';
import { DEFAULT_SESSION_POLICY, SessionService, type SessionPolicy } from '../../auth/sessions.js';
import { ADMIN_EXISTS_KEY, checkSetupCode } from '../../auth/setup-code.js';
import { LoginThrottle } from '../../auth/throttle.js';
import type { EventBus } from '../../live/bus.js';
import type { Logger } from '../../log.js';
import type { RunService } from '../../core/runs.js';
import type { Store } from '../../store/types.js';
import { PAGE_HEADERS, createViews, mountStatic } from '../views.js';
import { mountLoginApi } from '../api-login.js';
import { mountAdminPages } from './admin-pages.js';
import { mountAuthPages } from './auth-pages.js';
import type { BrowserDeps, PagePowers } from './browser.js';
import { mountPushPages } from './push-pages.js';
import { mountRunActions, runSections } from './run/mount.js';
import { LiveStreams, mountRunLive } from './run-live.js';
import { mountRunsPages } from './runs-pages.js';
import { mountSettingsPages } from './settings-pages.js';

export interface BrowserOptions {
  store: Store;
  runs: RunService;
  bus: EventBus;
  box: SecretBox;
  log: Logger;
  now: () => number;
  dataDir: string;
  tls: boolean;
  runnerUrl: (hostHeader: string | undefined) => string;
  fingerprint: string | null;
  cfAccess?: CfAccessConfig | null;
  trustProxy?: boolean;
  sessionPolicy?: Partial<SessionPolicy>;
  powers: PagePowers;
}

export interface Browser {
  accounts: AccountService;
  sessions: SessionService;
  close(): void;
}

/**
 * The phone pages and everything behind them: accounts, sessions, Cloudflare Access, the live
 * streams, `POST /api/v1/login`, static files and the 404 page.
 */
export function mountBrowser(app: TemplatedApp, o: BrowserOptions): Browser {
  const throttle = new LoginThrottle({ now: o.now });
  const accounts = new AccountService({ store: o.store, box: o.box, log: o.log, now: o.now, throttle });
  const sessions = new SessionService(o.store, o.now, { ...DEFAULT_SESSION_POLICY, ...o.sessionPolicy });
  const views = createViews();
  const streams = new LiveStreams();
  const d: BrowserDeps = {
    store: o.store,
    runs: o.runs,
    bus: o.bus,
    log: o.log,
    now: o.now,
    views,
    accounts,
    sessions,
    cf: o.cfAccess ? new CfAccessVerifier(o.cfAccess, o.now) : null,
    trustProxy: o.trustProxy ?? false,
    tls: o.tls,
    runnerUrl: o.runnerUrl,
    fingerprint: o.fingerprint,
    setupPending: () => !o.store.getMeta<boolean>(ADMIN_EXISTS_KEY),
    markSetupDone: async () => {
      await o.store.putMeta(ADMIN_EXISTS_KEY, true);
      rmSync(join(o.dataDir, 'setup.code'), { force: true });
    },
    checkSetupCode: (code) => checkSetupCode(o.store, code),
    powers: o.powers,
    sections: [],
  };
  d.sections.push(...runSections(d));

  mountLoginApi(app, { store: o.store, accounts, log: o.log, now: o.now, trustProxy: d.trustProxy });
  mountAuthPages(app, d, { throttle, closeSessionStreams: (hash) => streams.closeSession(hash) });
  mountRunLive(app, d, streams);
  mountRunsPages(app, d);
  mountSettingsPages(app, d);
  mountRunActions(app, d);
  mountPushPages(app, d);
  mountAdminPages(app, d);
  mountStatic(app, views, o.log, () => ({
    status: 404,
    headers: PAGE_HEADERS,
    body: views.page('error', 'Not found', { title: 'Not found', status: 404, code: new CcgError('ERR_NOT_FOUND').code, message: 'There is nothing at this address.', back: null }, { user: null, csrf: null }),
  }));

  const prune = setInterval(() => {
    sessions.prune().catch((err: unknown) => o.log.warn('session.prune_failed', { err: String(err) }));
  }, 10 * 60_000);
  prune.unref();

  return {
    accounts,
    sessions,
    close() {
      clearInterval(prune);
      streams.closeAll();
    },
  };
}

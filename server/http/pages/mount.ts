import type { TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../../../protocol/errors.js';
import type { CfAccessVerifier } from '../../auth/cf-access.js';
import type { Services } from '../../core/services.js';
import { CredentialWatch } from '../../live/recheck.js';
import { mountLoginApi } from '../api-login.js';
import { PAGE_HEADERS, createViews, mountStatic } from '../views.js';
import { mountAdminPages } from './admin-pages.js';
import { mountAuthPages } from './auth-pages.js';
import type { BrowserDeps } from './browser.js';
import { mountPushPages } from './push-pages.js';
import { mountRunActions, runSections } from './run/mount.js';
import { LiveStreams, mountRunLive } from './run-live.js';
import { mountRunTerminal } from './run-term.js';
import { mountRunsPages } from './runs-pages.js';
import { mountMachinesPages } from './machines-pages.js';
import { mountSettingsPages } from './settings-pages.js';
import type { ConnectionLimiter } from '../../connection-limits.js';

/** What the pages need besides the services: how this gateway is reached, and its setup state. */
export interface BrowserOptions {
  tls: boolean;
  /** Connection caps, shared with the WebSockets. */
  limiter?: ConnectionLimiter;
  runnerUrl: (hostHeader: string | undefined) => string;
  fingerprint: string | null;
  /** The single-file runner's SHA-256, when the gateway serves it (Add machine shows it). */
  runnerSha256?: string | null;
  /** Cloudflare Access in front of the pages, when configured. */
  cf: CfAccessVerifier | null;
  trustProxy: boolean;
  setupPending: () => boolean;
  markSetupDone: () => Promise<void>;
  checkSetupCode: (code: string) => boolean;
}

export interface Browser {
  close(): void;
}

/**
 * The phone pages and everything behind them: accounts, sessions, Cloudflare Access, the live
 * streams, `POST /api/v1/login`, static files and the 404 page.
 */
export function mountBrowser(app: TemplatedApp, s: Services, o: BrowserOptions): Browser {
  const views = createViews();
  const watch = new CredentialWatch(s.bus, s.log);
  const streams = new LiveStreams(watch, o.limiter ?? null);
  const d: BrowserDeps = {
    store: s.store,
    runs: s.runs,
    bus: s.bus,
    log: s.log,
    now: s.now,
    views,
    accounts: s.accounts,
    sessions: s.sessions,
    cf: o.cf,
    trustProxy: o.trustProxy,
    tls: o.tls,
    runnerUrl: o.runnerUrl,
    fingerprint: o.fingerprint,
    runnerSha256: o.runnerSha256 ?? null,
    setupPending: o.setupPending,
    markSetupDone: o.markSetupDone,
    checkSetupCode: o.checkSetupCode,
    powers: { policy: s.policy, artifacts: s.artifacts, assist: s.assist, approvals: s.approvals, steering: s.steering, claudeSession: s.claudeSession, push: s.push, requests: s.requests, liveText: s.liveText, machines: s.machines },
    sections: [],
  };
  d.sections.push(...runSections(d));

  mountLoginApi(app, { store: s.store, accounts: s.accounts, log: s.log, now: s.now, trustProxy: d.trustProxy, cf: o.cf });
  mountAuthPages(app, d, { throttle: s.throttle, closeSessionStreams: (hash) => streams.closeSession(hash) });
  mountRunLive(app, d, streams);
  mountRunTerminal(app, d, streams);
  mountRunsPages(app, d);
  mountMachinesPages(app, d);
  mountSettingsPages(app, d);
  mountRunActions(app, d);
  mountPushPages(app, d);
  mountAdminPages(app, d);
  mountStatic(app, views, s.log, () => ({
    status: 404,
    headers: PAGE_HEADERS,
    body: views.page('error', 'Not found', { title: 'Not found', status: 404, code: new CcgError('ERR_NOT_FOUND').code, message: 'There is nothing at this address.', back: null }, { user: null, csrf: null }),
  }));

  return {
    close() {
      streams.closeAll();
      watch.close();
    },
  };
}

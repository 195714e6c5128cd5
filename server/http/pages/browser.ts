import { randomBytes } from 'node:crypto';
import type { TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../../../protocol/errors.js';
import { RUN_ID_RE } from '../../../protocol/ids.js';
import type { AccountService } from '../../auth/accounts.js';
import { CF_ACCESS_HEADER, type CfAccessVerifier } from '../../auth/cf-access.js';
import { requireRole, type Principal, type Role } from '../../auth/operator-auth.js';
import { PRE_COOKIE, SessionService, cookieHeader, readCookie, safeEqual, type ResolvedSession } from '../../auth/sessions.js';
import type { ArtifactService } from '../../core/artifacts.js';
import type { AssistService } from '../../core/assist.js';
import type { LiveTextService } from '../../core/live-text.js';
import type { EventBus } from '../../live/bus.js';
import type { ApprovalService } from '../../core/approvals.js';
import type { ClaudeSessionService } from '../../core/claude-session.js';
import type { SteeringService } from '../../core/steering.js';
import type { WebPush } from '../../notify/web-push.js';
import type { PolicyService } from '../../core/policy.js';
import type { MachineService } from '../../core/machines.js';
import type { Requests } from '../../core/requests.js';
import type { Logger } from '../../log.js';
import type { RunService } from '../../core/runs.js';
import type { Store, UserRecord } from '../../store/types.js';
import { PAGE_HEADERS, type LayoutData, type ViewData, type Views } from '../views.js';
import { retryAfter, route, type Ctx, type FullReply, type Reply } from '../../respond.js';
import type { RunSection } from './run-sections.js';

/** The gateway's services behind the run page's sections (commands, artifacts, assist, approvals, input, push). */
export interface PagePowers {
  policy: PolicyService;
  artifacts: ArtifactService;
  assist: AssistService;
  approvals: ApprovalService;
  steering: SteeringService;
  /** A Claude session's mode, model and "stop this turn". */
  claudeSession: ClaudeSessionService;
  push: WebPush;
  /** The operations the JSON API calls too (role, policy and audit in one place). */
  requests: Requests;
  /** Machines and the runs started on them. */
  machines: MachineService;
  /** The reply Claude is writing in each run (live text). */
  liveText: LiveTextService;
}

/** Everything the page routes need, built once by mountBrowser. */
export interface BrowserDeps {
  store: Store;
  runs: RunService;
  bus: EventBus;
  log: Logger;
  now: () => number;
  views: Views;
  accounts: AccountService;
  sessions: SessionService;
  cf: CfAccessVerifier | null;
  /** Take the client address from CF-Connecting-IP / X-Forwarded-For when the peer is loopback (a local tunnel). */
  trustProxy: boolean;
  tls: boolean;
  runnerUrl: (hostHeader: string | undefined) => string;
  fingerprint: string | null;
  /** The single-file runner's SHA-256, when the gateway serves it. */
  runnerSha256?: string | null;
  setupPending: () => boolean;
  markSetupDone: () => Promise<void>;
  checkSetupCode: (code: string) => boolean;
  powers: PagePowers;
  /** The run page's sections (run-sections.ts), in no particular order. */
  sections: RunSection[];
}

/** One request to a page, after the browser checks: who it is, and what to send back with the reply. */
export interface PageCtx {
  ctx: Ctx;
  d: BrowserDeps;
  ip: string;
  /** Sent by htmx: answer with a fragment. */
  htmx: boolean;
  /** The signed-in user (full session), or the pending one on the two-factor step. */
  session: ResolvedSession | null;
  user: UserRecord | null;
  principal: Principal | null;
  /** The email Cloudflare Access vouched for, when Access is configured. */
  cfEmail: string | null;
  /** The token forms of this page must carry. */
  csrf: string;
  /** Set-Cookie headers to add to the reply. */
  cookies: string[];
  /** The urlencoded form body of a POST (read once, capped). */
  form(): Promise<URLSearchParams>;
  layout(extra?: Partial<LayoutData>): LayoutData;
}

export type Auth = 'public' | 'user' | 'pending';

export interface PageRouteOptions {
  auth: Auth;
  role?: Role;
}

const FORM_LIMIT = 64 * 1024;

/** IPv4 in uWS's IPv6-mapped long form, back to dotted quads. */
function normaliseAddress(a: string): string {
  const m = /^(?:0{1,4}:){5}ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(a);
  if (!m) return a;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

function isLoopbackAddress(a: string): boolean {
  return /^127\./.test(a) || a === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(a);
}

export function clientIp(ctx: Ctx, trustProxy: boolean): string {
  const peer = normaliseAddress(ctx.remote);
  if (trustProxy && isLoopbackAddress(peer)) {
    const fwd = ctx.headers['cf-connecting-ip'] ?? ctx.headers['x-forwarded-for']?.split(',')[0];
    if (fwd && /^[0-9a-fA-F:.]{2,45}$/.test(fwd.trim())) return fwd.trim();
  }
  return peer;
}

/** The run id in a page route's path (`/runs/:id/…`), or ERR_RUN_NOT_FOUND when it cannot be one. */
export function runIdOf(pc: PageCtx): string {
  const id = pc.ctx.params[0] ?? '';
  if (!RUN_ID_RE.test(id)) throw new CcgError('ERR_RUN_NOT_FOUND', 'There is no run with that id.');
  return id;
}

/** A local path to return to after login; anything else (other hosts, `//x`, `\\x`) becomes /runs. */
export function safeNext(next: string | null | undefined): string {
  if (!next || !/^\/(?![/\\])[A-Za-z0-9/_.?=&%-]*$/.test(next) || next.length > 200) return '/runs';
  return next;
}

/**
 * The cross-site request check of every state-changing request: the browser says it comes from
 * this origin (Sec-Fetch-Site, or failing that Origin against Host), and it carries this
 * session's token. SameSite=Strict already keeps the cookie off cross-site requests; this holds
 * even where that fails (an old browser, a sibling origin on the same site).
 */
export function sameOrigin(headers: Record<string, string>): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin';
  const origin = headers['origin'];
  if (!origin || origin === 'null') return false;
  try {
    return new URL(origin).host === headers['host'];
  } catch {
    return false;
  }
}

function hstsHost(host: string | undefined): boolean {
  const h = (host ?? '').replace(/:\d+$/, '');
  // Never pin HSTS on localhost or a bare address: it would apply to every port of that host.
  return h !== '' && h !== 'localhost' && !/^[\d.]+$/.test(h) && !h.startsWith('[');
}

export function pageHeaders(pc: PageCtx): Record<string, string> {
  const h: Record<string, string> = { ...PAGE_HEADERS };
  if (pc.d.tls && hstsHost(pc.ctx.headers['host'])) h['strict-transport-security'] = 'max-age=31536000';
  return h;
}

/** A full HTML page. */
export function html(pc: PageCtx, status: number, page: string, title: string, data: ViewData, layout?: Partial<LayoutData>): FullReply {
  return { status, headers: pageHeaders(pc), cookies: pc.cookies, body: pc.d.views.page(page, title, data, pc.layout(layout)) };
}

/** A fragment for htmx. */
export function fragment(pc: PageCtx, status: number, partial: string, data: ViewData): FullReply {
  return { status, headers: pageHeaders(pc), cookies: pc.cookies, body: pc.d.views.partial(partial, data) };
}

/** 303 See Other: after a POST, the browser GETs the next page (and a reload does not post again). */
export function redirect(pc: PageCtx, location: string): FullReply {
  if (pc.htmx) return { status: 200, headers: { ...pageHeaders(pc), 'hx-redirect': location }, cookies: pc.cookies, body: '' };
  return { status: 303, headers: { ...pageHeaders(pc), location }, cookies: pc.cookies, body: '' };
}

const ERROR_TITLES: Record<number, string> = {
  400: 'That did not work',
  401: 'Please sign in',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Not possible right now',
  413: 'Too large',
  429: 'Slow down',
  500: 'Something broke',
  503: 'Try again shortly',
};

export function errorPage(pc: PageCtx, err: CcgError, back?: string): FullReply {
  const status = err.http;
  const headers = pageHeaders(pc);
  const wait = retryAfter(err);
  if (wait) headers['retry-after'] = wait;
  const title = ERROR_TITLES[status] ?? 'Error';
  // Sentence case for people, unless the message starts with a name (an email, a path, an id).
  const message = /^[a-z]+[\s,:;]/.test(err.message) ? err.message.charAt(0).toUpperCase() + err.message.slice(1) : err.message;
  const body = pc.d.views.page('error', title, { title, status, code: err.code, message, back: back ?? null }, pc.layout());
  return { status, headers, cookies: pc.cookies, body };
}

async function readForm(ctx: Ctx): Promise<URLSearchParams> {
  const type = (ctx.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const body = await ctx.body(FORM_LIMIT);
  if (body.length > 0 && type !== 'application/x-www-form-urlencoded') throw new CcgError('ERR_BAD_REQUEST', 'forms are sent as application/x-www-form-urlencoded');
  return new URLSearchParams(body.toString('utf8'));
}

/**
 * Registers a page route with the browser checks in front of the handler, in this order:
 * Cloudflare Access (when configured), the session, the cross-site check and CSRF token on
 * every POST, the role. GET handlers never change state.
 */
export function pageRoute(
  app: TemplatedApp,
  d: BrowserDeps,
  method: 'get' | 'post',
  pattern: string,
  opts: PageRouteOptions,
  handler: (pc: PageCtx) => Reply | Promise<Reply>,
): void {
  route(app, method, pattern, d.log, async (ctx) => {
    let formCache: Promise<URLSearchParams> | undefined;
    const pc: PageCtx = {
      ctx,
      d,
      ip: clientIp(ctx, d.trustProxy),
      htmx: ctx.headers['hx-request'] === 'true',
      session: null,
      user: null,
      principal: null,
      cfEmail: null,
      csrf: '',
      cookies: [],
      form: () => (formCache ??= readForm(ctx)),
      layout: (extra) => ({
        user: pc.user && pc.session?.record.stage === 'full' ? { name: pc.user.name, role: pc.user.role } : null,
        csrf: pc.csrf || null,
        ...extra,
      }),
    };
    // uWebSockets.js delivers the body only to a reader attached before the first await.
    if (method === 'post') pc.form().catch(() => undefined);
    try {
      return await handle(pc, method, opts, handler);
    } catch (err) {
      if (!(err instanceof CcgError)) {
        d.log.error('page.unhandled', { path: ctx.path, err: String(err) });
        return errorPage(pc, new CcgError('ERR_INTERNAL', 'the gateway hit an internal error; the log has details'));
      }
      return errorPage(pc, err);
    }
  });
}

async function handle(pc: PageCtx, method: 'get' | 'post', opts: PageRouteOptions, handler: (pc: PageCtx) => Reply | Promise<Reply>): Promise<Reply> {
  const { ctx, d } = pc;
  let cfUser: UserRecord | undefined;
  if (d.cf) {
    const { email } = await d.cf.verify(ctx.headers[CF_ACCESS_HEADER]);
    pc.cfEmail = email;
    cfUser = d.accounts.findByEmail(email);
    // Before the first admin exists nobody is mapped yet: only /setup is open, and only via Access.
    const setupRoute = ctx.path === '/setup' || ctx.path === '/';
    if (!(cfUser && !cfUser.disabled) && !(setupRoute && d.setupPending())) {
      throw new CcgError('ERR_ACCESS_DENIED', `${email} is not a user of this gateway: ask an admin to add it`);
    }
  }

  const s = d.sessions.resolve(ctx.headers['cookie']);
  // With Access, a session only counts for the person Access says is here.
  const usable = s && (!cfUser || s.user.id === cfUser.id) ? s : undefined;
  if (usable && usable.record.stage === 'full') {
    d.sessions.touch(usable);
    pc.session = usable;
    pc.user = usable.user;
    pc.principal = { name: usable.user.name, role: usable.user.role, via: 'session', tokenId: null, userId: usable.user.id, credGen: usable.record.credGen ?? 0 };
    pc.csrf = usable.record.csrf;
  } else if (usable && usable.record.stage === 'totp' && opts.auth === 'pending') {
    pc.session = usable;
    pc.user = usable.user;
    pc.csrf = usable.record.csrf;
  }

  if (opts.auth === 'user' && !pc.principal) {
    const eventStream = (ctx.headers['accept'] ?? '').includes('text/event-stream');
    if (method === 'get' && !pc.htmx && !eventStream) return redirect(pc, `/login?next=${encodeURIComponent(safeNext(ctx.target))}`);
    throw new CcgError('ERR_UNAUTHORIZED', 'your session has ended: sign in again');
  }
  if (opts.auth === 'pending' && pc.session?.record.stage !== 'totp') return redirect(pc, '/login');

  if (!pc.csrf) {
    // Anonymous forms (login, setup) carry a double-submit token tied to a cookie of this browser.
    let pre = readCookie(ctx.headers['cookie'], PRE_COOKIE);
    if (!pre || !/^[A-Za-z0-9_-]{43}$/.test(pre)) {
      pre = randomBytes(32).toString('base64url');
      if (method === 'get') pc.cookies.push(cookieHeader(PRE_COOKIE, pre, 3600));
    }
    pc.csrf = pre;
  }

  if (method === 'post') {
    if (!sameOrigin(ctx.headers)) {
      d.log.warn('page.cross_site_refused', { path: ctx.path, site: ctx.headers['sec-fetch-site'] ?? null, origin: ctx.headers['origin']?.slice(0, 100) ?? null });
      throw new CcgError('ERR_CSRF', 'this form was not sent from this site');
    }
    const presented = ctx.headers['x-csrf-token'] ?? (await pc.form()).get('_csrf') ?? undefined;
    if (!presented || !safeEqual(presented, pc.csrf)) {
      d.log.warn('page.csrf_refused', { path: ctx.path, user: pc.user?.name ?? null });
      throw new CcgError('ERR_CSRF', 'the form expired or was not sent from this site: reload the page and try again');
    }
  }

  if (opts.role) requireRole(pc.principal, opts.role);
  return handler(pc);
}

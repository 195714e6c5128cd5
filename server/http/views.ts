import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';
import { Eta } from 'eta';
import type { TemplatedApp } from 'uWebSockets.js';
import { packageRoot } from '../paths.js';
import { route } from '../respond.js';
import type { Logger } from '../log.js';
import { raw, type SafeHtml } from '../render/html.js';

/**
 * Content-Security-Policy of every page: scripts and styles only from our own files (no inline
 * script, no inline style, no eval), no framing, forms post only here, no base-tag tricks.
 */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Headers of every HTML page (the security headers of respond.ts come on top). */
export const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': CSP,
};

/** What the layout shows around every page. */
export interface LayoutData {
  user: { name: string; role: string } | null;
  /** The anti-CSRF token for forms and htmx requests; null on pages without forms. */
  csrf: string | null;
  /** Which nav item is current. */
  nav?: 'runs' | 'new' | 'machines' | 'settings' | 'audit' | null;
  /** A short message from a fixed list (never text from a request). */
  notice?: string | null;
  /** Extra scripts of this page, by static asset name (e.g. the settings page's push.js). */
  scripts?: string[];
  /** Extra stylesheets of this page, by static asset name (the terminal view's xterm.css). */
  styles?: string[];
}

/**
 * Data for a template. The templates insert these keys unescaped (`<%~ it.html %>`, `<%~ it.cards %>`,
 * `<%~ it.runsHtml %>`, `<%~ it.output.html %>`), so they must be SafeHtml; every other value is
 * escaped by eta (autoEscape), and `<%~ include(…) %>` inserts our own partials.
 */
export type ViewData = Record<string, unknown> & {
  html?: SafeHtml | null;
  cards?: SafeHtml;
  runsHtml?: SafeHtml | null;
  output?: { html: SafeHtml } | null;
};

export interface Views {
  /** A full page: `pages/<name>.eta` inside `layout.eta`. */
  page(name: string, title: string, data: ViewData, layout: LayoutData): SafeHtml;
  /** A fragment for htmx or SSE: `partials/<name>.eta`. */
  partial(name: string, data: ViewData): SafeHtml;
  /** The URL of a static asset, with a content hash so it can be cached for a year. */
  asset(name: string): string;
}

interface Asset {
  type: string;
  body: Buffer;
  hash: string;
  gzip?: Buffer;
  br?: Buffer;
}

const require = createRequire(import.meta.url);

/**
 * Static files: ours from views/static, htmx, its SSE extension and xterm.js straight from node_modules
 * (no build step, no CDN). Compressed once, on first request, and cached.
 */
function loadAssets(): Map<string, Asset> {
  const files: [string, string, string][] = [
    ['app.css', join(packageRoot, 'views/static/app.css'), 'text/css; charset=utf-8'],
    ['app.js', join(packageRoot, 'views/static/app.js'), 'text/javascript; charset=utf-8'],
    ['push.js', join(packageRoot, 'views/static/push.js'), 'text/javascript; charset=utf-8'],
    ['sw.js', join(packageRoot, 'views/static/sw.js'), 'text/javascript; charset=utf-8'],
    ['icon.svg', join(packageRoot, 'views/static/icon.svg'), 'image/svg+xml'],
    ['htmx.min.js', require.resolve('htmx.org/dist/htmx.min.js'), 'text/javascript; charset=utf-8'],
    ['htmx-sse.min.js', require.resolve('htmx-ext-sse/dist/sse.min.js'), 'text/javascript; charset=utf-8'],
    // The pty terminal view: xterm.js as published (its UMD build defines `Terminal`), our glue.
    ['xterm.js', require.resolve('@xterm/xterm/lib/xterm.js'), 'text/javascript; charset=utf-8'],
    ['xterm.css', require.resolve('@xterm/xterm/css/xterm.css'), 'text/css; charset=utf-8'],
    ['terminal.js', join(packageRoot, 'views/static/terminal.js'), 'text/javascript; charset=utf-8'],
  ];
  const out = new Map<string, Asset>();
  for (const [name, file, type] of files) {
    const body = readFileSync(file);
    out.set(name, { type, body, hash: createHash('sha256').update(body).digest('hex').slice(0, 12) });
  }
  return out;
}

export function createViews(): Views {
  const eta = new Eta({ views: join(packageRoot, 'views'), autoEscape: true, cache: true });
  const assets = loadAssets();
  const asset = (name: string) => `/static/${name}?v=${assets.get(name)?.hash ?? '0'}`;
  const views: Views & { assets: Map<string, Asset> } = {
    assets,
    asset,
    page(name, title, data, layout) {
      const body = raw(eta.render(`pages/${name}`, { ...data, layout }));
      return raw(eta.render('layout', { title, body, asset, ...layout, nav: layout.nav ?? null, notice: layout.notice ?? null, scripts: layout.scripts ?? [], styles: layout.styles ?? [] }));
    },
    partial(name, data) {
      return raw(eta.render(`partials/${name}`, data));
    },
  };
  return views;
}

/** Serves /static/* (with gzip or brotli when the browser takes it) and the 404 of unknown paths. */
export function mountStatic(app: TemplatedApp, views: Views, log: Logger, notFound: (accept: string) => { status: number; headers: Record<string, string>; body: string }): void {
  const assets = (views as Views & { assets: Map<string, Asset> }).assets;
  route(app, 'get', '/static/:file', log, (ctx) => {
    const a = assets.get(ctx.params[0] ?? '');
    if (!a) return notFound(ctx.headers['accept'] ?? '');
    const enc = ctx.headers['accept-encoding'] ?? '';
    const headers: Record<string, string> = { 'content-type': a.type, vary: 'accept-encoding' };
    // Versioned URLs never change content; unversioned ones are re-checked hourly.
    headers['cache-control'] = ctx.query.startsWith('v=') ? 'public, max-age=31536000, immutable' : 'public, max-age=3600';
    if (/\bbr\b/.test(enc)) {
      a.br ??= brotliCompressSync(a.body, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 10 } });
      return { status: 200, headers: { ...headers, 'content-encoding': 'br' }, body: a.br };
    }
    if (/\bgzip\b/.test(enc)) {
      a.gzip ??= gzipSync(a.body, { level: 9 });
      return { status: 200, headers: { ...headers, 'content-encoding': 'gzip' }, body: a.gzip };
    }
    return { status: 200, headers, body: a.body };
  });
  // The service worker lives at the root so its scope is the whole site (push notifications, and
  // opening /runs/ID when one is tapped). Browsers re-check it on every visit: never cached long.
  route(app, 'get', '/sw.js', log, () => {
    const a = assets.get('sw.js')!;
    return { status: 200, headers: { 'content-type': a.type, 'cache-control': 'no-cache', 'content-security-policy': CSP }, body: a.body };
  });
  route(app, 'any', '/*', log, (ctx) => {
    if (ctx.path.startsWith('/api/') || !(ctx.headers['accept'] ?? '').includes('text/html')) {
      return { status: 404, json: { error: { code: 'ERR_NOT_FOUND', message: `no route for ${ctx.method} ${ctx.path.slice(0, 200)}` } } };
    }
    return notFound(ctx.headers['accept'] ?? '');
  });
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Eta } from 'eta';
import type { TemplatedApp } from 'uWebSockets.js';
import { packageRoot } from './paths.js';
import { SECURITY_HEADERS, route } from './http/respond.js';
import type { Logger } from './log.js';

/** Pages: eta with autoEscape on; `<%~` only for partials we render ourselves, never runner output. */
export function createViews(): { page(name: string, title: string, data: Record<string, unknown>): string } {
  const eta = new Eta({ views: join(packageRoot, 'views'), autoEscape: true, cache: true });
  return {
    page(name, title, data) {
      const body = eta.render(`pages/${name}`, data);
      return eta.render('layout', { title, body });
    },
  };
}

export const PAGE_HEADERS: Record<string, string> = {
  ...SECURITY_HEADERS,
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

const STATIC: Record<string, string> = { 'app.css': 'text/css; charset=utf-8' };

export function mountPages(app: TemplatedApp, o: { log: Logger; setupPending: () => boolean }): void {
  const views = createViews();
  const assets = new Map(Object.entries(STATIC).map(([f, type]) => [f, { type, body: readFileSync(join(packageRoot, 'views/static', f)) }]));
  route(app, 'get', '/', o.log, () => ({
    status: 200,
    headers: PAGE_HEADERS,
    body: views.page('home', 'Gateway', { setupPending: o.setupPending() }),
  }));
  route(app, 'get', '/static/:file', o.log, (ctx) => {
    const asset = assets.get(ctx.params[0] ?? '');
    if (!asset) return { status: 404, headers: PAGE_HEADERS, body: views.page('error', 'Not found', { status: 404, message: 'No such file.' }) };
    return { status: 200, headers: { ...SECURITY_HEADERS, 'content-type': asset.type, 'cache-control': 'public, max-age=3600' }, body: asset.body };
  });
  route(app, 'any', '/*', o.log, (ctx) => {
    if (ctx.path.startsWith('/api/') || !(ctx.headers['accept'] ?? '').includes('text/html')) {
      return { status: 404, json: { error: { code: 'ERR_NOT_FOUND', message: `no route for ${ctx.method} ${ctx.path.slice(0, 200)}` } } };
    }
    return { status: 404, headers: PAGE_HEADERS, body: views.page('error', 'Not found', { status: 404, message: 'There is nothing at this address.' }) };
  });
}

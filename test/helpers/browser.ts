import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { tempDir } from './gateway.js';

/** Where test runs leave screenshots (git-ignored). */
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../../test-results/screenshots/', import.meta.url));

export interface Phone {
  context: BrowserContext;
  page: Page;
  /** Problems the page reported: uncaught errors, console errors (CSP violations included), dialogs. */
  problems: string[];
  shot(name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Debian's chromium, headless, in a fresh profile, at a phone's size (390×844, touch, 2× pixels).
 * Self-signed test certificates are accepted; nothing else is relaxed.
 */
export async function launchPhone(): Promise<Phone> {
  const executablePath = process.env['CCG_CHROMIUM'] ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium is not installed at ${executablePath}: \`bash .ci/run\` installs it (or \`sudo apt-get install chromium\`; CCG_CHROMIUM names another binary)`);
  }
  const profile = tempDir('ccg-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    ignoreHTTPSErrors: true,
    colorScheme: 'light',
    timeout: 60_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}${process.env['CCG_DEBUG_CONSOLE'] ? ` at ${JSON.stringify(msg.location())} ${page.url()}` : ''}`);
  });
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.type()} ${d.message()}`);
    void d.dismiss();
  });
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return {
    context,
    page,
    problems,
    async shot(name) {
      const file = join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path: file, fullPage: false });
      return file;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Page problems that are not ours: failed loads while a stream reconnects. */
export function realProblems(phone: Phone): string[] {
  return phone.problems.filter((p) => !/net::ERR_|Failed to load resource|^console: \[object Event\]$/.test(p));
}

/** Runs a browser scenario; when it fails, a screenshot named after it is kept in test-results/. */
export async function withShots<T>(phone: Phone, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    await phone.shot(`failure-${name}`).catch(() => undefined);
    throw err;
  }
}

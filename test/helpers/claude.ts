import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './gateway.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The version of @anthropic-ai/claude-code pinned in package.json (what the tests run). */
export const CLAUDE_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['@anthropic-ai/claude-code']!;

/**
 * The real `claude` binary from the pinned devDependency. The npm package ships its native build
 * in a per-platform optional dependency and copies it over bin/claude.exe in its postinstall; we
 * take the platform package's binary directly so the tests work even when install scripts were
 * skipped.
 */
export function claudeBinary(): string {
  const musl = process.report?.getReport && (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime === undefined;
  const platformPkg = join(ROOT, 'node_modules/@anthropic-ai', `claude-code-${process.platform}-${process.arch}${musl ? '-musl' : ''}`, 'claude');
  if (existsSync(platformPkg)) return platformPkg;
  return join(ROOT, 'node_modules/.bin/claude');
}

/**
 * The environment for running the real CLI offline against the model stand-in: its API at
 * `baseUrl`, a dummy key, no non-essential traffic, and a fresh HOME / CLAUDE_CONFIG_DIR so no
 * user settings, credentials or sessions leak in or out.
 */
export function claudeEnv(baseUrl: string, home = tempDir('ccg-claude-home-')): Record<string, string> {
  mkdirSync(join(home, '.claude'), { recursive: true });
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: home,
    CLAUDE_CONFIG_DIR: join(home, '.claude'),
    ANTHROPIC_BASE_URL: baseUrl,
    ANTHROPIC_API_KEY: 'x',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
  };
}

/**
 * Settles what interactive `claude` would otherwise ask on a first start (onboarding, "use this
 * API key?", "trust this folder?"), so it can be driven in a pty against the stand-in.
 */
export function trustForInteractive(env: Record<string, string>, cwd: string): void {
  const cfg = {
    hasCompletedOnboarding: true,
    lastOnboardingVersion: CLAUDE_VERSION,
    customApiKeyResponses: { approved: [env['ANTHROPIC_API_KEY']!.slice(-20)], rejected: [] },
    projects: { [cwd]: { hasTrustDialogAccepted: true, allowedTools: [] } },
  };
  writeFileSync(join(env['CLAUDE_CONFIG_DIR']!, '.claude.json'), JSON.stringify(cfg));
}

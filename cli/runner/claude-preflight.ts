import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/** `claude auth status` gets this long; a binary that says nothing in time is given the benefit of the doubt. */
const AUTH_CHECK_MS = 15_000;

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Where `bin` resolves to (as a spawn would find it), or null when it does not exist. */
export function findBinary(bin: string, env: NodeJS.ProcessEnv, cwd: string): string | null {
  if (bin.includes('/') || bin.includes('\\')) {
    const file = isAbsolute(bin) ? bin : resolve(cwd, bin);
    return executable(file) ? file : null;
  }
  const exts = process.platform === 'win32' ? (env['PATHEXT'] ?? '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const ext of exts) if (executable(join(dir, bin + ext))) return join(dir, bin + ext);
  }
  return null;
}

/**
 * Checks, before a Claude run starts, what would otherwise fail in a way nobody at the phone can
 * act on: `claude` is not installed (or not where --claude-bin says), or this machine is not
 * logged in (Claude would answer "Please run /login", which needs someone at this machine's
 * keyboard). Resolves with a sentence saying what to do, or null when Claude can start.
 *
 * The login check asks `claude auth status --json`; only a clear "loggedIn": false refuses the
 * run (an older or wrapped claude that cannot answer is let through, and fails as it would).
 */
export async function claudePreflight(bin: string, env: NodeJS.ProcessEnv, cwd: string): Promise<string | null> {
  const host = hostname();
  const found = findBinary(bin, env, cwd);
  if (!found) {
    return `Claude Code is not installed on ${host}: no executable "${bin.slice(0, 200)}"${bin.includes('/') ? '' : ' on the PATH'}. On that machine, install it (npm install -g @anthropic-ai/claude-code) or start the runner with --claude-bin PATH, then create a new run.`;
  }
  const status = await authStatus(found, env, cwd);
  if (status && status['loggedIn'] === false) {
    return `Claude Code is not logged in on ${host}, so it cannot work on this run. On that machine, run \`claude\` once and log in (or \`claude setup-token\`), or give the runner ANTHROPIC_API_KEY; then create a new run.`;
  }
  return null;
}

function authStatus(file: string, env: NodeJS.ProcessEnv, cwd: string): Promise<Record<string, unknown> | null> {
  return new Promise((done) => {
    let out = '';
    let settled = false;
    const finish = (v: Record<string, unknown> | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(v);
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, ['auth', 'status', '--json'], { cwd, env, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return done(null);
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(null);
    }, AUTH_CHECK_MS);
    child.stdout!.on('data', (d: Buffer) => {
      if (out.length < 64 * 1024) out += d.toString('utf8');
    });
    child.on('error', () => finish(null));
    child.on('close', () => {
      try {
        const v = JSON.parse(out) as unknown;
        finish(v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
      } catch {
        finish(null);
      }
    });
  });
}

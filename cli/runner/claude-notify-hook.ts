import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What the hook relays at most (Claude's message is short; anything longer is cut). */
const MAX_HOOK_INPUT = 64 * 1024;

/**
 * The hook command Claude Code runs: it reads the hook's JSON from stdin and hands it to the
 * runner over a Unix socket in the same private directory, then exits 0 whatever happens (a
 * broken relay must never block Claude).
 */
const HOOK_SCRIPT = `'use strict';
const net = require('node:net');
let data = '';
setTimeout(() => process.exit(0), 5000).unref();
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { if (data.length < ${MAX_HOOK_INPUT}) data += d; });
process.stdin.on('end', () => {
  const s = net.createConnection(process.argv[2], () => s.end(data.slice(0, ${MAX_HOOK_INPUT})));
  s.on('error', () => process.exit(0));
  s.on('close', () => process.exit(0));
});
`;

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A Claude Code `Notification` hook installed for one pty run only: a private temporary
 * directory (0700) holding a settings file (the user's own `--claude-settings`, if any, with our
 * hook added), the hook script and the socket it reports to. `onNotify` gets Claude's message
 * each time the hook fires (a permission prompt, idle at its prompt). `close()` removes it all.
 */
export class ClaudeNotifyHook {
  readonly dir: string;
  readonly settingsFile: string;
  private readonly server: Server;

  constructor(onNotify: (message: string | null) => void, userSettings: string | null) {
    this.dir = mkdtempSync(join(tmpdir(), 'ccg-hook-'));
    const script = join(this.dir, 'notify-hook.cjs');
    const socket = join(this.dir, 'notify.sock');
    writeFileSync(script, HOOK_SCRIPT, { mode: 0o600 });
    const settings = readUserSettings(userSettings);
    const hooks = (settings['hooks'] ??= {}) as Record<string, unknown[]>;
    hooks['Notification'] = [...(Array.isArray(hooks['Notification']) ? hooks['Notification'] : []), { hooks: [{ type: 'command', command: `${quote(process.execPath)} ${quote(script)} ${quote(socket)}` }] }];
    this.settingsFile = join(this.dir, 'settings.json');
    writeFileSync(this.settingsFile, JSON.stringify(settings, null, 2), { mode: 0o600 });
    this.server = createServer((conn) => {
      let text = '';
      conn.setEncoding('utf8');
      conn.on('data', (d: string) => {
        if (text.length < MAX_HOOK_INPUT) text += d;
      });
      conn.on('end', () => onNotify(messageOf(text)));
      conn.on('error', () => undefined);
    });
    this.server.on('error', () => undefined);
    this.server.listen(socket);
  }

  close(): void {
    this.server.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The user's `--claude-settings` (a file, or JSON text as Claude Code also takes), as an object. */
function readUserSettings(spec: string | null): Record<string, unknown> {
  if (!spec) return {};
  const text = spec.trimStart().startsWith('{') ? spec : readFileSync(spec, 'utf8');
  const parsed = JSON.parse(text) as unknown;
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`the Claude settings in ${spec.slice(0, 80)} are not a JSON object`);
  return parsed as Record<string, unknown>;
}

/** Claude's notification message from the hook's input (the `message` field), or null. */
function messageOf(text: string): string | null {
  try {
    const v = JSON.parse(text) as { message?: unknown };
    return typeof v.message === 'string' ? v.message.slice(0, 500) : null;
  } catch {
    return null;
  }
}

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseByPlan } from '../protocol/plan-parse.js';
import type { SavedConfig } from './config-schema.js';
import { PLANS } from './client/plans.js';

/**
 * The saved login (cli/config.ts) as every gateway command reads it, without zod: the file is
 * checked against the plan of its schema (protocol/plan-parse.ts), and only when that is unsure
 * (a damaged or unusual file) does cli/config.ts load it again with the zod schema, which then
 * decides and words the error.
 */

export function configPath(env: Record<string, string | undefined>): string {
  const base = env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config');
  return join(base, 'ccg', 'config.json');
}

/** loadConfig (cli/config.ts), for callers that can wait: zod is loaded only for an unusual file. */
export async function loadSavedConfig(env: Record<string, string | undefined>): Promise<SavedConfig | undefined> {
  let text: string | undefined;
  try {
    text = readFileSync(configPath(env), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Unreadable: loadConfig says why, as it always did.
  }
  if (text !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    const fast = value === undefined ? undefined : parseByPlan(PLANS.SavedConfig, value);
    if (fast) return fast.value as SavedConfig;
  }
  return (await import('./config.js')).loadConfig(env);
}

/** Two gateway URLs name the same gateway (scheme, host and port). */
export function sameGateway(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

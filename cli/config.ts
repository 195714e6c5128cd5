import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SavedConfig } from './config-schema.js';
import { CliError } from './exit-codes.js';
import { configPath } from './saved-config.js';

export { SavedConfig } from './config-schema.js';
export { configPath, sameGateway } from './saved-config.js';

/** The saved login, undefined when there is none; a damaged file is an error that says what to do. */
export function loadConfig(env: Record<string, string | undefined>): SavedConfig | undefined {
  const file = configPath(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let parsed;
  try {
    parsed = SavedConfig.safeParse(JSON.parse(text));
  } catch {
    parsed = { success: false as const };
  }
  if (!parsed.success) throw new CliError(`${file} is damaged: run \`ccg login\` again (or delete it)`);
  return parsed.data;
}

/** Like loadConfig, but a damaged file counts as no login (login and logout replace it anyway). */
export function tryLoadConfig(env: Record<string, string | undefined>): SavedConfig | undefined {
  try {
    return loadConfig(env);
  } catch {
    return undefined;
  }
}

export function saveConfig(env: Record<string, string | undefined>, config: SavedConfig): string {
  const file = configPath(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  // Created 0600 from the start: the token is never readable by others, not even for a moment.
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}

export function removeConfig(env: Record<string, string | undefined>): boolean {
  const file = configPath(env);
  try {
    rmSync(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CliError(`cannot remove ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

import { readFileSync, realpathSync, statSync } from 'node:fs';
import { isSlashCommand } from '../../protocol/claude-steer.js';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { MODEL_RE, PermissionMode, WORKSPACE_NAME_RE, type AdvertisedWorkspace, type MachineStart } from '../../protocol/machine.js';
import { COMMAND_NAME_RE } from '../../protocol/run.js';
import { DEFAULT_ALLOWLIST, loadAllowlistFile, parseAllowFlag, type AllowedCommand } from '../runner/allowlist.js';
import { CliError } from '../exit-codes.js';

/**
 * The machine's config file: the authority on what a gateway may start here. Written by the
 * machine's owner; the gateway never sees a directory, an argv or an environment, only the
 * workspace names and what each allows (docs/COMMANDS.md, "Machines").
 */
const WorkspaceConfig = z
  .object({
    /** An absolute directory. */
    dir: z.string().min(1),
    /** Whether Claude may be started here (default true). */
    claude: z.boolean().default(true),
    /** Permission modes a gateway may ask for (default: "default" and "plan"). */
    modes: z.array(PermissionMode).default(['default', 'plan']),
    /** Models a gateway may ask for (default none: Claude's own default only). */
    models: z.array(z.string().regex(MODEL_RE)).max(16).default([]),
    /** The command allowlist its runs get: name → command line (no shell). Default: status, diff, log. */
    commands: z.record(z.string().regex(COMMAND_NAME_RE), z.string().min(1).max(4096)).optional(),
    /** An allowlist file (docs/COMMANDS.md), outside the workspace, instead of or besides `commands`. */
    allowlist: z.string().optional(),
    /** A fresh `git worktree` per run, on branch ccg/<run-id> (the directory must be a git repository). */
    worktree: z.boolean().default(false),
  })
  .strict();

export const MachineConfigFile = z
  .object({
    /** Runs at once, all workspaces together (default 2). */
    maxRuns: z.number().int().min(1).max(64).default(2),
    workspaces: z.record(z.string().regex(WORKSPACE_NAME_RE, 'workspace names are 1-32 of a-z, 0-9, _ and -'), WorkspaceConfig),
    /** Worktrees of runs that ended this many hours ago are removed, when clean (default 168: a week). */
    worktreeKeepHours: z.number().min(0).max(24 * 365).default(168),
    /** Extra flags every runner gets (e.g. ["--input-wait", "30m"]). Never from the gateway. */
    runnerArgs: z.array(z.string().max(4096)).max(64).default([]),
  })
  .strict();

export interface Workspace {
  name: string;
  dir: string;
  claude: boolean;
  modes: PermissionMode[];
  models: string[];
  allowlist: AllowedCommand[];
  /** What the runner is given: `--allow` specs and an allowlist file. */
  allowFlags: string[];
  allowlistFile: string | null;
  worktree: boolean;
}

export interface MachineConfig {
  file: string;
  maxRuns: number;
  workspaces: Map<string, Workspace>;
  worktreeKeepHours: number;
  runnerArgs: string[];
}

/** `$XDG_CONFIG_HOME/ccg/machine.json`, by default `~/.config/ccg/machine.json`. */
export function defaultMachineConfigPath(env: Record<string, string | undefined>): string {
  return join(env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config'), 'ccg', 'machine.json');
}

export const EXAMPLE_CONFIG = {
  maxRuns: 2,
  workspaces: { app: { dir: '/home/you/src/app', modes: ['default', 'plan'], commands: { test: 'npm test', diff: 'git diff' }, worktree: true } },
};

/** Reads and checks the config file; every problem is a CliError naming the file and what to fix. */
export function loadMachineConfig(file: string): MachineConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new CliError(`cannot read the machine config ${file} (${code}). It names the workspaces a gateway may start Claude in, e.g.:\n${JSON.stringify(EXAMPLE_CONFIG, null, 2)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not valid JSON`);
  }
  const parsed = MachineConfigFile.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new CliError(`${file}: ${i.path.join('.') || '(top level)'}: ${i.message}`);
  }
  const workspaces = new Map<string, Workspace>();
  for (const [name, w] of Object.entries(parsed.data.workspaces)) {
    if (!isAbsolute(w.dir)) throw new CliError(`${file}: workspaces.${name}.dir must be an absolute directory`);
    let dir: string;
    try {
      dir = realpathSync(w.dir);
      if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    } catch {
      throw new CliError(`${file}: workspaces.${name}.dir ${w.dir} is not a directory`);
    }
    const allowFlags = Object.entries(w.commands ?? {}).map(([n, line]) => `${n}=${line}`);
    const fromFlags = allowFlags.map(parseAllowFlag);
    const fromFile = w.allowlist ? loadAllowlistFile(w.allowlist, dir) : [];
    const allowlist = [...fromFile, ...fromFlags];
    workspaces.set(name, {
      name, dir, claude: w.claude, modes: [...new Set(w.modes)], models: w.models,
      allowlist: allowlist.length ? allowlist : DEFAULT_ALLOWLIST, allowFlags, allowlistFile: w.allowlist ?? null, worktree: w.worktree,
    });
  }
  if (workspaces.size === 0) throw new CliError(`${file}: no workspaces: a gateway could start nothing here`);
  return { file, maxRuns: parsed.data.maxRuns, workspaces, worktreeKeepHours: parsed.data.worktreeKeepHours, runnerArgs: parsed.data.runnerArgs };
}

/** What the machine tells the gateway about its workspaces: names and permissions, never a directory. */
export function advertiseWorkspaces(c: MachineConfig): AdvertisedWorkspace[] {
  return [...c.workspaces.values()].map((w) => ({ name: w.name, claude: w.claude, modes: w.modes, models: w.models, commands: w.allowlist.map((a) => a.name), worktree: w.worktree }));
}

/**
 * The machine's own check of a start the gateway asked for: the one place that says no. Returns
 * the workspace, or the reason for refusing (sent back to the gateway and audited there).
 */
export function checkStart(c: MachineConfig, msg: MachineStart): { ok: true; ws: Workspace } | { ok: false; reason: string } {
  const ws = c.workspaces.get(msg.workspace);
  if (!ws) return { ok: false, reason: `no workspace named ${msg.workspace} on this machine (it has: ${[...c.workspaces.keys()].join(', ')})` };
  if (msg.prompt !== undefined && !ws.claude) return { ok: false, reason: `workspace ${ws.name} does not allow starting Claude` };
  // Claude runs a slash command it is given as its prompt (/model, /config): it could change what `modes` and `models` bound.
  if (msg.prompt !== undefined && isSlashCommand(msg.prompt)) return { ok: false, reason: 'a prompt from the gateway may not be a slash command (/…): it could change the modes and models this workspace allows' };
  if (msg.mode && !ws.modes.includes(msg.mode)) return { ok: false, reason: `workspace ${ws.name} does not allow the permission mode ${msg.mode} (allowed: ${ws.modes.join(', ') || 'none'})` };
  if (msg.model && !ws.models.includes(msg.model)) return { ok: false, reason: `workspace ${ws.name} does not allow the model ${msg.model} (allowed: ${ws.models.join(', ') || "Claude's default only"})` };
  if (msg.command !== undefined && !ws.allowlist.some((a) => a.name === msg.command)) return { ok: false, reason: `${JSON.stringify(msg.command.slice(0, 64))} is not on workspace ${ws.name}'s command list` };
  if (msg.command !== undefined && ws.allowlist.find((a) => a.name === msg.command)!.params.size > 0) return { ok: false, reason: `${msg.command} takes parameters: it cannot be started as a run` };
  return { ok: true, ws };
}

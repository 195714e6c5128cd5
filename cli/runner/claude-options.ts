import { MODEL_RE, PERMISSION_MODES } from '../../protocol/claude-steer.js';
import { CLAUDE_STREAM_FLAGS } from '../../protocol/claude-stream.js';
import { CliError } from '../exit-codes.js';
import { TextTimeline } from '../render/timeline-text.js';
import { ClaudeDriver } from './claude.js';
import type { ChildDriver } from './driver.js';
import { PtyDriver } from './pty.js';

export interface ChildChoice {
  runId: string;
  prompt: string | undefined;
  /** The command after `--` (empty with --cmd). */
  command: string[];
  claudeBin: string;
  claudeArgs: string[];
  claudeSettings: string | undefined;
  pty: { cols: number; rows: number } | null;
  approvalTimeoutMs: number;
  inputWaitMs: number;
  /** `--no-remote-input`: refuse prompts and keystrokes from the gateway. */
  remoteInput: boolean;
  /** `--no-remote-approval`: the runner denies Claude's permission requests itself. */
  remoteApproval: boolean;
  /** `--allow-bypass-permissions`: operators may switch Claude to bypassPermissions. */
  allowBypass?: boolean;
  /** `--modes`, `--models`: what the gateway may switch Claude to (null: any). */
  modes?: readonly string[] | null;
  models?: readonly string[] | null;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The local terminal, when the runner echoes what happens. */
  echo: NodeJS.WritableStream | null;
}

/** Parses `--pty-size COLSxROWS`. */
/** `--modes default,plan`: permission modes, each one Claude knows; empty: none. */
export function parseModes(text: string): string[] {
  const modes = text.split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of modes) {
    if (!(PERMISSION_MODES as readonly string[]).includes(m)) throw new CliError(`--modes: unknown permission mode "${m.slice(0, 64)}" (one of ${PERMISSION_MODES.join(', ')})`);
  }
  return modes;
}

/** `--models sonnet,opus`: model names; empty (`--models=`): none. */
export function parseModels(text: string): string[] {
  const models = text.split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of models) if (!MODEL_RE.test(m)) throw new CliError(`--models: "${m.slice(0, 100)}" is not a model name`);
  return models;
}

export function parsePtySize(text: string): { cols: number; rows: number } {
  const m = /^(\d{1,4})x(\d{1,3})$/.exec(text.trim());
  const cols = Number(m?.[1]);
  const rows = Number(m?.[2]);
  if (!m || cols < 2 || cols > 1000 || rows < 2 || rows > 500) throw new CliError(`--pty-size "${text.slice(0, 40)}" is not COLSxROWS (e.g. 120x40; at most 1000x500)`);
  return { cols, rows };
}

/**
 * What `ccg runner start` runs, and how:
 * - `--cmd PROMPT`: Claude Code over stream-json (ClaudeDriver), the prompt on its stdin;
 * - `--pty --cmd PROMPT`: interactive `claude PROMPT` in a pseudo-terminal (PtyDriver);
 * - `--pty -- CMD…`: any command in a pseudo-terminal;
 * - `-- CMD…`: a plain command (runner.ts spawns it; no driver).
 */
export function claudeChild(c: ChildChoice): { argv: string[]; mode: 'command' | 'claude'; driver: ChildDriver | null } {
  if (c.approvalTimeoutMs < 1000) throw new CliError('--approval-timeout must be at least 1s');
  const extra = [...c.claudeArgs, ...(c.claudeSettings ? ['--settings', c.claudeSettings] : [])];
  if (c.prompt === undefined) {
    if (extra.length) throw new CliError('--claude-arg and --claude-settings apply to --cmd (Claude Code) only');
    const argv = [...c.command];
    return { argv, mode: 'command', driver: c.pty ? new PtyDriver({ argv, cwd: c.cwd, env: c.env, ...c.pty, remoteInput: c.remoteInput }) : null };
  }
  if (c.pty) {
    if (c.modes || c.models) throw new CliError('--modes and --models are for Claude over stream-json (--cmd without --pty): in a terminal, keystrokes can switch what they bound');
    // The runner adds `--settings` (its Notification hook, merged with --claude-settings) at start.
    // `--` before the prompt: one that starts with '-' (from a gateway, say `--settings={…hooks…}`)
    // is the prompt, never an option of Claude's.
    const argv = [c.claudeBin, ...c.claudeArgs, '--', c.prompt];
    return { argv, mode: 'claude', driver: new PtyDriver({ argv, cwd: c.cwd, env: c.env, ...c.pty, remoteInput: c.remoteInput, claudeHook: { userSettings: c.claudeSettings ?? null } }) };
  }
  const argv = [c.claudeBin, ...CLAUDE_STREAM_FLAGS, ...extra];
  let echo = null;
  if (c.echo) {
    const out = c.echo;
    const text = new TextTimeline({
      approvalHint: (id, kind) => `answer from the phone or TUI, or: ccg runs ${kind === 'questions' ? 'answer' : kind === 'plan' ? 'plan' : 'approve'} ${c.runId} ${id}`,
    });
    let seq = 0;
    echo = (ev: Parameters<TextTimeline['push']>[0]['event']) => {
      for (const l of text.push({ seq: ++seq, time: Date.now(), event: ev })) out.write(`${l.text}\n`);
    };
  }
  return {
    argv,
    mode: 'claude',
    driver: new ClaudeDriver({
      argv, prompt: c.prompt, cwd: c.cwd, env: c.env, approvalTimeoutMs: c.approvalTimeoutMs, inputWaitMs: c.inputWaitMs,
      remoteInput: c.remoteInput, remoteApproval: c.remoteApproval, allowBypass: c.allowBypass ?? false, modes: c.modes ?? null, models: c.models ?? null, echo,
    }),
  };
}

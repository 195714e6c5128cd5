import type { Key } from 'ink';
import type { Approval } from '../../protocol/claude-control.js';
import { isFinal, type RunSummary } from '../../protocol/run.js';
import { toolSummary } from '../../protocol/timeline.js';
import type { OperatorClient } from '../client/operator-client.js';
import type { TuiApi } from './api.js';
import type { HelpItem } from './components/HelpLine.js';
import type { RunLive } from './hooks/use-run-live.js';
import { isClaudeRun } from './lenses.js';
import { clean } from './theme.js';

/**
 * Where the keyboard is. `runs`: the runs list has focus; `output`: the output view has focus
 * (scrolling). Prompts, confirmations and panels take the keyboard for themselves while open.
 */
export type Focus = 'runs' | 'output';

/** What a key binding can do: the app's actions, handed to every binding (and to panels). */
export interface KeyContext {
  focus: Focus;
  selectedRun: RunSummary | null;
  /** The role the gateway gave this token (admin, operator, viewer). */
  role: string | null;
  select(delta: number): void;
  setFocus(focus: Focus): void;
  scroll(delta: number | 'page-up' | 'page-down' | 'top' | 'bottom'): void;
  newRun(): void;
  filter(): void;
  cancelRun(): void;
  reconnect(): void;
  help(): void;
  quit(): void;
  /** Opens a registered panel (panels.ts) by id, in place of the output view. */
  openPanel(id: string): void;
  /** Asks for a line of text in the input line. `onChange` sees every keystroke (live filters). */
  prompt(p: PromptRequest): void;
  /** Asks a yes/no question in the status line. */
  confirm(question: string, onYes: () => void): void;
  /** A one-line message in the status line (level error shows in red). */
  notify(text: string, level?: 'info' | 'error'): void;
  /** The injected operator socket and HTTP API, for features that talk to the gateway themselves. */
  client: OperatorClient;
  api: TuiApi;
  /** Who we are (the gateway's welcome), or null before it. */
  user: { name: string; role: string } | null;
  /** The selected run's approvals, artifacts and assist session, as the gateway reports them. */
  live: RunLive;
  /** Claude runs: true while the raw stream-json is shown instead of the timeline. */
  rawOutput: boolean;
  toggleRaw(): void;
  /**
   * Answers an approval of the selected run (first answer wins; the outcome arrives as an
   * approval update, or as "already answered by …" in the status line).
   */
  answerApproval(approval: Approval, decision: 'allow' | 'deny', opts?: { always?: boolean; message?: string }): void;
  /** Asks for a follow-up prompt (Claude) or a line to type (--pty) in the input line, and sends it. */
  input(): void;
  /** `--pty` runs: every key goes to the run's terminal until Ctrl-]. */
  keysMode(): void;
}

export interface PromptRequest {
  label: string;
  initial?: string;
  placeholder?: string;
  onSubmit(value: string): void;
  onChange?(value: string): void;
  onCancel?(): void;
}

/**
 * One key binding. Later features (allowlisted commands `x`, approvals, input to Claude,
 * artifacts, assist) add theirs by passing more bindings to the app; the help line and the `?`
 * screen list every binding without further work.
 */
export interface KeyBinding {
  /** Characters ('n', '/') or named keys: up, down, enter, escape, tab, pageup, pagedown, home, end. */
  keys: readonly string[];
  /** How the help line shows the key: '↑↓', 'Enter', 'n'. */
  label: string;
  /** What it does, in a word or two. */
  help: string;
  /** Where it works. Default: everywhere. */
  focus?: readonly Focus[];
  /** Shown in the one-line help (when it fits); all bindings are on the `?` screen. */
  primary?: boolean;
  /** Only for these roles (others see a message instead). */
  roles?: readonly string[];
  /**
   * For the help line only: whether the key matters for what is selected (the approvals key
   * while an approval waits, `x` when the runner offers commands). Default: always. The key works
   * either way and is always on the `?` screen.
   */
  relevant?(ctx: KeyContext): boolean;
  /** The help word for the help line when it depends on the state ("raw" / "timeline"). */
  helpFor?(ctx: KeyContext): string;
  /**
   * Which keys the help line keeps when not all fit: lower ranks first (default 50). `?` and `q`
   * are always kept. The kept keys are shown in binding order.
   */
  rank?: number;
  action(ctx: KeyContext): void;
}

/** The name of the key Ink reports, or the character typed. */
export function keyName(input: string, key: Key): string {
  if (key.upArrow) return 'up';
  if (key.downArrow) return 'down';
  if (key.leftArrow) return 'left';
  if (key.rightArrow) return 'right';
  if (key.pageUp) return 'pageup';
  if (key.pageDown) return 'pagedown';
  if (key.home) return 'home';
  if (key.end) return 'end';
  if (key.return) return 'enter';
  if (key.escape) return 'escape';
  if (key.tab) return 'tab';
  if (key.backspace || key.delete) return 'backspace';
  if (key.ctrl && input) return `ctrl+${input}`;
  return input;
}

/** The binding for a key in the current focus, if any. */
export function findBinding(bindings: readonly KeyBinding[], name: string, focus: Focus): KeyBinding | undefined {
  return bindings.find((b) => b.keys.includes(name) && (!b.focus || b.focus.includes(focus)));
}

/** The keys of the operator console. Order is the order of the help line. */
export function defaultBindings(): KeyBinding[] {
  return [
    { keys: ['up', 'down', 'k', 'j'], label: '↑↓', help: 'select', focus: ['runs'], primary: true, rank: 2, action: () => undefined },
    { keys: ['up', 'k'], label: '↑', help: 'scroll up', focus: ['output'], action: (c) => c.scroll(1) },
    { keys: ['down', 'j'], label: '↓', help: 'scroll down', focus: ['output'], action: (c) => c.scroll(-1) },
    { keys: ['enter'], label: 'Enter', help: 'output', focus: ['runs'], primary: true, rank: 3, action: (c) => c.setFocus('output') },
    { keys: ['pageup'], label: 'PgUp', help: 'older', focus: ['output'], primary: true, rank: 2, action: (c) => c.scroll('page-up') },
    { keys: ['pagedown'], label: 'PgDn', help: 'newer', focus: ['output'], primary: true, rank: 8, action: (c) => c.scroll('page-down') },
    { keys: ['home', 'g'], label: 'g', help: 'top', focus: ['output'], action: (c) => c.scroll('top') },
    { keys: ['end', 'G', 'f'], label: 'f', help: 'follow', focus: ['output'], primary: true, rank: 3, action: (c) => c.scroll('bottom') },
    { keys: ['escape', 'enter', 'tab'], label: 'Esc', help: 'runs', focus: ['output'], primary: true, rank: 3, action: (c) => c.setFocus('runs') },
    ...runBindings(),
    { keys: ['n'], label: 'n', help: 'new', primary: true, rank: 6, roles: ['admin', 'operator'], action: (c) => c.newRun() },
    { keys: ['/'], label: '/', help: 'filter', primary: true, rank: 8, action: (c) => c.filter() },
    { keys: ['c'], label: 'c', help: 'cancel', primary: true, rank: 7, roles: ['admin', 'operator'], action: (c) => c.cancelRun() },
    { keys: ['r'], label: 'r', help: 'reconnect', primary: true, rank: 9, action: (c) => c.reconnect() },
    { keys: ['p'], label: 'p', help: 'policy', roles: ['admin'], action: (c) => c.openPanel('policy') },
    { keys: ['M'], label: 'M', help: 'machines', action: (c) => c.openPanel('machines') },
    { keys: ['?'], label: '?', help: 'help', primary: true, action: (c) => c.help() },
    { keys: ['q', 'ctrl+c'], label: 'q', help: 'quit', primary: true, action: (c) => c.quit() },
  ];
}

const OPERATORS = ['admin', 'operator'] as const;

/** What a run takes as input: a Claude run follow-up prompts, a `--pty` run keystrokes, a plain command nothing. */
export function inputKind(run: RunSummary | null): 'claude' | 'pty' | null {
  if (!run?.runner) return null;
  if (run.runner.pty) return 'pty';
  return run.runner.mode === 'claude' ? 'claude' : null;
}

const live = (run: RunSummary | null) => run !== null && !isFinal(run.status);

/** Whether the runner takes input from the gateway at all (not when started with --no-remote-input). */
const takesInput = (run: RunSummary | null) => inputKind(run) !== null && run?.runner?.remote?.input !== false;

/**
 * The keys of issues 5 and 6: approvals, input to Claude or a pty, allowlisted commands,
 * artifacts, assist sessions and the timeline/raw switch. They work in both focuses; the help
 * line shows each one when it matters for the selected run.
 */
export function runBindings(): KeyBinding[] {
  return [
    { keys: ['a'], label: 'a', help: 'approvals', primary: true, rank: 1, relevant: (c) => c.live.pending.length > 0, action: (c) => c.openPanel('approvals') },
    { keys: ['i'], label: 'i', help: 'input', primary: true, rank: 4, roles: OPERATORS, relevant: (c) => live(c.selectedRun) && takesInput(c.selectedRun), action: (c) => c.input() },
    { keys: ['K'], label: 'K', help: 'keys to the terminal (pty)', helpFor: () => 'keys', primary: true, rank: 5, roles: OPERATORS, relevant: (c) => live(c.selectedRun) && takesInput(c.selectedRun) && inputKind(c.selectedRun) === 'pty', action: (c) => c.keysMode() },
    { keys: ['x'], label: 'x', help: 'commands', primary: true, rank: 5, relevant: (c) => live(c.selectedRun) && (c.selectedRun?.runner?.commands.length ?? 0) > 0, action: (c) => c.openPanel('commands') },
    { keys: ['m'], label: 'm', help: 'mode/model/stop', primary: true, rank: 13, relevant: (c) => live(c.selectedRun) && inputKind(c.selectedRun) === 'claude', action: (c) => c.openPanel('session') },
    { keys: ['v'], label: 'v', help: 'raw/timeline', helpFor: (c) => (c.rawOutput ? 'timeline' : 'raw'), primary: true, rank: 10, relevant: (c) => inputKind(c.selectedRun) === 'claude', action: (c) => c.toggleRaw() },
    { keys: ['o'], label: 'o', help: 'artifacts', primary: true, rank: 11, relevant: (c) => c.selectedRun !== null && (c.live.artifacts?.length ?? 0) > 0, action: (c) => c.openPanel('artifacts') },
    { keys: ['t'], label: 't', help: 'assist (tmate)', helpFor: () => 'assist', primary: true, rank: 12, roles: OPERATORS, relevant: (c) => Boolean(c.selectedRun?.runner?.assist) || c.live.assist?.state === 'active', action: (c) => c.openPanel('assist') },
  ];
}

/** Up/down in the runs list are handled by the app itself; they are bindings for the help screens. */
export function isSelectKey(name: string): number {
  if (name === 'up' || name === 'k') return -1;
  if (name === 'down' || name === 'j') return 1;
  return 0;
}

/** The help line's candidates: primary keys for this focus and role that matter now (keys mode: only its way out). */
export function helpLineItems(bindings: readonly KeyBinding[], ctx: KeyContext, keysRun: string | null): HelpItem[] {
  if (keysRun) return [{ key: 'Ctrl-]', help: `back to the console; every other key goes to ${keysRun}`, rank: 0 }];
  const { focus, role } = ctx;
  return bindings
    .filter((b) => b.primary && (!b.focus || b.focus.includes(focus)) && (!b.roles || !role || b.roles.includes(role)) && (!b.relevant || b.relevant(ctx)))
    .map((b) => ({ key: b.label, help: b.helpFor?.(ctx) ?? b.help, rank: b.rank ?? 50 }));
}

/** What the selected run needs from the operator, for the status line: keys mode, open approvals, a follow-up. */
export function statusBanner(run: RunSummary | null, live: RunLive, keysRun: string | null): string | null {
  if (keysRun) return `⌨ keys → ${keysRun}`;
  const waiting = live.pending;
  if (waiting.length > 0) {
    const first = waiting[0]!;
    return `⏳ ${waiting.length} approval${waiting.length === 1 ? '' : 's'}: ${clean(first.toolName, 20)} ${toolSummary(first.toolName, first.input, 40)} (a)`;
  }
  if (run && run.status === 'waiting' && isClaudeRun(run)) return 'Claude waits for a follow-up (i)';
  return null;
}

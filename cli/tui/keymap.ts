import type { Key } from 'ink';
import type { RunSummary } from '../../protocol/run.js';

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
    { keys: ['up', 'down', 'k', 'j'], label: '↑↓', help: 'select', focus: ['runs'], primary: true, action: () => undefined },
    { keys: ['up', 'k'], label: '↑', help: 'scroll up', focus: ['output'], action: (c) => c.scroll(1) },
    { keys: ['down', 'j'], label: '↓', help: 'scroll down', focus: ['output'], action: (c) => c.scroll(-1) },
    { keys: ['enter'], label: 'Enter', help: 'output', focus: ['runs'], primary: true, action: (c) => c.setFocus('output') },
    { keys: ['pageup'], label: 'PgUp', help: 'older', focus: ['output'], primary: true, action: (c) => c.scroll('page-up') },
    { keys: ['pagedown'], label: 'PgDn', help: 'newer', focus: ['output'], primary: true, action: (c) => c.scroll('page-down') },
    { keys: ['home', 'g'], label: 'g', help: 'top', focus: ['output'], action: (c) => c.scroll('top') },
    { keys: ['end', 'G', 'f'], label: 'f', help: 'follow', focus: ['output'], primary: true, action: (c) => c.scroll('bottom') },
    { keys: ['escape', 'enter', 'tab'], label: 'Esc', help: 'runs', focus: ['output'], primary: true, action: (c) => c.setFocus('runs') },
    { keys: ['n'], label: 'n', help: 'new', primary: true, roles: ['admin', 'operator'], action: (c) => c.newRun() },
    { keys: ['/'], label: '/', help: 'filter', primary: true, action: (c) => c.filter() },
    { keys: ['c'], label: 'c', help: 'cancel', primary: true, roles: ['admin', 'operator'], action: (c) => c.cancelRun() },
    { keys: ['r'], label: 'r', help: 'reconnect', primary: true, action: (c) => c.reconnect() },
    { keys: ['p'], label: 'p', help: 'policy', roles: ['admin'], action: (c) => c.openPanel('policy') },
    { keys: ['?'], label: '?', help: 'help', primary: true, action: (c) => c.help() },
    { keys: ['q', 'ctrl+c'], label: 'q', help: 'quit', primary: true, action: (c) => c.quit() },
  ];
}

/** Up/down in the runs list are handled by the app itself; they are bindings for the help screens. */
export function isSelectKey(name: string): number {
  if (name === 'up' || name === 'k') return -1;
  if (name === 'down' || name === 'j') return 1;
  return 0;
}

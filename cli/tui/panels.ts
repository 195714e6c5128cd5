import type { ReactElement } from 'react';
import type { OperatorClient } from '../client/operator-client.js';
import type { TuiApi } from './api.js';
import type { HelpItem } from './components/HelpLine.js';
import type { KeyContext } from './keymap.js';
import type { Theme } from './theme.js';

/** What a panel gets: the app's actions, the injected client and API, and its place on screen. */
export interface PanelProps {
  ctx: KeyContext;
  api: TuiApi;
  client: OperatorClient;
  /** Closes the panel (back to the runs and output). */
  close(): void;
  /**
   * Where the panel puts its key handler (key names as keymap.ts's keyName gives them). The app
   * calls it for every key while the panel is open and no prompt or confirmation is; one
   * dispatcher for the whole app keeps keys in order even when they arrive faster than renders.
   */
  keys: { current: ((name: string) => void) | null };
  /**
   * Sets the keys the console's help line shows while the panel is open (only the panel's: the
   * main keys do not work there). Call it through `usePanelHelp`. Until then: `Esc back`.
   */
  setHelp(items: readonly HelpItem[]): void;
  width: number;
  height: number;
  theme: Theme;
}

/**
 * A full screen that replaces the runs and output while open, handles its own keys through
 * `keys` (Esc should close it) and lists them with `setHelp`. The policy editor is one; approvals, allowlisted commands, artifacts and assist
 * sessions plug in the same way: a `PanelDef` plus a key binding that calls `ctx.openPanel(id)`.
 */
export interface PanelDef {
  id: string;
  title: string;
  /** Only these roles may open it. */
  roles?: readonly string[];
  render(props: PanelProps): ReactElement;
}

import { useLayoutEffect } from 'react';
import type { HelpItem } from '../components/HelpLine.js';
import type { PanelProps } from '../panels.js';

/** `Esc back`: the way out of every panel, always on its help line. */
export const ESC_BACK: HelpItem = { key: 'Esc', help: 'back', rank: 0, keep: true };

/**
 * Shows a panel's keys in the console's help line, in place of the main keys, and updates them
 * when they change (the artifacts pager has other keys than the list).
 *
 * @example
 * usePanelHelp(setHelp, [{ key: 'Enter', help: 'run', rank: 1 }, ESC_BACK]);
 */
export function usePanelHelp(setHelp: PanelProps['setHelp'], items: readonly HelpItem[]): void {
  const signature = JSON.stringify(items);
  useLayoutEffect(() => {
    setHelp(items);
    // Keyed on the content: a new array with the same keys is no change.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [setHelp, signature]);
}

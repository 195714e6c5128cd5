import { useLayoutEffect, useRef, useState } from 'react';
import { COMMAND_NAME_RE } from '../../../protocol/run.js';
import { ROLES } from '../../../protocol/policy.js';
import { ESC_BACK, usePanelHelp } from '../hooks/use-panel-help.js';
import { usePolicy } from '../hooks/use-policy.js';
import type { PanelProps } from '../panels.js';
import { PolicyPanel } from './PolicyPanel.js';

/** The admin screen for the gateway's command policy: the editor hook plus the grid and its keys. */
export function PolicyScreen({ api, ctx, close, keys, setHelp, height, theme }: PanelProps) {
  const editor = usePolicy(api);
  // The cursor lives in a ref as well: keys can arrive in a burst, faster than renders.
  const [cursor, setCursorState] = useState({ row: 0, col: 0 });
  const cursorRef = useRef(cursor);
  const setCursor = (next: { row?: number; col?: number }) => {
    cursorRef.current = { ...cursorRef.current, ...next };
    setCursorState(cursorRef.current);
  };
  const { row, col } = cursor;
  const names = editor.draft ? Object.keys(editor.draft.commands).sort() : [];
  const rowCount = names.length + 2;
  const addRow = rowCount - 1;
  const offered = (ctx.selectedRun?.runner?.commands ?? []).map((c) => c.name);

  usePanelHelp(
    setHelp,
    editor.draft
      ? [
          { key: '↑↓ ←→', help: 'move', rank: 1 },
          { key: 'Space', help: 'toggle', rank: 1 },
          { key: 'a', help: 'add', rank: 2 },
          { key: 'd', help: 'remove', rank: 3 },
          { key: 's', help: 'save', rank: 1 },
          ESC_BACK,
        ]
      : [ESC_BACK],
  );

  const add = () =>
    ctx.prompt({
      label: 'Command name:',
      placeholder: offered.find((n) => !names.includes(n)) ?? 'test',
      onSubmit: (value) => {
        const name = value.trim();
        if (!COMMAND_NAME_RE.test(name)) return ctx.notify(`"${name.slice(0, 40)}" is not a command name (a-z, 0-9, _ and -, up to 32)`, 'error');
        editor.addCommand(name);
        const at = [...names, name].sort().indexOf(name);
        setCursor({ row: at + 1 });
      },
    });

  useLayoutEffect(() => {
    keys.current = (name) => {
      if (name === 'escape' || name === 'q') {
        if (editor.dirty) ctx.confirm('Discard the unsaved policy changes?', close);
        else close();
        return;
      }
      if (!editor.draft) return;
      const { row, col } = cursorRef.current;
      if (name === 'up' || name === 'k') setCursor({ row: Math.max(0, row - 1) });
      else if (name === 'down' || name === 'j') setCursor({ row: Math.min(rowCount - 1, row + 1) });
      else if (name === 'left' || name === 'h') setCursor({ col: Math.max(0, col - 1) });
      else if (name === 'right' || name === 'l') setCursor({ col: Math.min(ROLES.length - 1, col + 1) });
      else if (name === ' ' || (name === 'enter' && row !== addRow)) {
        if (row === addRow) return add();
        editor.toggle(row === 0 ? null : (names[row - 1] ?? null), ROLES[col]!);
      } else if (name === 'enter' || name === 'a') add();
      else if (name === 'd' && row > 0 && row < addRow) {
        editor.removeCommand(names[row - 1]!);
        setCursor({ row: Math.max(0, row - 1) });
      } else if (name === 's') {
        void editor.save().then((ok) => {
          if (ok) ctx.notify('policy saved');
          else ctx.notify('the policy was not saved', 'error');
        });
      } else if (name === 'r') editor.reload();
    };
    return () => {
      keys.current = null;
    };
  });

  return (
    <PolicyPanel
      saved={editor.saved}
      draft={editor.draft}
      dirty={editor.dirty}
      busy={editor.busy}
      error={editor.error}
      row={Math.min(row, rowCount - 1)}
      col={col}
      offered={offered}
      height={height}
      theme={theme}
    />
  );
}

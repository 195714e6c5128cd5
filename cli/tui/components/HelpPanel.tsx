import { Box, Text } from 'ink';
import type { KeyBinding } from '../keymap.js';

export interface HelpPanelProps {
  bindings: readonly KeyBinding[];
  role: string | null;
  width: number;
  height: number;
}

const NAMES: Record<string, string> = { up: '↑', down: '↓', left: '←', right: '→', enter: 'Enter', escape: 'Esc', tab: 'Tab', pageup: 'PgUp', pagedown: 'PgDn', home: 'Home', end: 'End' };

/** Every key, where it works, and which need a role the current token lacks; two columns when long. */
export function HelpPanel({ bindings, role, width, height }: HelpPanelProps) {
  const seen = new Set<string>();
  const rows: { key: string; text: string }[] = [];
  for (const b of bindings) {
    const key = b.keys.filter((k) => !k.startsWith('ctrl+')).map((k) => NAMES[k] ?? k).join(' ');
    const where = b.focus ? ` (${b.focus.join(', ')})` : '';
    const locked = b.roles && role && !b.roles.includes(role) ? ' [needs ' + b.roles.join('/') + ']' : '';
    const text = `${b.help}${where}${locked}`;
    if (seen.has(key + text)) continue;
    seen.add(key + text);
    rows.push({ key, text });
  }
  const per = Math.max(1, height - 1);
  const columns = rows.length > per ? 2 : 1;
  const colWidth = Math.floor(width / columns);
  // The key column fits the longest key ("Esc Enter Tab"), so no key runs into its text.
  const keyWidth = Math.min(columns === 2 ? 14 : 18, Math.max(...rows.map((r) => r.key.length)) + 1);
  const cols = Array.from({ length: columns }, (_, c) => rows.slice(c * per, (c + 1) * per));
  return (
    <Box height={height} flexDirection="column" overflow="hidden">
      <Text bold>Keys (Esc or ? closes)</Text>
      <Box flexDirection="row">
        {cols.map((col, c) => (
          <Box key={c} flexDirection="column" width={colWidth}>
            {col.map((r) => (
              <Text key={r.key + r.text} wrap="truncate-end">
                <Text bold>{r.key.slice(0, keyWidth - 1).padEnd(keyWidth)}</Text>
                {r.text}
              </Text>
            ))}
          </Box>
        ))}
      </Box>
    </Box>
  );
}

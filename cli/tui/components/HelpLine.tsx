import { Text } from 'ink';
import type { KeyBinding } from '../keymap.js';

export interface HelpLineProps {
  bindings: readonly KeyBinding[];
  width: number;
}

/** Keys and what they do, as many as fit; `?` (all keys) is always kept. */
export function HelpLine({ bindings, width }: HelpLineProps) {
  const items = bindings.map((b) => ({ key: b.label, help: b.help, len: b.label.length + 1 + b.help.length }));
  const must = items.filter((i) => i.key === '?' || i.key === 'q');
  // Each item after the first costs two columns of separation.
  let used = must.reduce((n, i) => n + i.len + 2, 0) - 2;
  const keep = new Set(must);
  for (const item of items) {
    if (keep.has(item) || used + item.len + 2 > width) continue;
    used += item.len + 2;
    keep.add(item);
  }
  const shown = items.filter((i) => keep.has(i));
  return (
    <Text wrap="truncate-end">
      {shown.map((i, n) => (
        <Text key={`${i.key}-${i.help}`}>
          {n > 0 ? '  ' : ''}
          <Text bold>{i.key}</Text> {i.help}
        </Text>
      ))}
    </Text>
  );
}

import { Text } from 'ink';

export interface HelpItem {
  key: string;
  help: string;
  /** Lower ranks are kept first when not all fit. */
  rank: number;
  /** Always shown, whatever fits (the way out of a screen). `?` and `q` always are. */
  keep?: boolean;
}

export interface HelpLineProps {
  items: readonly HelpItem[];
  width: number;
}

/**
 * Keys and what they do: the most important that fit, in their own order; `?`, `q` and the kept
 * ones always. One line for the whole console: the main keys, or an open panel's own.
 */
export function HelpLine({ items, width }: HelpLineProps) {
  const len = (i: HelpItem) => i.key.length + 1 + i.help.length;
  const must = items.filter((i) => i.keep || i.key === '?' || i.key === 'q');
  // Each item after the first costs two columns of separation.
  let used = must.reduce((n, i) => n + len(i) + 2, 0) - 2;
  const keep = new Set(must);
  for (const item of [...items].sort((a, b) => a.rank - b.rank)) {
    if (keep.has(item) || used + len(item) + 2 > width) continue;
    used += len(item) + 2;
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

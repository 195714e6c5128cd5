import { Box, Text } from 'ink';
import type { RunSummary } from '../../../protocol/run.js';
import { costText } from '../../format.js';
import { ago, clean, fit, statusColor, statusWord, type Theme } from '../theme.js';

export interface RunsListProps {
  runs: readonly RunSummary[];
  selectedId: string | null;
  /** The list has the keyboard (the selection is highlighted more strongly). */
  focused: boolean;
  width: number;
  height: number;
  now: number;
  theme: Theme;
  /** Shown when the list is empty. */
  emptyText: string;
}

/** The runs, newest first, one per row, scrolled to keep the selection visible. */
export function RunsList({ runs, selectedId, focused, width, height, now, theme, emptyText }: RunsListProps) {
  if (runs.length === 0) {
    return (
      <Box height={height} flexDirection="column">
        <Text dimColor wrap="truncate-end">  {emptyText}</Text>
      </Box>
    );
  }
  const index = Math.max(0, runs.findIndex((r) => r.id === selectedId));
  const top = Math.min(Math.max(0, index - height + 1), Math.max(0, runs.length - height), index);
  const start = Math.max(0, Math.min(top, index));
  const visible = runs.slice(start, start + height);
  const nameWidth = Math.max(4, width - 2 - 10 - 1 - 12 - 1 - 4 - 1 - 8);
  return (
    <Box height={height} flexDirection="column">
      {visible.map((run) => {
        const selected = run.id === selectedId;
        const color = theme.color ? statusColor(run) : undefined;
        return (
          <Text key={run.id} wrap="truncate-end" inverse={selected && focused} bold={selected}>
            {selected ? '› ' : '  '}
            <Text color={color}>{fit(statusWord(run), 10)}</Text> {run.id} {fit(ago(run.createdAt, now), 4)} {fit(clean(run.name), nameWidth)} {costText(run) === '-' ? '' : costText(run)}
          </Text>
        );
      })}
    </Box>
  );
}

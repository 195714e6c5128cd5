import { Box, Text } from 'ink';
import type { ViewRow } from '../viewport.js';
import type { Theme } from '../theme.js';

export interface OutputViewProps {
  rows: readonly ViewRow[];
  height: number;
  theme: Theme;
  /** Shown when there are no rows. */
  emptyText: string;
}

/**
 * Rows of sanitized output. Styles come from the segments (parsed SGR data); no byte from the
 * runner is written to the terminal as it is.
 */
export function OutputView({ rows, height, theme, emptyText }: OutputViewProps) {
  return (
    <Box height={height} flexDirection="column" overflow="hidden">
      {rows.length === 0 ? (
        <Text dimColor wrap="truncate-end">  {emptyText}</Text>
      ) : (
        rows.map((row) => (
          <Text key={row.key} wrap="truncate-end">
            {row.segments.length === 0
              ? ' '
              : row.segments.map((s, i) => (
                  <Text
                    key={i}
                    color={theme.color ? s.color : undefined}
                    bold={s.bold}
                    dimColor={s.dim}
                    italic={s.italic}
                    underline={s.underline}
                    backgroundColor={theme.color ? s.bg : undefined}
                    inverse={s.inverse}
                  >
                    {s.text}
                  </Text>
                ))}
          </Text>
        ))
      )}
    </Box>
  );
}

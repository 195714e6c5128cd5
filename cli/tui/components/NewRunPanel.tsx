import { Box, Text } from 'ink';
import type { CreateRunResponse } from '../../../protocol/api.js';
import { displayWidth } from '../sanitize.js';
import { clean } from '../theme.js';

export interface NewRunPanelProps {
  created: CreateRunResponse;
  width: number;
  height: number;
}

/** The runner command as shown and copied: one line, every control character removed. */
export function shownCommand(created: CreateRunResponse): string {
  return clean(created.runnerCommand, 2000);
}

/**
 * The terminal rows the command takes: it is written as one line and the terminal wraps it, so
 * that a copy with the mouse gives it whole. The console leaves these rows free for it (Ink
 * counts the line as one).
 */
export function commandRows(created: CreateRunResponse, width: number): number {
  return Math.max(1, Math.ceil(displayWidth(shownCommand(created)) / Math.max(1, width)));
}

/** The run just created: its id, its token (shown this once) and the command for the Claude machine. */
export function NewRunPanel({ created, width, height }: NewRunPanelProps) {
  const command = shownCommand(created);
  const commandWidth = displayWidth(command);
  // Cut at the bottom only: the command line is wider than the screen on purpose.
  return (
    <Box height={height} flexDirection="column" overflowY="hidden">
      <Text bold wrap="truncate-end">
        Run {created.id} created ({clean(created.run.name, 60)})
      </Text>
      <Text> </Text>
      <Text>Token (shown once, copy it now):</Text>
      <Text>  {created.token}</Text>
      <Text> </Text>
      <Text>On the Claude machine, run (y copies it):</Text>
      <Box width={Math.max(width, commandWidth)} flexShrink={0}>
        <Text wrap="truncate-end">{command}</Text>
      </Box>
      <Text> </Text>
      <Text dimColor wrap="truncate-end">
        The token cannot be shown again.
      </Text>
    </Box>
  );
}

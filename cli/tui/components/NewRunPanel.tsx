import { Box, Text } from 'ink';
import type { CreateRunResponse } from '../../../protocol/api.js';
import { clean } from '../theme.js';

export interface NewRunPanelProps {
  created: CreateRunResponse;
  height: number;
}

/** The run just created: its id, its token (shown this once) and the command for the Claude machine. */
export function NewRunPanel({ created, height }: NewRunPanelProps) {
  return (
    <Box height={height} flexDirection="column" overflow="hidden">
      <Text bold>Run {created.id} created ({clean(created.run.name, 60)})</Text>
      <Text> </Text>
      <Text>Token (shown once, copy it now):</Text>
      <Text>  {created.token}</Text>
      <Text> </Text>
      <Text>On the Claude machine, run:</Text>
      <Text wrap="wrap">{clean(created.runnerCommand, 2000)}</Text>
      <Text> </Text>
      <Text dimColor>Esc or Enter closes this; the token cannot be shown again.</Text>
    </Box>
  );
}

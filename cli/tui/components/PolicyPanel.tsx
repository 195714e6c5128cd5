import { Box, Text } from 'ink';
import { ROLES, type CommandPolicy, type PolicyUpdate } from '../../../protocol/policy.js';
import { clean, type Theme } from '../theme.js';

export interface PolicyPanelProps {
  saved: CommandPolicy | null;
  draft: PolicyUpdate | null;
  dirty: boolean;
  busy: 'loading' | 'saving' | null;
  error: string | null;
  /** Row under the cursor: 0 is the default row, then one per command, then "add". */
  row: number;
  /** Role column under the cursor. */
  col: number;
  /** Commands the selected run's runner offers, as a hint for adding. */
  offered: readonly string[];
  height: number;
  theme: Theme;
}

/** The command policy as a grid: rows are "every other command" and each named command, columns are roles. Its keys are on the console's help line. */
export function PolicyPanel({ saved, draft, dirty, busy, error, row, col, offered, height, theme }: PolicyPanelProps) {
  if (!draft) {
    return (
      <Box height={height} flexDirection="column">
        <Text>{busy === 'loading' ? 'Loading the command policy…' : `Could not load the policy: ${clean(error ?? 'unknown error', 300)}`}</Text>
      </Box>
    );
  }
  const names = Object.keys(draft.commands).sort();
  const rows: { label: string; roles: readonly string[] | null }[] = [
    { label: 'default (any other)', roles: draft.default },
    ...names.map((n) => ({ label: n, roles: draft.commands[n] ?? [] })),
    { label: '+ add a command…', roles: null },
  ];
  const listHeight = Math.max(1, height - 5);
  const top = Math.max(0, Math.min(row - listHeight + 1, rows.length - listHeight));
  const status = busy === 'saving' ? 'saving…' : dirty ? 'unsaved changes (s saves)' : saved ? `version ${saved.version}${saved.updatedBy ? `, saved by ${clean(saved.updatedBy, 40)}` : ' (defaults)'}` : '';
  return (
    <Box height={height} flexDirection="column" overflow="hidden">
      <Text wrap="truncate-end">
        <Text bold>Who may run which runner command</Text>
        <Text dimColor>  {status}</Text>
      </Text>
      <Text wrap="truncate-end">
        {'  '}
        {'command'.padEnd(24)}
        {ROLES.map((r) => r.padEnd(10)).join('')}
      </Text>
      {rows.slice(top, top + listHeight).map((r, i) => {
        const index = top + i;
        const here = index === row;
        return (
          <Text key={r.label} wrap="truncate-end" bold={here}>
            {here ? '› ' : '  '}
            {r.label.padEnd(24).slice(0, 24)}
            {r.roles === null
              ? ''
              : ROLES.map((role, c) => (
                  <Text key={role} inverse={here && c === col}>
                    {r.roles!.includes(role) ? '[x]' : '[ ]'}
                    {'       '}
                  </Text>
                ))}
          </Text>
        );
      })}
      <Text dimColor wrap="truncate-end">
        {offered.length ? `This run's runner offers: ${offered.join(', ')}` : ' '}
      </Text>
      <Text color={theme.color ? 'red' : undefined} wrap="truncate-end">
        {error ? clean(error, 300) : ' '}
      </Text>
    </Box>
  );
}

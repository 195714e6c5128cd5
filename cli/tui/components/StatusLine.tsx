import { Box, Text } from 'ink';
import type { ConnectionState } from '../../client/operator-client.js';
import { clean, fit, wrapText, type Theme } from '../theme.js';

export interface StatusLineProps {
  state: ConnectionState;
  user: { name: string; role: string } | null;
  /** What the selected run needs (an approval waits, keys mode): shown when there is no message. */
  banner?: string | null;
  message: { text: string; level: 'info' | 'error' } | null;
  width: number;
  theme: Theme;
}

const STATE_TEXT: Record<ConnectionState, string> = {
  connecting: 'connecting…',
  open: 'connected',
  reconnecting: 'reconnecting…',
  closed: 'disconnected',
};

/** A message is never cut at the width: it wraps, over this many rows at most. */
export const MAX_MESSAGE_ROWS = 4;

/**
 * A message's rows: the first after the connection word, the others indented by two. Past
 * MAX_MESSAGE_ROWS the last row ends with "…" (messages are at most 300 characters: that takes a
 * very narrow terminal).
 */
export function messageRows(state: ConnectionState, text: string, width: number): string[] {
  const lead = 2 + STATE_TEXT[state].length + 2;
  const rows = wrapText(text, width - lead, width - 2);
  if (rows.length <= MAX_MESSAGE_ROWS) return rows;
  const kept = rows.slice(0, MAX_MESSAGE_ROWS);
  kept[MAX_MESSAGE_ROWS - 1] = fit(rows.slice(MAX_MESSAGE_ROWS - 1).join(' '), width - 2).trimEnd();
  return kept;
}

/**
 * The connection, then one of: the latest message, what the selected run needs (banner), who we
 * are. A message wraps to the width (the console gives it the rows, see messageRows); the banner
 * and who we are fit one row.
 */
export function StatusLine({ state, user, banner = null, message, width, theme }: StatusLineProps) {
  const color = !theme.color ? undefined : state === 'open' ? 'green' : state === 'closed' ? 'red' : 'yellow';
  const rows = message ? messageRows(state, message.text, width) : [];
  const messageColor = theme.color && message?.level === 'error' ? 'red' : undefined;
  const bold = message?.level === 'error';
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text color={color} bold={state !== 'open'}>
          {state === 'open' ? '●' : '○'} {STATE_TEXT[state]}
        </Text>
        {message ? (
          <Text color={messageColor} bold={bold}>
            {'  '}
            {rows[0]}
          </Text>
        ) : banner ? (
          <Text bold color={theme.color ? 'yellow' : undefined}>
            {'  '}
            {clean(banner, 120)}
          </Text>
        ) : user ? (
          <Text dimColor> as {clean(user.name, 60)} ({clean(user.role, 20)})</Text>
        ) : null}
      </Text>
      {rows.slice(1).map((row, i) => (
        <Text key={i} wrap="truncate-end" color={messageColor} bold={bold}>
          {'  '}
          {row}
        </Text>
      ))}
    </Box>
  );
}

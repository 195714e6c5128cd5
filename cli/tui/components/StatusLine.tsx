import { Text } from 'ink';
import type { ConnectionState } from '../../client/operator-client.js';
import { clean, type Theme } from '../theme.js';

export interface StatusLineProps {
  state: ConnectionState;
  user: { name: string; role: string } | null;
  /** What the selected run needs (an approval waits, keys mode): shown when there is no message. */
  banner?: string | null;
  message: { text: string; level: 'info' | 'error' } | null;
  theme: Theme;
}

const STATE_TEXT: Record<ConnectionState, string> = {
  connecting: 'connecting…',
  open: 'connected',
  reconnecting: 'reconnecting…',
  closed: 'disconnected',
};

/** The connection, then one of: the latest message, what the selected run needs (banner), who we are (80 columns hold only one). */
export function StatusLine({ state, user, banner = null, message, theme }: StatusLineProps) {
  const color = !theme.color ? undefined : state === 'open' ? 'green' : state === 'closed' ? 'red' : 'yellow';
  return (
    <Text wrap="truncate-end">
      <Text color={color} bold={state !== 'open'}>
        {state === 'open' ? '●' : '○'} {STATE_TEXT[state]}
      </Text>
      {message ? (
        <Text color={theme.color && message.level === 'error' ? 'red' : undefined} bold={message.level === 'error'}>
          {'  '}
          {message.text}
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
  );
}

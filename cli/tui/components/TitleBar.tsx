import { Text } from 'ink';
import { displayWidth } from '../sanitize.js';
import { fit } from '../theme.js';

export interface TitleBarProps {
  left: string;
  right?: string;
  width: number;
  /** Emphasised (the focused section). */
  active?: boolean;
}

/** A full-width title row: left text, right text, filled with a rule. */
export function TitleBar({ left, right = '', width, active = false }: TitleBarProps) {
  const head = `─ ${left} `;
  const tail = right ? ` ${right}` : '';
  const text = head + '─'.repeat(Math.max(1, width - displayWidth(head) - displayWidth(tail))) + tail;
  return (
    <Text bold={active} dimColor={!active} wrap="truncate-end">
      {fit(text, width)}
    </Text>
  );
}

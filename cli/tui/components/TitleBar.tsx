import { Text } from 'ink';
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
  const fill = Math.max(1, width - left.length - right.length - 4);
  const text = `─ ${left} ${'─'.repeat(fill)} ${right}`.trimEnd();
  return (
    <Text bold={active} dimColor={!active} wrap="truncate-end">
      {fit(text, width)}
    </Text>
  );
}

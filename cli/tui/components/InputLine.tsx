import { Text } from 'ink';
import TextInput from 'ink-text-input';

export interface InputLineProps {
  /** The prompt being answered, or null when the line is idle. */
  label: string | null;
  value: string;
  placeholder?: string;
  onChange(value: string): void;
  onSubmit(value: string): void;
  /** Shown when idle (e.g. the active filter). */
  idleText: string;
  /** Changed when the value was edited by someone else than the text field: it starts afresh, its cursor at the end. */
  epoch?: number;
}

/** The input line: a prompt with a text field while asking, a hint otherwise. */
export function InputLine({ label, value, placeholder, onChange, onSubmit, idleText, epoch = 0 }: InputLineProps) {
  if (label === null) {
    return (
      <Text dimColor wrap="truncate-end">
        {idleText}
      </Text>
    );
  }
  return (
    <Text wrap="truncate-end">
      <Text bold>{label} </Text>
      <TextInput key={epoch} value={value} onChange={onChange} onSubmit={onSubmit} placeholder={placeholder ?? ''} />
    </Text>
  );
}

import { visibleText } from './terminal-escapes.js';

/**
 * The visible text of hostile terminal text for one-line and plain-text views: every escape
 * sequence and control character removed (protocol/terminal-escapes.ts), bidi controls shown as
 * U+FFFD, tabs as four spaces, carriage returns dropped.
 */
export function sanitizeTerminal(s: string): string {
  return visibleText(s, { tab: '    ' });
}

export function oneLine(s: string, max: number): string {
  const flat = sanitizeTerminal(s.replace(/\s+/g, ' ')).trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** A one-line description of a tool call's input: the command, the path, or compact JSON. */
export function toolSummary(name: string, input: unknown, max = 160): string {
  if (input && typeof input === 'object' && !Array.isArray(input)) {
    const o = input as Record<string, unknown>;
    // AskUserQuestion: its first question; ExitPlanMode: its plan's first line.
    const q = Array.isArray(o['questions']) ? (o['questions'][0] as { question?: unknown } | undefined)?.question : undefined;
    if (typeof q === 'string') return oneLine(`${q}${(o['questions'] as unknown[]).length > 1 ? ` (+${(o['questions'] as unknown[]).length - 1} more)` : ''}`, max);
    if (typeof o['plan'] === 'string') return oneLine((o['plan'] as string).trim().split('\n')[0] ?? '', max);
    for (const k of ['command', 'file_path', 'path', 'notebook_path', 'url', 'pattern', 'query', 'description', 'prompt']) {
      if (typeof o[k] === 'string') return oneLine(o[k] as string, max);
    }
  }
  if (typeof input === 'string') return oneLine(input, max);
  return oneLine(JSON.stringify(input) ?? '', max);
}

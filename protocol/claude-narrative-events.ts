import { z } from 'zod';

/**
 * Runner events that tell what happened to Claude itself, beside what it wrote (claude-events.ts).
 */

/**
 * Claude's process ended while a turn was still under way (no `result` for it): killed, crashed
 * or out of memory. Without it the timeline would just stop mid-sentence.
 */
export const ClaudeEnded = z.object({
  type: z.literal('claude_ended'),
  code: z.number().int().nullable(),
  signal: z.string().max(32).nullable(),
  /** Turns sent to Claude that never got their result. */
  unfinishedTurns: z.number().int().min(1).max(1_000_000),
});
export type ClaudeEnded = z.infer<typeof ClaudeEnded>;

export const CLAUDE_NARRATIVE_EVENTS = [ClaudeEnded] as const;

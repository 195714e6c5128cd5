import { z } from 'zod';
import { CLAUDE_EVENTS } from './claude-events.js';

/**
 * Runner events: JSON lines in the run's `event` stream (stream 3). They travel as output does
 * (spooled, acknowledged after commit, resent after reconnect), so no event is lost or doubled.
 */
export const ExecStarted = z.object({
  type: z.literal('exec_started'),
  requestId: z.string(),
  name: z.string(),
  params: z.record(z.string(), z.string()),
});
export const ExecRefused = z.object({
  type: z.literal('exec_refused'),
  requestId: z.string(),
  name: z.string(),
  reason: z.string(),
});
export const ExecExit = z.object({
  type: z.literal('exec_exit'),
  requestId: z.string(),
  name: z.string(),
  code: z.number().int().nullable(),
  signal: z.string().nullable(),
  timedOut: z.boolean(),
  truncated: z.boolean(),
  durationMs: z.number().nonnegative(),
});

export const RunnerEvent = z.discriminatedUnion('type', [ExecStarted, ExecRefused, ExecExit, ...CLAUDE_EVENTS]);
export type RunnerEvent = z.infer<typeof RunnerEvent>;

/** Parses the JSON lines of an event chunk; lines that are not known events are skipped. */
export function parseEvents(data: Uint8Array): RunnerEvent[] {
  const out: RunnerEvent[] = [];
  for (const line of Buffer.from(data).toString('utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const parsed = RunnerEvent.safeParse(JSON.parse(line));
      if (parsed.success) out.push(parsed.data);
    } catch {
      /* not JSON: skip */
    }
  }
  return out;
}

export function encodeEvent(ev: RunnerEvent): Buffer {
  return Buffer.from(JSON.stringify(ev) + '\n');
}

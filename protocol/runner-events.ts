import { z } from 'zod';
import { SignalName } from './run.js';
import { EpochMs } from './time.js';
import { CLAUDE_EVENTS } from './claude-events.js';
import { CLAUDE_NARRATIVE_EVENTS } from './claude-narrative-events.js';

/**
 * Runner events: JSON lines in the run's `event` stream (stream 3). They travel as output does
 * (spooled, acknowledged after commit, resent after reconnect), so no event is lost or doubled.
 * Every viewer of a run can read them: nothing secret goes here (assist links travel in the
 * runner's `assist_status` message instead).
 *
 * Events come from the runner, which the gateway does not trust: every field is bounded, and the
 * gateway only records what parses.
 */
const Id = z.string().max(64);
const Name = z.string().max(64);
const Reason = z.string().max(1024);

export const ExecStarted = z.object({
  type: z.literal('exec_started'),
  requestId: Id,
  name: Name,
  params: z.record(z.string().max(64), z.string().max(1024)),
});
export const ExecRefused = z.object({
  type: z.literal('exec_refused'),
  requestId: Id,
  name: Name,
  reason: Reason,
});
export const ExecExit = z.object({
  type: z.literal('exec_exit'),
  requestId: Id,
  name: Name,
  code: z.number().int().nullable(),
  signal: SignalName.nullable(),
  timedOut: z.boolean(),
  truncated: z.boolean(),
  durationMs: z.number().nonnegative(),
});

/** What started a collection: the child's exit, or an operator's request. */
export const CollectTrigger = z.enum(['exit', 'request']);
export const CollectStarted = z.object({
  type: z.literal('collect_started'),
  requestId: Id.nullable(),
  trigger: CollectTrigger,
});
export const CollectDone = z.object({
  type: z.literal('collect_done'),
  requestId: Id.nullable(),
  trigger: CollectTrigger,
  uploaded: z.array(z.object({ name: z.string().max(400), bytes: z.number().int().nonnegative(), truncated: z.boolean() })).max(200),
  skipped: z.array(z.object({ name: z.string().max(400), reason: Reason })).max(50),
  /** Set when the collection as a whole failed or was refused (busy, run ended). */
  error: Reason.nullable(),
});

/** An assist session opened or closed. No links: those go to operators only. */
export const AssistStarted = z.object({
  type: z.literal('assist_started'),
  requestId: Id.nullable(),
  expiresAt: EpochMs,
});
export const AssistStopped = z.object({
  type: z.literal('assist_stopped'),
  requestId: Id.nullable(),
  reason: Reason,
});
export const AssistRefused = z.object({
  type: z.literal('assist_refused'),
  requestId: Id.nullable(),
  reason: Reason,
});

export const RunnerEvent = z.discriminatedUnion('type', [
  ExecStarted,
  ExecRefused,
  ExecExit,
  CollectStarted,
  CollectDone,
  AssistStarted,
  AssistStopped,
  AssistRefused,
  ...CLAUDE_EVENTS,
  ...CLAUDE_NARRATIVE_EVENTS,
]);
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

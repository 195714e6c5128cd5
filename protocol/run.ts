import { z } from 'zod';
import { CcgError } from './errors.js';
import { ClaudeRunState } from './claude-run-state.js';
import { RUN_STATUSES } from './run-status.js';

/**
 * A signal as a runner reports one (`SIGTERM`: the names Node gives, os.constants.signals). Only
 * a name: the runner's text reaches terminals and pages, and a signal field is no place for more.
 */
export const SignalName = z.string().regex(/^SIG[A-Z0-9]{1,14}$/, 'a signal name such as SIGTERM');

export const PROTOCOL_VERSION = 1;

// RUN_STATUSES lives in a module without zod: `ccg runs list` checks --status without loading zod.
export { RUN_STATUSES };
export const RunStatus = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof RunStatus>;

/** `revoked`: an operator (or the cancel grace period) cut the runner off; its token is refused from then on. */
export const FINAL_STATUSES: ReadonlySet<RunStatus> = new Set(['exited', 'failed', 'cancelled', 'revoked']);

export function isFinal(status: RunStatus): boolean {
  return FINAL_STATUSES.has(status);
}

/** The refusal of anything asked of a run that has ended: `run ID has ended (exited)`, then `more`. */
export function runEnded(id: string, status: RunStatus, more = ''): CcgError {
  return new CcgError('ERR_RUN_FINISHED', `run ${id} has ended (${status})${more}`);
}

export const COMMAND_NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;
export const PARAM_NAME_RE = /^[a-z][a-z0-9_]{0,31}$/;

/** An allowlisted command as the runner advertises it: its name and parameter slots, never its argv. */
export const AdvertisedCommand = z.object({
  name: z.string().regex(COMMAND_NAME_RE),
  params: z.array(z.object({ name: z.string().regex(PARAM_NAME_RE), pattern: z.string().max(200) })).max(8),
  timeoutMs: z.number().int().positive(),
  description: z.string().max(200).optional(),
});
export type AdvertisedCommand = z.infer<typeof AdvertisedCommand>;

/** What a runner says about itself in its hello. */
export const RunnerInfo = z.object({
  hostname: z.string().max(255),
  pid: z.number().int().nonnegative(),
  version: z.string().max(64),
  mode: z.enum(['command', 'claude']),
  /** The command line, for display only: the gateway never executes anything from it. */
  command: z.array(z.string().max(4096)).max(256),
  cwd: z.string().max(4096),
  /** True when the child runs in a pseudo-terminal (`--pty`): its output is terminal bytes, input is keystrokes. */
  pty: z.boolean().default(false),
  /** The runner's allowlist, by name. The runner alone decides what a name runs. */
  commands: z.array(AdvertisedCommand).max(64).default([]),
  /** Set when the runner allows assist sessions (`--assist`): the longest one it allows. */
  assist: z.object({ maxMinutes: z.number().int().positive().max(24 * 60) }).strict().nullable().optional(),
  /** The artifact globs the runner collects besides the log and the diffs (display only). */
  artifactGlobs: z.array(z.string().max(256)).max(32).optional(),
  /**
   * What the runner's owner lets the gateway steer (`--no-remote-input`, `--no-remote-approval`,
   * `--input-wait 0`). Absent: both (an older runner). The runner refuses the rest itself; the
   * gateway refuses early with ERR_NOT_ENABLED so people see why.
   */
  remote: z
    .object({
      input: z.boolean(),
      approval: z.boolean(),
      /** The owner allowed operators to switch Claude to bypassPermissions (`--allow-bypass-permissions`). */
      bypass: z.boolean().optional(),
      /** The permission modes and models operators may switch Claude to (`--modes`, `--models`); absent: any. */
      modes: z.array(z.string().max(64)).max(8).optional(),
      models: z.array(z.string().max(100)).max(16).optional(),
    })
    .strict()
    .optional(),
  /**
   * The runner reports an approval answered with the answer's `creditId` (runners before it do
   * not, and refuse a decision carrying one): the gateway sends one only when this is true.
   */
  approvalCredits: z.boolean().optional(),
});
export type RunnerInfo = z.infer<typeof RunnerInfo>;

/** How a run came from a machine (`ccg machine start`): shown on its page and in `runs show`. */
export const RunOrigin = z.object({
  machine: z.string().max(32),
  workspace: z.string().max(32),
  mode: z.string().max(32).nullable(),
  model: z.string().max(80).nullable(),
  /** The run this one continues, and the one that continued it. */
  previous: z.string().max(12).nullable(),
  next: z.string().max(12).nullable(),
  /** Claude's session id, once its init event arrived (what Continue resumes). */
  sessionId: z.string().max(200).nullable(),
  /** pending: handed to the machine, not yet answered; started; refused (the run's reason says why). */
  start: z.enum(['pending', 'started', 'refused']),
});
export type RunOrigin = z.infer<typeof RunOrigin>;

/** A run as the API, the operator socket and the pages see it. Never carries the token. */
export const RunSummary = z.object({
  id: z.string(),
  name: z.string(),
  status: RunStatus,
  runnerConnected: z.boolean(),
  createdAt: z.number(),
  updatedAt: z.number(),
  startedAt: z.number().nullable(),
  endedAt: z.number().nullable(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  reason: z.string().nullable(),
  /** Highest output sequence number committed to the store (0: no output yet). */
  lastSeq: z.number().int().nonnegative(),
  /** Output bytes committed to the store. */
  bytes: z.number().int().nonnegative(),
  createdBy: z.string(),
  runner: RunnerInfo.nullable(),
  /** Set for runs a machine started (absent for runs started by hand). */
  origin: RunOrigin.nullable().optional(),
  /** Cost, spending limit, retries (claude-run-state.ts). Absent from older gateways and never-Claude runs. */
  claude: ClaudeRunState.optional(),
  /** Set while the run's runner is gone without having reported an exit: when it went (gateway clock). */
  runnerLostAt: z.number().nullable().optional(),
});
export type RunSummary = z.infer<typeof RunSummary>;

export const RUN_NAME_MAX = 120;
export const RunName = z
  .string()
  .trim()
  .min(1, 'name must not be empty')
  .max(RUN_NAME_MAX, `name must be at most ${RUN_NAME_MAX} characters`)
  .refine((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s), 'name must not contain control characters');

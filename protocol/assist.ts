import { z } from 'zod';

/**
 * Assist sessions: a tmate terminal on the runner machine, opened on an operator's request when
 * the runner allows it (`--assist`). The links are credentials (the read-write ones give a shell),
 * so they never travel in the run's event stream, which every viewer can read: the runner sends
 * them in its own `assist_status` message, and the gateway shows them to operators and admins.
 */

const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
/** An ssh command line as tmate prints it, e.g. `ssh -p 2222 TOKEN@nyc1.tmate.io`. */
export const SshCommand = z.string().max(512).regex(/^ssh [^\u0000-\u001f\u007f]+$/, 'not an ssh command');
/** A web link (https, or http for a self-hosted tmate server). */
export const WebLink = z.string().max(512).regex(/^https?:\/\/[^\s\u0000-\u001f\u007f]+$/, 'not a web link');

export const AssistLinks = z
  .object({
    /** Read-write ssh: a full shell as the runner's user. */
    ssh: SshCommand,
    sshReadOnly: SshCommand.nullable(),
    /** Null when the tmate server has no web front end. */
    web: WebLink.nullable(),
    webReadOnly: WebLink.nullable(),
  })
  .strict();
export type AssistLinks = z.infer<typeof AssistLinks>;

export const ASSIST_STATES = ['starting', 'active', 'stopped', 'failed', 'refused'] as const;
export const AssistState = z.enum(ASSIST_STATES);
export type AssistState = z.infer<typeof AssistState>;

/** The runner's word on its assist session (runner → gateway `assist_status`, minus the type). */
export const AssistStatusBody = z
  .object({
    /** The request this answers; null when the runner acted alone (time limit, run end, tmate exit). */
    requestId: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/).nullable(),
    state: AssistState,
    links: AssistLinks.nullable(),
    /** When the runner will stop the session by itself (ms since the epoch). */
    expiresAt: z.number().int().nonnegative().nullable(),
    reason: z.string().max(300).regex(NO_CONTROL).nullable(),
  })
  .strict();
export type AssistStatusBody = z.infer<typeof AssistStatusBody>;

/** What the gateway knows of a run's assist session, as operators see it. */
export const AssistInfo = AssistStatusBody.extend({
  /** When the gateway last heard from the runner about it. */
  updatedAt: z.number(),
});
export type AssistInfo = z.infer<typeof AssistInfo>;

export const AssistRequest = z.object({ action: z.enum(['start', 'stop']) }).strict();
export type AssistRequest = z.infer<typeof AssistRequest>;

export const AssistResponse = z.object({
  /** Whether the runner allows assist sessions (it was started with --assist). */
  enabled: z.boolean(),
  /** The longest session the runner allows, in minutes, when enabled. */
  maxMinutes: z.number().int().positive().nullable(),
  assist: AssistInfo.nullable(),
});
export type AssistResponse = z.infer<typeof AssistResponse>;

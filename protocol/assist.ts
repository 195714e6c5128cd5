import { z } from 'zod';
import { EpochMs } from './time.js';

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

/**
 * The shapes tmate itself prints (tmate-ssh-server's `ssh%s %s@%s` with ` -pPORT` when the port
 * is not 22, tmate-websocket's `https://HOST/t/TOKEN`). Links are pasted into terminals and
 * browsers by operators, so anything else (an ssh option such as -oProxyCommand, a `;`, a
 * space, a path elsewhere) is dropped, by the runner and again by the gateway.
 *
 * The token: tmate's random session token (letters and digits), `ro-` for read-only, or a named
 * session's `user/name`.
 */
const TMATE_TOKEN = '[A-Za-z0-9][A-Za-z0-9_/-]{0,127}';
const HOSTNAME = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*';
export const TMATE_SSH_RE = new RegExp(`^ssh(?: -p ?[0-9]{1,5})? ${TMATE_TOKEN}@${HOSTNAME}$`);
export const TMATE_WEB_RE = new RegExp(`^https?://${HOSTNAME}(?::[0-9]{1,5})?/t/${TMATE_TOKEN}$`);

/** The links with every one not in tmate's shape removed (no read-write ssh link: none at all), and which were removed. */
export function tmateShapedLinks(links: AssistLinks | null): { links: AssistLinks | null; dropped: string[] } {
  if (!links) return { links: null, dropped: [] };
  const dropped: string[] = [];
  const keep = <T extends string | null>(name: string, v: T, re: RegExp): T | null => {
    if (v === null || re.test(v)) return v;
    dropped.push(name);
    return null;
  };
  const out = {
    ssh: keep('ssh', links.ssh, TMATE_SSH_RE),
    sshReadOnly: keep('sshReadOnly', links.sshReadOnly, TMATE_SSH_RE),
    web: keep('web', links.web, TMATE_WEB_RE),
    webReadOnly: keep('webReadOnly', links.webReadOnly, TMATE_WEB_RE),
  };
  if (out.ssh === null) return { links: null, dropped: ['ssh', 'sshReadOnly', 'web', 'webReadOnly'].filter((k) => dropped.includes(k) || links[k as keyof AssistLinks] !== null) };
  return { links: { ...out, ssh: out.ssh }, dropped };
}

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
    expiresAt: EpochMs.nullable(),
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

/** `POST /api/v1/runs/{id}/assist`: the request sent to the runner; its answer arrives as output from `fromSeq`. */
export const AssistActionResponse = z.object({ requestId: z.string(), fromSeq: z.number().int().positive() });
export type AssistActionResponse = z.infer<typeof AssistActionResponse>;

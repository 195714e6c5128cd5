import { z } from 'zod';
import { COMMAND_NAME_RE } from './run.js';
import { ROLES, Role } from './roles.js';

/**
 * The gateway's command policy: which operator roles may ask a runner to run which of the
 * commands it advertised. The runner's own allowlist still decides what a name runs and whether
 * it runs at all; this policy only narrows who may ask. Stored by the gateway, edited by admins
 * (`GET/PUT /api/v1/policy`, `ccg policy`, the TUI's policy screen).
 */

export { ROLES };
export const PolicyRole = Role;
export type PolicyRole = Role;

/** At most this many per-command overrides. */
export const MAX_POLICY_COMMANDS = 256;

const RoleList = z
  .array(PolicyRole)
  .max(ROLES.length)
  .refine((roles) => new Set(roles).size === roles.length, 'a role is listed twice');

const NAME_RULE = 'command names are 1-32 characters: a-z, 0-9, _ and -, starting with a letter';

const OverridesRecord = z
  .record(z.string().regex(COMMAND_NAME_RE, NAME_RULE), RoleList)
  .refine((o) => Object.keys(o).length <= MAX_POLICY_COMMANDS, `at most ${MAX_POLICY_COMMANDS} per-command entries`);

// zod drops a "__proto__" key silently; a policy that names one is refused instead, out loud.
const Overrides = z
  .unknown()
  .superRefine((v, ctx) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return;
    if (Object.hasOwn(v, '__proto__')) ctx.addIssue({ code: 'custom', message: '"__proto__" is not a command name' });
    for (const key of Object.keys(v)) {
      if (!COMMAND_NAME_RE.test(key)) {
        ctx.addIssue({ code: 'custom', message: `"${key.slice(0, 40)}" is not a command name: ${NAME_RULE}` });
        return;
      }
    }
  })
  .pipe(OverridesRecord);

/** The body of `PUT /api/v1/policy`: the whole policy, replaced at once. */
export const PolicyUpdate = z
  .object({
    /** Roles that may run any advertised command that has no entry in `commands`. */
    default: RoleList,
    /** Per-command overrides by name; an empty list means nobody may run that command. */
    commands: Overrides,
    /** Optional: the version the editor started from; a mismatch is refused (ERR_CONFLICT). */
    version: z.number().int().nonnegative().optional(),
  })
  .strict();
export type PolicyUpdate = z.infer<typeof PolicyUpdate>;

export const CommandPolicy = z.object({
  default: RoleList,
  commands: Overrides,
  /** 0 until an admin first saves a policy; +1 on every save. */
  version: z.number().int().nonnegative(),
  updatedAt: z.number().nullable(),
  updatedBy: z.string().nullable(),
});
export type CommandPolicy = z.infer<typeof CommandPolicy>;

export const PolicyResponse = z.object({ policy: CommandPolicy });
export type PolicyResponse = z.infer<typeof PolicyResponse>;

/** Until an admin saves a policy: admins and operators may run every command, viewers none. */
export const DEFAULT_POLICY: CommandPolicy = Object.freeze({
  default: ['admin', 'operator'],
  commands: {},
  version: 0,
  updatedAt: null,
  updatedBy: null,
}) as CommandPolicy;

/** The roles that may run `name` under `policy`. */
export function rolesFor(policy: CommandPolicy, name: string): readonly PolicyRole[] {
  // Object.hasOwn, never `in` or a bare lookup: a command may be called "constructor".
  return Object.hasOwn(policy.commands, name) ? (policy.commands[name] ?? []) : policy.default;
}

export function mayRun(policy: CommandPolicy, role: string, name: string): boolean {
  return (rolesFor(policy, name) as readonly string[]).includes(role);
}

/** Roles in a fixed order (admin, operator, viewer), for display and stable JSON. */
export function sortRoles(roles: readonly PolicyRole[]): PolicyRole[] {
  return ROLES.filter((r) => roles.includes(r));
}

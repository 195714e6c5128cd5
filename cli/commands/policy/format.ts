import { ROLES, type CommandPolicy, type PolicyRole } from '../../../protocol/policy.js';
import { CliError } from '../../exit-codes.js';
import { table } from '../../format.js';

/** The policy as a table: one row for the default, one per named command. */
export function policyTable(p: CommandPolicy): string {
  const cells = (roles: readonly string[]) => ROLES.map((r) => (roles.includes(r) ? 'yes' : '-'));
  const rows = [['COMMAND', ...ROLES.map((r) => r.toUpperCase())], ['(any other)', ...cells(p.default)]];
  for (const name of Object.keys(p.commands).sort()) rows.push([name, ...cells(p.commands[name] ?? [])]);
  const saved = p.updatedAt ? `version ${p.version}, saved by ${p.updatedBy ?? '?'} at ${new Date(p.updatedAt).toISOString()}` : 'defaults, never saved';
  return `command policy (${saved})\n${table(rows)}`;
}

/** Parses "admin,operator" (or "none") into roles. */
export function parseRoles(text: string, flag: string): PolicyRole[] {
  const t = text.trim();
  if (t === 'none' || t === '') return [];
  const roles = t.split(',').map((r) => r.trim());
  for (const r of roles) if (!(ROLES as readonly string[]).includes(r)) throw new CliError(`${flag}: "${r.slice(0, 40)}" is not a role (${ROLES.join(', ')}, or none)`);
  if (new Set(roles).size !== roles.length) throw new CliError(`${flag}: a role is listed twice`);
  return roles as PolicyRole[];
}

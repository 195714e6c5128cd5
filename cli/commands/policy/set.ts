import { readFileSync } from 'node:fs';
import { Command, Option } from 'clipanion';
import { PolicyResponse, PolicyUpdate } from '../../../protocol/policy.js';
import { COMMAND_NAME_RE } from '../../../protocol/run.js';
import { CliError } from '../../exit-codes.js';
import { GatewayCommand } from '../base.js';
import { parseRoles, policyTable } from './format.js';

export class PolicySetCommand extends GatewayCommand {
  static override paths = [['policy', 'set']];
  static override usage = Command.Usage({
    category: 'Policy',
    description: 'Change the command policy: default roles, per-command roles (admins)',
    details: `
      Starts from the gateway's current policy (or --file) and applies the flags in order:

      - \`--default ROLES\` sets who may run commands that have no entry of their own;
      - \`--command NAME=ROLES\` gives one command its own roles (repeatable);
      - \`--remove NAME\` drops a command's entry, so the default applies to it again.

      ROLES is a comma list of admin, operator, viewer, or "none".

      The change is saved only if nobody else saved in between (otherwise exit 1 with
      ERR_CONFLICT: run it again). Every change is in the audit log.
    `,
    examples: [
      ['Let viewers run the tests too', 'ccg policy set --command test=admin,operator,viewer'],
      ['Only admins may run anything not listed', 'ccg policy set --default admin'],
      ['Nobody may run deploy', 'ccg policy set --command deploy=none'],
      ['Replace it from a file', 'ccg policy set --file policy.json --json'],
    ],
  });

  default = Option.String('--default', { description: 'Roles for every command without an entry (e.g. admin,operator; or none)' });
  commands = Option.Array('--command', { description: 'NAME=ROLES: roles for one command (repeatable)' });
  remove = Option.Array('--remove', { description: "NAME: drop a command's entry (repeatable)" });
  file = Option.String('--file', { description: 'Start from this JSON policy ({"default":[…],"commands":{…}}) instead of the current one; - reads stdin' });

  protected async run(): Promise<number> {
    if (!this.default && !this.commands?.length && !this.remove?.length && !this.file) {
      throw new CliError('nothing to change: give --default, --command, --remove or --file (see ccg policy set --help)');
    }
    const api = this.api();
    let base: PolicyUpdate;
    if (this.file) {
      let text: string;
      try {
        text = readFileSync(this.file === '-' ? 0 : this.file, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read --file ${this.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        throw new CliError(`--file ${this.file} is not JSON`);
      }
      // A file saved from `ccg policy show --json` works as it is.
      if (raw && typeof raw === 'object' && 'policy' in raw) raw = (raw as { policy: unknown }).policy;
      const { version: _v, updatedAt: _a, updatedBy: _b, ...rest } = (raw ?? {}) as Record<string, unknown>;
      const parsed = PolicyUpdate.safeParse(rest);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new CliError(`--file ${this.file}: ${issue?.path.length ? `${issue.path.join('.')}: ` : ''}${issue?.message ?? 'not a policy'}`);
      }
      base = parsed.data;
    } else {
      const { policy } = await api.json('GET', '/api/v1/policy', PolicyResponse);
      base = { default: policy.default, commands: { ...policy.commands }, version: policy.version };
    }
    if (this.default !== undefined) base.default = parseRoles(this.default, '--default');
    for (const spec of this.commands ?? []) {
      const eq = spec.indexOf('=');
      if (eq <= 0) throw new CliError(`--command "${spec.slice(0, 60)}" is not NAME=ROLES`);
      const name = spec.slice(0, eq);
      if (!COMMAND_NAME_RE.test(name)) throw new CliError(`--command: "${name.slice(0, 40)}" is not a command name (a-z, 0-9, _ and -, up to 32, starting with a letter)`);
      base.commands[name] = parseRoles(spec.slice(eq + 1), `--command ${name}`);
    }
    for (const name of this.remove ?? []) {
      if (!Object.hasOwn(base.commands, name)) throw new CliError(`--remove: the policy has no entry for "${name.slice(0, 40)}"`);
      delete base.commands[name];
    }
    const out = await api.json('PUT', '/api/v1/policy', PolicyResponse, base);
    this.print(out, () => policyTable(out.policy));
    return 0;
  }
}

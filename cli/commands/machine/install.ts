import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Command, Option } from 'clipanion';
import { parseGateways } from '../../client/gateways.js';
import { MACHINE_NAME_RE } from '../../../protocol/machine.js';
import { CliError } from '../../exit-codes.js';
import { defaultMachineConfigPath, loadMachineConfig } from '../../machine/config.js';
import { launchdPlist, systemdUnit, type ServiceSpec } from '../../machine/install.js';
import { BaseCommand } from '../base.js';

export class MachineInstallCommand extends BaseCommand {
  static override paths = [['machine', 'install']];
  static override usage = Command.Usage({
    category: 'Machines',
    description: 'Make the machine daemon start at login and come back after a reboot (a systemd user unit; the launchd agent on macOS)',
    details: `
      Writes ~/.config/systemd/user/ccg-machine.service (on macOS: prints the launchd agent for
      ~/Library/LaunchAgents/dev.ccg.machine.plist) that runs \`ccg machine start\` with these
      options and restarts it when it stops. The token must be in a file (--token-file, mode 0600):
      a unit never holds the token. Then: systemctl --user daemon-reload && systemctl --user
      enable --now ccg-machine (and \`loginctl enable-linger\` to start it before you log in).
    `,
    examples: [['Install', 'ccg machine install --gateway https://gw:3100 --fingerprint sha256:… --name laptop --token-file ~/.config/ccg/machine.token']],
  });

  gateway = Option.String('--gateway', { env: 'CCG_GATEWAY', description: 'Gateway URL, or a cluster\'s node URLs comma-separated' });
  fingerprint = Option.String('--fingerprint', { env: 'CCG_FINGERPRINT', description: 'Pin the gateway certificate: sha256:<64 hex> (one, or one per URL comma-separated)' });
  name = Option.String('--name', { description: "This machine's name" });
  tokenFile = Option.String('--token-file', { description: 'The machine token file (0600)' });
  config = Option.String('--config', { description: 'The machine config file (default ~/.config/ccg/machine.json)' });
  platform = Option.String('--platform', { description: 'linux or darwin (default: this one)' });
  printOnly = Option.Boolean('--print', false, { description: 'Print the unit instead of writing it' });

  protected async run(): Promise<number> {
    const env = this.context.env;
    const gateways = parseGateways(this.gateway, this.fingerprint);
    if (!this.name || !MACHINE_NAME_RE.test(this.name)) throw new CliError('--name is missing or malformed');
    if (!this.tokenFile) throw new CliError('--token-file is needed: the service reads the token from a file, never from its definition');
    const tokenFile = resolve(this.tokenFile);
    if (!existsSync(tokenFile)) throw new CliError(`${tokenFile} does not exist`);
    const config = resolve(this.config ?? defaultMachineConfigPath(env));
    loadMachineConfig(config); // refuse to install something that cannot start
    const words = ['machine', 'start'];
    const spec: ServiceSpec = {
      argv: [process.execPath, resolve(process.argv[1]!), ...words], name: this.name, gateways, tokenFile, config, path: env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    };
    const platform = this.platform ?? process.platform;
    if (platform === 'darwin') {
      const file = join(env['HOME'] || homedir(), 'Library', 'LaunchAgents', 'dev.ccg.machine.plist');
      this.show({ platform, file, unit: launchdPlist(spec) }, `# ${file}\n${launchdPlist(spec)}\n# then: launchctl load -w ${file}\n`);
      return 0;
    }
    const unit = systemdUnit(spec);
    const file = join(env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config'), 'systemd', 'user', 'ccg-machine.service');
    if (!this.printOnly) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, unit, { mode: 0o644 });
    }
    this.show({ platform, file: this.printOnly ? null : file, unit }, this.printOnly ? unit : `wrote ${file}\nthen: systemctl --user daemon-reload && systemctl --user enable --now ccg-machine\n(and \`loginctl enable-linger $USER\` to start it at boot, before you log in)\nmacOS: ccg machine install --platform darwin … prints the launchd agent\n`);
    return 0;
  }

  private show(value: unknown, human: string): void {
    this.context.stdout.write(this.json ? JSON.stringify(value) + '\n' : human);
  }
}

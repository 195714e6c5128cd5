import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'clipanion';
import { MACHINE_NAME_RE, MACHINE_TOKEN_RE } from '../../../protocol/machine.js';
import { parseGateways } from '../../client/gateways.js';
import { CliError, EXIT } from '../../exit-codes.js';
import { defaultMachineConfigPath, loadMachineConfig } from '../../machine/config.js';
import { MachineDaemon } from '../../machine/daemon.js';
import { VERSION } from '../../version.js';
import { BaseCommand, parseWait, terminalLine } from '../base.js';

/** `$XDG_STATE_HOME/ccg/machine/NAME`, by default `~/.local/state/ccg/machine/NAME`. */
export function defaultMachineStateDir(env: Record<string, string | undefined>, name: string): string {
  return join(env['XDG_STATE_HOME'] || join(env['HOME'] || homedir(), '.local', 'state'), 'ccg', 'machine', name);
}

export class MachineStartCommand extends BaseCommand {
  static override paths = [['machine', 'start']];
  static override usage = Command.Usage({
    category: 'Machines',
    description: 'Run the machine daemon: wait for runs started from the phone, the TUI or the API, and start their runners here',
    details: `
      Connects out to the gateway (no inbound port) with a machine token made by an admin
      (\`ccg machines add NAME\`, or Add machine on the phone), over the same signed, pinned,
      heartbeat-checked connection a runner uses, and reconnects for ever with backoff. Given a
      cluster's nodes (--gateway URL1,URL2,…), it moves on to the next whenever one refuses or
      drops it, and hands its runners the same list, starting with the node it is connected to.

      What may be started here is decided by this machine's config file (--config, default
      ~/.config/ccg/machine.json), never by the gateway: named workspaces (name → directory),
      per workspace whether Claude may be started, the permission modes and models a gateway may
      ask for, the command allowlist its runs get, worktree mode (a fresh git worktree per run on
      branch ccg/<run-id>), and the most runs at once. Anything else is refused, with the reason
      sent back to the gateway. See docs/COMMANDS.md, "Machines".

      Each run is an ordinary \`ccg runner start\` child process, detached: it goes on when the
      daemon stops or is killed, and a restarted daemon counts it again.

      The machine token is read from CCG_MACHINE_TOKEN or --token-file (never from the command
      line). Exits only when the gateway refuses the machine for good (revoked, wrong token).
    `,
    examples: [
      ['Start', 'CCG_MACHINE_TOKEN=ccgm_… ccg machine start --gateway https://gw:3100 --fingerprint sha256:… --name laptop'],
      ['Token from a file, config elsewhere', 'ccg machine start --gateway https://gw:3100 --name ci-box --token-file ~/.config/ccg/machine.token --config /etc/ccg/machine.json'],
      ['The seed spelling', 'claude-runner machine start --gateway https://gw:3100 --name laptop'],
    ],
  });

  gateway = Option.String('--gateway', { env: 'CCG_GATEWAY', description: 'Gateway URL, or the URLs of a cluster\'s nodes comma-separated, tried in turn (env CCG_GATEWAY)' });
  fingerprint = Option.String('--fingerprint', { env: 'CCG_FINGERPRINT', description: 'Pin the gateway certificate: sha256:<64 hex>, one for every URL or one per URL comma-separated (env CCG_FINGERPRINT)' });
  name = Option.String('--name', { env: 'CCG_MACHINE_NAME', description: 'This machine\'s name, as added on the gateway (env CCG_MACHINE_NAME)' });
  tokenFile = Option.String('--token-file', { description: 'Read the machine token from this file (else CCG_MACHINE_TOKEN)' });
  config = Option.String('--config', { env: 'CCG_MACHINE_CONFIG', description: 'The machine config file (default ~/.config/ccg/machine.json)' });
  stateDir = Option.String('--state-dir', { description: 'Where runs\' records, logs, spools and worktrees are kept (default ~/.local/state/ccg/machine/NAME)' });
  claudeBin = Option.String('--claude-bin', { env: 'CCG_CLAUDE_BIN', description: 'The claude executable its runners use (env CCG_CLAUDE_BIN)' });
  heartbeat = Option.String('--heartbeat', '15s', { description: 'Ping the gateway this often' });

  protected async run(): Promise<number> {
    const env = this.context.env;
    const gateways = parseGateways(this.gateway, this.fingerprint);
    if (!this.name || !MACHINE_NAME_RE.test(this.name)) throw new CliError('--name is missing or malformed (1-32 of a-z, 0-9 and -, starting with a letter)');
    let token: string | undefined;
    if (this.tokenFile) {
      try {
        token = readFileSync(this.tokenFile, 'utf8').trim();
      } catch (err) {
        throw new CliError(`cannot read --token-file ${this.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    } else token = env['CCG_MACHINE_TOKEN']?.trim();
    if (!token) throw new CliError('no machine token: set CCG_MACHINE_TOKEN or pass --token-file FILE', EXIT.AUTH, 'ERR_UNAUTHORIZED');
    if (!MACHINE_TOKEN_RE.test(token)) throw new CliError('the machine token is malformed (expected ccgm_ followed by 43 characters)', EXIT.AUTH, 'ERR_UNAUTHORIZED');
    const config = loadMachineConfig(this.config ?? defaultMachineConfigPath(env));
    const status = (raw: string) => {
      const line = terminalLine(raw);
      this.context.stderr.write(this.json ? JSON.stringify({ status: line }) + '\n' : `ccg-machine: ${line}\n`);
    };
    // The runners are this same program: `ccg runner start …` (or `claude-runner start …`).
    const script = process.argv[1]!;
    const runnerEntry = [process.execPath, script, ...(this.cli.binaryName === 'claude-runner' ? ['start'] : ['runner', 'start'])];
    const childEnv = { ...env };
    const daemon = new MachineDaemon({
      gateways, name: this.name, token, config,
      stateDir: this.stateDir ?? defaultMachineStateDir(env, this.name),
      runnerEntry, claudeBin: this.claudeBin, env: childEnv, version: VERSION,
      heartbeatMs: parseWait(this.heartbeat, '--heartbeat'), status,
    });
    const stop = () => daemon.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    status(`machine ${this.name}: ${config.workspaces.size} workspace(s) from ${config.file}, at most ${config.maxRuns} run(s) at once`);
    try {
      return await daemon.start();
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  }
}

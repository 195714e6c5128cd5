import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'clipanion';
import { parseFingerprint } from '../../../protocol/fingerprint.js';
import { RUN_ID_RE, RUN_TOKEN_RE } from '../../../protocol/ids.js';
import { DEFAULT_ALLOWLIST, loadAllowlistFile, parseAllowFlag } from '../../runner/allowlist.js';
import { runRunner } from '../../runner/runner.js';
import { CliError, EXIT, EXIT_CODES_HELP } from '../../exit-codes.js';
import { BaseCommand, parseDuration } from '../base.js';
import { VERSION } from '../../version.js';

export class RunnerStartCommand extends BaseCommand {
  static override paths = [['runner', 'start'], ['runner']];
  static override usage = Command.Usage({
    category: 'Runner',
    description: 'Run Claude Code (or any command) and stream it to the gateway over an outbound connection',
    details: `
      On the machine where Claude Code works. Connects out to the gateway (no inbound port),
      starts the command, and streams its output. Every chunk is kept in a spool on disk until the
      gateway has committed it, so a gateway restart or a dropped network loses nothing.

      With --cmd "PROMPT" it runs \`claude -p PROMPT --output-format stream-json --verbose\`;
      after \`--\` it runs any command instead. Exits with the command's exit code.

      The gateway can ask this runner to run commands from ITS OWN allowlist only, by name:
      --allow NAME="COMMAND ARGS" (repeatable) or --allowlist FILE (JSON, outside the workspace;
      see docs/COMMANDS.md). Without either, the allowlist is status (git status --porcelain),
      diff (git diff) and log (git log -n 20 --oneline). Commands run without a shell, in the
      workspace, with a scrubbed environment, a timeout and an output cap.

      The run token is best given as CCG_RUN_TOKEN or --token-file: a token on the command line
      is visible to every user of this machine in \`ps\`.

      ${EXIT_CODES_HELP}
    `,
    examples: [
      ['Claude Code with a prompt', 'CCG_RUN_TOKEN=ccgr_… ccg runner start --gateway https://gw:3100 --fingerprint sha256:… --run-id 7k2m9x4q3w8z --cmd "fix the failing test"'],
      ['Any command', 'CCG_RUN_TOKEN=ccgr_… ccg runner start --gateway https://gw:3100 --run-id 7k2m9x4q3w8z -- npm test'],
      ['Let operators run the tests and see the diff', 'ccg runner start … --allow test="npm test" --allow diff="git diff" --cmd "fix the bug"'],
      ['The seed spelling', 'claude-runner start --run-id 7k2m9x4q3w8z --token-file ~/.ccg-token --cmd "your prompt"'],
    ],
  });

  gateway = Option.String('--gateway', { env: 'CCG_GATEWAY', description: 'Gateway URL (env CCG_GATEWAY)' });
  fingerprint = Option.String('--fingerprint', { env: 'CCG_FINGERPRINT', description: 'Pin the gateway certificate: sha256:<64 hex> (env CCG_FINGERPRINT)' });
  runId = Option.String('--run-id', { env: 'CCG_RUN_ID', description: 'The run to stream into (env CCG_RUN_ID)' });
  token = Option.String('--token', { description: 'Run token (visible in ps: prefer CCG_RUN_TOKEN or --token-file)' });
  tokenFile = Option.String('--token-file', { description: 'Read the run token from this file' });
  cmd = Option.String('--cmd', { description: 'Prompt for Claude Code: runs claude -p PROMPT --output-format stream-json --verbose' });
  claudeBin = Option.String('--claude-bin', { env: 'CCG_CLAUDE_BIN', description: 'The claude executable (env CCG_CLAUDE_BIN; default claude)' });
  cwd = Option.String('--cwd', { description: 'Workspace directory (default: the current directory)' });
  spoolDir = Option.String('--spool-dir', { env: 'CCG_SPOOL_DIR', description: 'Where unacknowledged output is kept (default ~/.local/state/ccg/spool)' });
  connectTimeout = Option.String('--connect-timeout', '60s', { description: 'How long to try reaching the gateway before starting the command' });
  linger = Option.String('--linger', '10m', { description: 'How long to keep delivering output after the command exited' });
  grace = Option.String('--grace', '5s', { description: 'Time between SIGINT, SIGTERM and SIGKILL when a run is cancelled' });
  heartbeat = Option.String('--heartbeat', '15s', { description: 'Ping the gateway this often; a connection silent for 3 heartbeats is dropped and reopened' });
  allow = Option.Array('--allow', { description: 'Allow a command by name: --allow test="npm test" (repeatable). Default: status, diff, log' });
  allowlistFile = Option.String('--allowlist', { description: 'JSON allowlist file, outside the workspace (commands with parameter patterns, timeouts, output caps)' });
  quiet = Option.Boolean('-q,--quiet', false, { description: "Do not echo the command's output here" });
  command = Option.Rest({ name: 'COMMAND' });

  protected async run(): Promise<number> {
    const env = this.context.env;
    if (!this.gateway) throw new CliError('no gateway given: pass --gateway URL or set CCG_GATEWAY');
    let gatewayUrl: URL;
    try {
      gatewayUrl = new URL(this.gateway);
    } catch {
      throw new CliError(`--gateway "${this.gateway.slice(0, 100)}" is not a URL`);
    }
    if (!this.runId || !RUN_ID_RE.test(this.runId)) throw new CliError('--run-id is missing or malformed (12 characters, like 7k2m9x4q3w8z)');
    const token = this.readToken(env);
    const fingerprint = this.fingerprint ? this.pin(this.fingerprint) : undefined;
    if (gatewayUrl.protocol === 'http:' && !/^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(gatewayUrl.hostname)) {
      throw new CliError('refusing plain http:// to a non-loopback gateway: the output would travel unencrypted');
    }
    let argv: string[];
    let mode: 'command' | 'claude';
    if (this.command.length > 0) {
      if (this.cmd) throw new CliError('give either --cmd "PROMPT" or -- COMMAND, not both');
      argv = [...this.command];
      mode = 'command';
    } else if (this.cmd) {
      argv = [this.claudeBin ?? 'claude', '-p', this.cmd, '--output-format', 'stream-json', '--verbose'];
      mode = 'claude';
    } else {
      throw new CliError('nothing to run: give --cmd "PROMPT" for Claude Code, or -- COMMAND ARGS…');
    }
    const childEnv = { ...env };
    // The child never needs ccg's own secrets.
    for (const k of ['CCG_RUN_TOKEN', 'CCG_TOKEN']) delete childEnv[k];
    const status = (line: string) => this.context.stderr.write(`ccg-runner: ${line}\n`);
    const cwd = this.cwd ?? process.cwd();
    const allowlist = [...(this.allowlistFile ? loadAllowlistFile(this.allowlistFile, cwd) : []), ...(this.allow ?? []).map(parseAllowFlag)];
    const names = new Set<string>();
    for (const c of allowlist) {
      if (names.has(c.name)) throw new CliError(`the command "${c.name}" is defined twice`);
      names.add(c.name);
    }
    const heartbeatMs = parseDuration(this.heartbeat, '--heartbeat');
    if (heartbeatMs < 100) throw new CliError('--heartbeat must be at least 100ms');
    return runRunner({
      gateway: gatewayUrl.origin,
      runId: this.runId,
      token,
      fingerprint,
      argv,
      mode,
      cwd,
      allowlist: allowlist.length > 0 ? allowlist : DEFAULT_ALLOWLIST,
      env: childEnv,
      spoolRoot: this.spoolDir ?? join(env['XDG_STATE_HOME'] ?? join(env['HOME'] ?? homedir(), '.local/state'), 'ccg/spool'),
      status,
      echo: this.quiet || this.json ? null : { stdout: this.context.stdout, stderr: this.context.stderr },
      version: VERSION,
      connectTimeoutMs: parseDuration(this.connectTimeout, '--connect-timeout'),
      lingerMs: parseDuration(this.linger, '--linger'),
      graceMs: parseDuration(this.grace, '--grace'),
      heartbeatMs,
    });
  }

  private pin(text: string): string {
    try {
      return parseFingerprint(text);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
  }

  private readToken(env: Record<string, string | undefined>): string {
    let token: string | undefined;
    if (this.tokenFile) {
      try {
        token = readFileSync(this.tokenFile, 'utf8').trim();
      } catch (err) {
        throw new CliError(`cannot read --token-file ${this.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    } else if (this.token) {
      this.context.stderr.write('ccg-runner: warning: a token on the command line is visible in `ps`; prefer CCG_RUN_TOKEN or --token-file\n');
      token = this.token;
    } else {
      token = env['CCG_RUN_TOKEN'];
    }
    if (!token) throw new CliError('no run token: set CCG_RUN_TOKEN, or pass --token-file FILE', EXIT.AUTH, 'ERR_UNAUTHORIZED');
    if (!RUN_TOKEN_RE.test(token)) throw new CliError('the run token is malformed (expected ccgr_ followed by 43 characters)', EXIT.AUTH, 'ERR_UNAUTHORIZED');
    return token;
  }
}

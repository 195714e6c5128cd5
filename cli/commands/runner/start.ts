import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { Command, Option } from 'clipanion';
import { RUN_ID_RE, RUN_TOKEN_RE } from '../../../protocol/ids.js';
import { parseGateways } from '../../client/gateways.js';
import { DEFAULT_ALLOWLIST, loadAllowlistFile, parseAllowFlag } from '../../runner/allowlist.js';
import { checkGlob } from '../../runner/glob.js';
import { DEFAULT_POWERS } from '../../runner/powers.js';
import { parseSize } from '../../sizes.js';
import { runRunner } from '../../runner/runner.js';
import { defaultSpoolRoot } from '../../runner/spool.js';
import { claudeChild, parseModels, parseModes, parsePtySize } from '../../runner/claude-options.js';
import { CliError, EXIT, EXIT_CODES_HELP } from '../../exit-codes.js';
import { BaseCommand, parseWait, terminalLine } from '../base.js';
import { VERSION } from '../../version.js';

export class RunnerStartCommand extends BaseCommand {
  static override paths = [['runner', 'start']];
  static override usage = Command.Usage({
    category: 'Runner',
    description: 'Run Claude Code (or any command) and stream it to the gateway over an outbound connection',
    details: `
      On the machine where Claude Code works. Connects out to the gateway (no inbound port),
      starts the command, and streams its output. Every chunk is kept in a spool on disk until the
      gateway has committed it, so a gateway restart or a dropped network loses nothing.

      A cluster's nodes can all be named: --gateway https://gw1:3100,https://gw2:3100,… (or
      CCG_GATEWAY the same). The runner connects to the first and, whenever a connection is
      refused or lost, tries the next (round and round), resuming from the last acknowledged
      seq as after any reconnect. One --fingerprint pins every URL; a comma-separated list pins
      each URL with its own, in order.

      With --cmd "PROMPT" it drives Claude Code over stream-json. It runs
      \`claude -p --output-format stream-json --verbose --input-format stream-json --permission-prompt-tool stdio --include-hook-events\`
      and writes the prompt to its stdin, not its command line. The raw stream-json is the run's output; a readable
      timeline (text, tool calls, results, cost) goes to the gateway beside it. When Claude
      asks to use a tool, operators approve or deny it from the gateway; if nobody answers
      within the approval timeout (default 10m), it is denied. After Claude finishes,
      operators can send follow-up prompts for the input wait (default 10m; 0 ends the run
      at once). A cancel interrupts Claude cleanly first, then sends SIGTERM, then SIGKILL,
      a grace period apart. See docs/CLAUDE_CODE.md.

      With --pty, the command (or interactive \`claude PROMPT\` with --cmd) runs in a
      pseudo-terminal: its screen output is streamed, operators send keystrokes and resize it.

      Remote steering, and what it means: by default the gateway may send Claude follow-up
      prompts (also while it works) and answer its permission requests, and may type into a
      terminal run with --pty. Whoever can do that, any operator or anyone who controls the
      gateway, can make Claude run commands as this machine's user: a prompt asks for a tool
      use, the approval allows it. If you do not trust the gateway and its operators with that,
      turn it off. The flag --no-remote-input refuses every prompt and keystroke from the
      gateway; the flag --no-remote-approval makes this runner deny every permission request
      itself at once (only what Claude's own settings allow, such as the tools given with the
      flags --claude-arg=--allowedTools, then runs); and with --input-wait 0 no follow-up
      prompt is taken either (the run ends after Claude's result). Refusals show here as
      status lines and in the run's timeline as control_refused. Operators may also switch
      Claude's permission mode (default, acceptEdits, plan: not with --no-remote-approval) and
      model, and stop the current turn; bypassPermissions only with --allow-bypass-permissions.

      After \`--\` it runs any command instead. Exits with the command's exit code (130 when the run
      was cancelled).

      The gateway can ask this runner to run commands from ITS OWN allowlist only, by name: the
      flag --allow NAME="COMMAND ARGS" (repeatable) or --allowlist FILE (JSON, outside the
      workspace; see docs/COMMANDS.md). Without either, the allowlist is status (git status --porcelain),
      diff (git diff) and log (git log -n 20 --oneline). Commands run without a shell, in the
      workspace, with a scrubbed environment, a timeout and an output cap.

      Artifacts: when the command exits (and when an operator asks: \`ccg runs collect\`) the runner
      uploads the run log, \`git diff\`, \`git diff --staged\`, the list of untracked files, and
      the workspace files matching --artifact GLOB (repeatable; \`**\`, \`*\`, \`?\`; symlinks are
      not followed), each cut at --artifact-max. Text is redacted of secrets first.

      Assist sessions are off unless --assist is given: then an operator can open a tmate
      terminal in the workspace (\`ccg runs assist ID start\`), which the runner closes
      after --assist-max minutes, on request, or when the run ends.

      The run token is best given as CCG_RUN_TOKEN or --token-file: a token on the command line
      is visible to every user of this machine in \`ps\`.

      With --json the command's output is not echoed here; progress goes to stderr as JSON lines
      ({"status":"…"}) and, at the end, {"runId":"…","exitCode":N} is printed on stdout.

      ${EXIT_CODES_HELP.replace(/\n/g, "\n      ")}
    `,
    examples: [
      ['Claude Code with a prompt', 'CCG_RUN_TOKEN=ccgr_… ccg runner start --gateway https://gw:3100 --fingerprint sha256:… --run-id 7k2m9x4q3w8z --cmd "fix the failing test"'],
      ['Any command', 'CCG_RUN_TOKEN=ccgr_… ccg runner start --gateway https://gw:3100 --run-id 7k2m9x4q3w8z -- npm test'],
      ['Three cluster nodes, each with its own certificate pin', 'ccg runner start --gateway https://gw1:3100,https://gw2:3100,https://gw3:3100 --fingerprint sha256:…,sha256:…,sha256:… --run-id 7k2m9x4q3w8z -- npm test'],
      ['For CI: end when Claude is done, deny tool uses nobody answers within 2 minutes', 'ccg runner start … --input-wait 0 --approval-timeout 2m --cmd "run the tests and fix what fails"'],
      ['Watch only: the gateway can neither prompt Claude nor approve its tool uses', 'ccg runner start … --no-remote-input --no-remote-approval --claude-arg=--allowedTools --claude-arg="Bash(npm test)" --cmd "fix the failing test"'],
      ['Pass flags to Claude (model, allowed tools, hooks)', 'ccg runner start … --claude-arg=--model --claude-arg=sonnet --claude-settings ./hooks.json --cmd "…"'],
      ['Interactive Claude in a terminal', 'ccg runner start … --pty --cmd "refactor the parser"'],
      ['A long prompt from a file, out of ps and the shell history', 'ccg runner start … --cmd-file task.md'],
      ['Any interactive command in a terminal', 'ccg runner start … --pty --pty-size 100x30 -- bash'],
      ['Let operators run the tests and see the diff', 'ccg runner start … --allow test="npm test" --allow diff="git diff" --cmd "fix the bug"'],
      ['Upload the coverage report as artifacts; allow a 20-minute tmate session', "ccg runner start … --artifact 'coverage/**' --assist --assist-max 20 -- npm test"],
      ['The seed spelling', 'claude-runner start --run-id 7k2m9x4q3w8z --token-file ~/.ccg-token --cmd "your prompt"'],
    ],
  });

  gateway = Option.String('--gateway', { env: 'CCG_GATEWAY', description: 'Gateway URL, or the URLs of a cluster\'s nodes comma-separated, tried in turn (env CCG_GATEWAY)' });
  fingerprint = Option.String('--fingerprint', { env: 'CCG_FINGERPRINT', description: 'Pin the gateway certificate: sha256:<64 hex>, one for every URL or one per URL comma-separated (env CCG_FINGERPRINT)' });
  runId = Option.String('--run-id', { env: 'CCG_RUN_ID', description: 'The run to stream into (env CCG_RUN_ID)' });
  token = Option.String('--token', { description: 'Run token (visible in ps: prefer CCG_RUN_TOKEN or --token-file)' });
  tokenFile = Option.String('--token-file', { description: 'Read the run token from this file' });
  cmd = Option.String('--cmd', { description: 'Prompt for Claude Code, driven over stream-json (the prompt goes to its stdin)' });
  cmdFile = Option.String('--cmd-file', { description: 'As --cmd, the prompt read from this file (- : standard input, to its end): kept out of ps and shell history' });
  approvalTimeout = Option.String('--approval-timeout', '10m', { description: 'Deny a tool use that no operator answered within this long (default 10m)' });
  inputWait = Option.String('--input-wait', '10m', { description: 'After Claude finishes, wait this long for a follow-up prompt (default 10m; 0: end at once, and refuse follow-ups meanwhile too)' });
  remoteInput = Option.Boolean('--remote-input', true, { description: 'Let the gateway send Claude prompts / --pty keystrokes (default on; --no-remote-input refuses them all)' });
  remoteApproval = Option.Boolean('--remote-approval', true, { description: "Let the gateway answer Claude's permission requests (default on; --no-remote-approval: the runner denies each one itself)" });
  allowBypass = Option.Boolean('--allow-bypass-permissions', false, { description: 'Let operators switch Claude to bypassPermissions mode (every tool runs unasked); off by default' });
  modes = Option.String('--modes', { description: 'The permission modes operators may switch Claude to, comma-separated (a switch, a plan\'s mode, an "always" that switches); default any (bypassPermissions still needs --allow-bypass-permissions)' });
  models = Option.String('--models', { description: 'The models operators may switch Claude to, comma-separated; --models= allows none; default any' });
  claudeArgs = Option.Array('--claude-arg', { description: 'An extra argument for claude (repeatable): --claude-arg=--model --claude-arg=sonnet' });
  claudeSettings = Option.String('--claude-settings', { description: "Passed to claude's --settings (a file or JSON): hooks, permissions, env" });
  pty = Option.Boolean('--pty', false, { description: 'Run in a pseudo-terminal: interactive claude with --cmd, or the command after --' });
  ptySize = Option.String('--pty-size', '120x40', { description: 'Initial terminal size for --pty (default 120x40)' });
  claudeBin = Option.String('--claude-bin', { env: 'CCG_CLAUDE_BIN', description: 'The claude executable (env CCG_CLAUDE_BIN; default claude)' });
  cwd = Option.String('--cwd', { description: 'Workspace directory (default: the current directory)' });
  spoolDir = Option.String('--spool-dir', { env: 'CCG_SPOOL_DIR', description: 'Where unacknowledged output is kept (default $XDG_STATE_HOME/ccg/spool or ~/.local/state/ccg/spool; %LOCALAPPDATA%\\ccg\\spool on Windows)' });
  connectTimeout = Option.String('--connect-timeout', '60s', { description: 'How long to try reaching the gateway before starting the command (default 60s)' });
  linger = Option.String('--linger', '10m', { description: 'How long to keep delivering output after the command exited (default 10m)' });
  grace = Option.String('--grace', '5s', { description: 'Time between SIGINT, SIGTERM and SIGKILL when a run is cancelled (default 5s)' });
  heartbeat = Option.String('--heartbeat', '15s', { description: 'Ping the gateway this often (default 15s); a connection silent for 3 heartbeats is dropped and reopened' });
  allow = Option.Array('--allow', { description: 'Allow a command by name: --allow test="npm test" (repeatable). Default: status, diff, log' });
  allowlistFile = Option.String('--allowlist', { description: 'JSON allowlist file, outside the workspace (commands with parameter patterns, timeouts, output caps)' });
  artifact = Option.Array('--artifact', { description: "Also collect workspace files matching this glob, e.g. 'coverage/**' (repeatable)" });
  artifactMax = Option.String('--artifact-max', '8M', { description: 'Cap per artifact (default 8M; the log keeps its end, diffs are cut, larger files are skipped)' });
  collect = Option.Boolean('--collect', true, { description: 'Collect artifacts when the command exits (--no-collect: only on request)' });
  assist = Option.Boolean('--assist', false, { description: 'Allow assist sessions: operators may open a tmate terminal in the workspace' });
  assistMax = Option.String('--assist-max', '30', { description: 'Longest assist session, in minutes (default 30)' });
  tmateBin = Option.String('--tmate-bin', { env: 'CCG_TMATE_BIN', description: 'The tmate executable (env CCG_TMATE_BIN; default tmate)' });
  quiet = Option.Boolean('-q,--quiet', false, { description: "Do not echo the command's output here" });
  command = Option.Rest({ name: 'COMMAND' });

  protected async run(): Promise<number> {
    const env = this.context.env;
    const gateways = parseGateways(this.gateway, this.fingerprint);
    if (!this.runId || !RUN_ID_RE.test(this.runId)) throw new CliError('--run-id is missing or malformed (12 characters, like 7k2m9x4q3w8z)');
    const token = this.readToken(env);
    if (this.cmd !== undefined && this.cmdFile !== undefined) throw new CliError('give either --cmd or --cmd-file, not both');
    const prompt = this.cmdFile !== undefined ? readPrompt(this.cmdFile) : this.cmd;
    if (this.command.length > 0 && prompt) throw new CliError('give either --cmd "PROMPT" or -- COMMAND, not both');
    if (this.command.length === 0 && !prompt) throw new CliError('nothing to run: give --cmd "PROMPT" for Claude Code, or -- COMMAND ARGS…');
    const childEnv = { ...env };
    // The child never needs ccg's own secrets.
    for (const k of ['CCG_RUN_TOKEN', 'CCG_TOKEN']) delete childEnv[k];
    const cwd = this.cwd ?? process.cwd();
    const echoing = !(this.quiet || this.json);
    const { argv, mode, driver } = claudeChild({
      runId: this.runId,
      prompt,
      command: this.command,
      claudeBin: this.claudeBin ?? 'claude',
      claudeArgs: this.claudeArgs ?? [],
      claudeSettings: this.claudeSettings,
      pty: this.pty ? parsePtySize(this.ptySize) : null,
      approvalTimeoutMs: parseWait(this.approvalTimeout, '--approval-timeout'),
      inputWaitMs: parseWait(this.inputWait, '--input-wait'),
      remoteInput: this.remoteInput,
      remoteApproval: this.remoteApproval,
      allowBypass: this.allowBypass,
      modes: this.modes === undefined ? null : parseModes(this.modes),
      models: this.models === undefined ? null : parseModels(this.models),
      cwd,
      env: childEnv,
      echo: echoing ? this.context.stdout : null,
    });
    const allowlist = [...(this.allowlistFile ? loadAllowlistFile(this.allowlistFile, cwd) : []), ...(this.allow ?? []).map(parseAllowFlag)];
    const names = new Set<string>();
    for (const c of allowlist) {
      if (names.has(c.name)) throw new CliError(`the command "${c.name}" is defined twice`);
      names.add(c.name);
    }
    const heartbeatMs = parseWait(this.heartbeat, '--heartbeat');
    if (heartbeatMs < 100) throw new CliError('--heartbeat must be at least 100ms');
    const globs = (this.artifact ?? []).map((g) => {
      const c = checkGlob(g);
      if (!c.ok) throw new CliError(`--artifact ${JSON.stringify(g.slice(0, 100))}: ${c.reason}`);
      return c.pattern;
    });
    if (globs.length > 32) throw new CliError('at most 32 --artifact globs');
    const assistMax = Number(this.assistMax);
    if (!Number.isInteger(assistMax) || assistMax < 1 || assistMax > 24 * 60) throw new CliError('--assist-max is a whole number of minutes, 1 to 1440');
    const code = await runRunner({
      gateways,
      runId: this.runId,
      token,
      argv,
      mode,
      cwd,
      allowlist: allowlist.length > 0 ? allowlist : DEFAULT_ALLOWLIST,
      env: childEnv,
      spoolRoot: this.spoolDir ?? defaultSpoolRoot(env, homedir()),
      status: (raw: string) => this.status(raw),
      echo: echoing ? { stdout: this.context.stdout, stderr: this.context.stderr } : null,
      version: VERSION,
      connectTimeoutMs: parseWait(this.connectTimeout, '--connect-timeout'),
      lingerMs: parseWait(this.linger, '--linger'),
      graceMs: parseWait(this.grace, '--grace'),
      powers: {
        ...DEFAULT_POWERS,
        artifactGlobs: globs,
        artifactMaxBytes: parseSize(this.artifactMax, '--artifact-max'),
        collectAtExit: this.collect,
        assistMaxMinutes: this.assist ? assistMax : null,
        tmateBin: this.tmateBin ?? 'tmate',
      },
      ...(driver ? { driver } : {}),
      heartbeatMs,
    });
    if (this.json) this.context.stdout.write(JSON.stringify({ runId: this.runId, exitCode: code }) + '\n');
    return code;
  }

  /**
   * One status line on stderr: `ccg-runner: …`, or with --json `{"status":"…"}` (progress is JSON
   * lines too, so a script can parse all of it). Status lines carry text from the gateway (who
   * cancelled, error messages, operator names): every control sequence goes before it reaches
   * this terminal (no OSC 52 clipboard writes, no title sets, no cursor tricks), and a line stays
   * one line.
   */
  private status(raw: string): void {
    const line = terminalLine(raw);
    this.context.stderr.write(this.json ? JSON.stringify({ status: line }) + '\n' : `ccg-runner: ${line}\n`);
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
      this.status('warning: a token on the command line is visible in `ps`; prefer CCG_RUN_TOKEN or --token-file');
      token = this.token;
    } else {
      token = env['CCG_RUN_TOKEN'];
    }
    if (!token) throw new CliError('no run token: set CCG_RUN_TOKEN, or pass --token-file FILE', EXIT.AUTH, 'ERR_UNAUTHORIZED');
    if (!RUN_TOKEN_RE.test(token)) throw new CliError('the run token is malformed (expected ccgr_ followed by 43 characters)', EXIT.AUTH, 'ERR_UNAUTHORIZED');
    return token;
  }
}

/** The largest prompt `--cmd-file` reads. */
const MAX_PROMPT_BYTES = 1024 * 1024;

/** `--cmd-file FILE` (`-`: standard input, read to its end): the prompt as the file holds it. */
function readPrompt(file: string): string {
  let data: Buffer;
  try {
    data = readFileSync(file === '-' ? 0 : file);
  } catch (err) {
    throw new CliError(`cannot read --cmd-file ${file === '-' ? '(standard input)' : file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (data.length > MAX_PROMPT_BYTES) throw new CliError(`--cmd-file: the prompt is ${data.length} bytes, more than the ${MAX_PROMPT_BYTES} allowed`);
  const prompt = data.toString('utf8');
  if (prompt.trim() === '') throw new CliError('--cmd-file: the prompt is empty');
  return prompt;
}

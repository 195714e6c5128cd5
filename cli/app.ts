import { Cli, type BaseContext, type Command, type CommandClass } from 'clipanion';
import { COMMANDS, GROUPS, candidates, commandName, nearestCommands, type CommandEntry } from './command-table.js';
import { EXIT } from './exit-codes.js';
import { VERSION } from './version.js';

/**
 * The value an option takes, as help shows it (`--gateway URL`). Clipanion 4 writes every option
 * value as `#0` (its usage() has no placeholder setting), so ccg names them here: by option, else
 * the option's own name in capitals (`--status STATUS`).
 */
const PLACEHOLDERS: Readonly<Record<string, string>> = {
  gateway: 'URL', url: 'URL', 'public-url': 'URL', 'notify-url': 'URL', 'cf-access-certs-url': 'URL', 'vapid-subject': 'CONTACT',
  token: 'TOKEN', fingerprint: 'SHA256', data: 'DIR', 'spool-dir': 'DIR', cwd: 'DIR',
  timeout: 'DURATION', 'ready-timeout': 'DURATION', 'connect-timeout': 'DURATION', heartbeat: 'DURATION', grace: 'DURATION', linger: 'DURATION',
  'session-idle': 'DURATION', 'session-max': 'DURATION', 'approval-timeout': 'DURATION', 'input-wait': 'DURATION', 'assist-max': 'MINUTES',
  from: 'SEQ', limit: 'N', output: 'PATH', 'token-file': 'PATH', file: 'PATH', 'claude-settings': 'PATH', 'claude-bin': 'PATH', 'tmate-bin': 'PATH',
  cloudflared: 'PATH', allowlist: 'PATH', 'origin-ca': 'PATH', cmd: 'PROMPT', download: 'NAME', 'pty-size': 'COLSxROWS', 'artifact-max': 'SIZE',
  default: 'ROLES', command: 'NAME=ROLES', remove: 'NAME', allow: 'NAME=COMMAND', artifact: 'GLOB', 'claude-arg': 'ARG', message: 'TEXT',
  'push-hosts': 'HOSTS', totp: 'CODE', 'log-level': 'LEVEL', 'notify-format': 'FORMAT', 'cf-access-team-domain': 'DOMAIN', 'cf-access-aud': 'TAG',
};

/** Replaces clipanion's `--opt #0` with `--opt URL` in usage text. */
export function namePlaceholders(text: string): string {
  return text.replace(/(-{1,2}[A-Za-z][\w-]*(?:,-{1,2}[A-Za-z][\w-]*)*)((?: #\d+)+)/g, (_all, names: string, values: string) => {
    const long = names.split(',').map((n) => n.replace(/^-+/, '')).sort((a, b) => b.length - a.length)[0]!;
    const name = PLACEHOLDERS[long] ?? long.toUpperCase().replace(/-/g, '_');
    return names + values.replace(/ #\d+/g, ` ${name}`);
  });
}

interface UsageText {
  usage: string;
  options: { definition: string }[];
}

/** Clipanion, with option values named in every usage text it writes (help, usage errors). */
class CcgClipanion extends Cli {
  constructor(...args: ConstructorParameters<typeof Cli>) {
    super(...args);
    // Every usage text (help, a command's --help, usage errors) is built by getUsageByIndex, which
    // the typings keep private: names go in there, before the option column is padded.
    const self = this as unknown as { getUsageByIndex(n: number, opts?: unknown): UsageText };
    const built = self.getUsageByIndex.bind(this);
    self.getUsageByIndex = (n, opts) => {
      const u = built(n, opts);
      return { ...u, usage: respell(this.binaryName, namePlaceholders(u.usage)), options: u.options.map((o) => ({ ...o, definition: namePlaceholders(o.definition) })) };
    };
  }
}

/** The seed's spelling of the runner (bin/claude-runner): `claude-runner start` is `ccg runner start`, `claude-runner machine start` is `ccg machine start`. */
const SEED_RUNNER = 'claude-runner';

/** Text that names commands, as the binary that prints it spells them: `claude-runner runner start` is `claude-runner start`. */
function respell(binaryName: string, text: string): string {
  return binaryName === SEED_RUNNER ? text.replaceAll(`${SEED_RUNNER} runner `, `${SEED_RUNNER} `).replaceAll('"runner ', '"') : text;
}

/** ccg's clipanion Cli, with no command registered yet (cli/serve-main.ts uses it too). */
export function clipanionCli(binaryName: string): Cli {
  const enableColors = Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'];
  return new CcgClipanion({ binaryLabel: 'ccg — Claude Code connect-back gateway', binaryName, binaryVersion: VERSION, enableColors });
}

/** A clipanion Cli holding just these commands' classes (loaded now). */
async function cliFor(entries: readonly CommandEntry[], binaryName: string): Promise<{ cli: Cli; classes: Map<CommandEntry, CommandClass> }> {
  const cli = clipanionCli(binaryName);
  const classes = new Map<CommandEntry, CommandClass>();
  for (const [i, cls] of (await Promise.all(entries.map((e) => e.load()))).entries()) {
    cli.register(cls);
    classes.set(entries[i]!, cls);
  }
  return { cli, classes };
}

/**
 * `ccg runs --help`, `ccg help runs`: the group's commands, once each, with their arguments. The
 * seed's runner spelling shows the machine daemon's commands too: it takes both.
 */
async function groupHelp(group: string, binaryName: string): Promise<string> {
  const groups = binaryName === SEED_RUNNER && group === 'runner' ? ['runner', 'machine'] : [group];
  const lines: string[] = [];
  for (const g of groups) {
    const entries = COMMANDS.filter((c) => c.paths[0]![0] === g);
    const { cli, classes } = await cliFor(entries, binaryName);
    if (lines.length > 0) lines.push('');
    lines.push(`${entries[0]!.category}: ${binaryName} ${g} <command> [options]`, '');
    for (const e of entries) {
      const usage = cli.definition(classes.get(e)!)?.usage ?? `${binaryName} ${commandName(e)}`;
      const alias = e.paths.find((p) => p.length === 1);
      lines.push(`  ${usage}`, `      ${e.description}${alias ? ` (also: ${binaryName} ${alias.join(' ')})` : ''}`);
    }
  }
  lines.push('', `Options and examples of one: ${binaryName} ${group} COMMAND --help. Every command: ${binaryName} --help.`);
  return respell(binaryName, lines.join('\n') + '\n');
}

/** The words of argv that name a command: from the first known command word, options left out. */
function commandWords(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  const args = end < 0 ? argv : argv.slice(0, end);
  // A command's words come before its options: `runner --run-id X` names "runner", not "runner X".
  const firstOption = args.findIndex((a) => a.startsWith('-'));
  const lead = firstOption < 0 ? args : args.slice(0, firstOption);
  const words = (lead.length > 0 ? lead : args).filter((a) => !a.startsWith('-'));
  const firsts = new Set(COMMANDS.flatMap((c) => c.paths.map((p) => p[0])));
  const at = words.findIndex((w) => firsts.has(w));
  return at < 0 ? words : words.slice(at);
}

/**
 * The command the words begin with, by its longest path: `serve` for `serve --port 0 --bogus`
 * (the words hold option values too), `runs show` for `runs show`.
 */
function namedCommand(words: readonly string[]): readonly string[] {
  let named: readonly string[] = words.slice(0, 1);
  for (const c of COMMANDS) for (const p of c.paths) if (p.length >= named.length && p.every((w, i) => words[i] === w)) named = p;
  return named;
}

/** `unknown command "runs lst": did you mean `ccg runs list`?` — the nearest commands, if any is close. */
function unknownCommand(words: readonly string[], binaryName: string): string {
  const typed = words.slice(0, GROUPS.includes(words[0] ?? '') ? 2 : 1);
  const see = GROUPS.includes(typed[0] ?? '') ? `${binaryName} ${typed[0]} --help` : `${binaryName} --help`;
  if (typed.length === 1 && GROUPS.includes(typed[0]!)) {
    // A group's name alone (`ccg runner`): what it holds.
    const members = COMMANDS.flatMap((c) => c.paths.filter((p) => p.length === 2 && p[0] === typed[0])).map((p) => `\`${binaryName} ${p.join(' ')}\``);
    return `"${typed[0]}" needs a command: ${members.join(', ')} (see ${see})`;
  }
  const near = nearestCommands(typed);
  const hint = near.length > 0 ? `: did you mean ${near.map((n) => `\`${binaryName} ${n}\``).join(' or ')}?` : '';
  return `unknown command "${typed.join(' ').slice(0, 80)}"${hint} (see ${see})`;
}

function usageError(message: string, json: boolean, stderr: NodeJS.WritableStream, binaryName: string): number {
  message = respell(binaryName, message);
  // Clipanion prints usage errors on stdout; scripts read stdout as data, so ccg reports them
  // like every other error: one line on stderr, JSON with --json, exit 1.
  if (json) stderr.write(JSON.stringify({ error: { code: 'ERR_USAGE', message, exit: EXIT.ERROR } }) + '\n');
  else stderr.write(`ccg: ${message}\n`);
  return EXIT.ERROR;
}

/**
 * Runs one command line (anything but the version and the general help, which cli/main.ts
 * answers): loads the command it names, parses with clipanion and runs it.
 */
export async function runCommandLine(argv: string[], ctx: Partial<BaseContext>, binaryName: string): Promise<number> {
  const stdout = ctx.stdout ?? process.stdout;
  const stderr = ctx.stderr ?? process.stderr;
  // `--json=true` is not an option clipanion takes, but whoever wrote it reads stderr as JSON.
  const json = argv.some((a) => a === '--json' || a.startsWith('--json='));

  if (argv[0] === 'help') {
    const words = argv.slice(1).filter((a) => !a.startsWith('-'));
    if (words.length === 1 && GROUPS.includes(words[0]!)) {
      stdout.write(await groupHelp(words[0]!, binaryName));
      return 0;
    }
    const entry = COMMANDS.find((c) => c.paths.some((p) => p.join(' ') === words.join(' ')));
    if (!entry) return usageError(unknownCommand(words, binaryName), json, stderr, binaryName);
    const { cli, classes } = await cliFor([entry], binaryName);
    stdout.write(cli.usage(classes.get(entry)!, { detailed: true }));
    return 0;
  }
  if (argv.length === 2 && GROUPS.includes(argv[0]!) && (argv[1] === '--help' || argv[1] === '-h')) {
    stdout.write(await groupHelp(argv[0]!, binaryName));
    return 0;
  }

  const words = commandWords(argv);
  const wanted = candidates(argv);
  if (wanted.length === 0) return usageError(unknownCommand(words, binaryName), json, stderr, binaryName);
  const { cli } = await cliFor(wanted, binaryName);
  let command: Command<BaseContext>;
  try {
    command = cli.process(argv, ctx);
  } catch (err) {
    const group = words[0]!;
    if (GROUPS.includes(group) && words.length > 1 && !COMMANDS.some((c) => c.paths.some((p) => p.join(' ') === `${group} ${words[1]}`))) {
      return usageError(unknownCommand(words, binaryName), json, stderr, binaryName);
    }
    const first = ((err as Error).message || String(err)).split('\n')[0]!.replace(/[;:,]\s*$/, '');
    return usageError(/^Command not found/.test(first) ? unknownCommand(words, binaryName) : `${first} (see ${binaryName} ${namedCommand(words).join(' ')} --help)`, json, stderr, binaryName);
  }
  return cli.run(command, ctx);
}

import type { CommandClass } from 'clipanion';

/**
 * One `ccg` command as the start-up code knows it: its paths, where it is listed in help and
 * what it does, and how to load its code. A command's module (and everything it imports: zod
 * schemas, the HTTP client, the runner, Ink) loads only when that command runs, so `ccg
 * --version` or `ccg runs approve` does not pay for the TUI. The command class stays the truth
 * (test/cli/command-table.test.ts checks that these copies agree with it).
 */
export interface CommandEntry {
  paths: string[][];
  category: string;
  description: string;
  load: () => Promise<CommandClass>;
  /**
   * Its work is one request and the answer: once it returns, nothing is left to finish, so bin/ccg
   * exits as soon as the output is written instead of waiting for the connection's polite close
   * (a few ms of a script's `ccg runs approve`, docs/BENCH.md).
   */
  oneShot?: true;
}

/** Every ccg command, in the order `ccg --help` lists them inside a category. */
export const COMMANDS: readonly CommandEntry[] = [
  { paths: [['serve']], category: 'Gateway', description: 'Run the gateway (what `npm start` does)', load: async () => (await import('./commands/serve.js')).ServeCommand },
  { paths: [['doctor']], category: 'Gateway', description: 'Check this machine and the gateway: Node, uWebSockets.js build, data directory, certificate, tools, gateway, its store, pin, token, login, clock', load: async () => (await import('./commands/doctor.js')).DoctorCommand },
  { paths: [['tunnel']], category: 'Gateway', description: 'Make the gateway reachable from anywhere through a Cloudflare Tunnel (cloudflared)', load: async () => (await import('./commands/tunnel.js')).TunnelCommand },
  { paths: [['runs', 'create']], category: 'Runs', description: 'Create a run and print its id, its token (shown once) and the runner command', load: async () => (await import('./commands/runs/create.js')).RunsCreateCommand },
  { paths: [['runs', 'list'], ['runs']], category: 'Runs', description: 'List runs, newest first', load: async () => (await import('./commands/runs/list.js')).RunsListCommand, oneShot: true },
  { paths: [['runs', 'show']], category: 'Runs', description: 'Show one run: state, exit code, runner, output size', load: async () => (await import('./commands/runs/show.js')).RunsShowCommand },
  { paths: [['runs', 'logs']], category: 'Runs', description: "Print a run's output exactly as its command wrote it", load: async () => (await import('./commands/runs/logs.js')).RunsLogsCommand },
  { paths: [['runs', 'events']], category: 'Runs', description: "Print a run's timeline: Claude's text, tool calls, results, approvals, the final cost", load: async () => (await import('./commands/runs/events.js')).RunsEventsCommand },
  { paths: [['runs', 'wait']], category: 'Runs', description: "Wait for a run to end and exit with the run's exit code", load: async () => (await import('./commands/runs/wait.js')).RunsWaitCommand },
  { paths: [['runs', 'cancel']], category: 'Runs', description: 'Cancel a run: Claude is interrupted cleanly (a plain command gets SIGINT), then SIGTERM, then SIGKILL after grace periods', load: async () => (await import('./commands/runs/cancel.js')).RunsCancelCommand },
  { paths: [['runs', 'revoke']], category: 'Runs', description: "Revoke a run's token: its runner is cut off now and can never reconnect; the run ends as revoked", load: async () => (await import('./commands/runs/revoke.js')).RunsRevokeCommand },
  { paths: [['runs', 'approvals']], category: 'Runs', description: "List a run's tool uses waiting for approval", load: async () => (await import('./commands/runs/approvals.js')).RunsApprovalsCommand },
  { paths: [['runs', 'approve']], category: 'Runs', description: 'Allow a tool use Claude is waiting for', load: async () => (await import('./commands/runs/approve.js')).RunsApproveCommand, oneShot: true },
  { paths: [['runs', 'deny']], category: 'Runs', description: 'Deny a tool use Claude is waiting for (optionally telling it why)', load: async () => (await import('./commands/runs/deny.js')).RunsDenyCommand },
  { paths: [['runs', 'answer']], category: 'Runs', description: "Answer Claude's questions (AskUserQuestion): choose its options or give a free answer", load: async () => (await import('./commands/runs/answer.js')).RunsAnswerCommand },
  { paths: [['runs', 'plan']], category: 'Runs', description: "Show Claude's plan (ExitPlanMode) and approve it, or keep it planning", load: async () => (await import('./commands/runs/plan.js')).RunsPlanCommand },
  { paths: [['runs', 'mode']], category: 'Runs', description: "Show or switch a Claude session's permission mode (default, acceptEdits, plan)", load: async () => (await import('./commands/runs/mode.js')).RunsModeCommand },
  { paths: [['runs', 'model']], category: 'Runs', description: 'Show or switch the model of a Claude session', load: async () => (await import('./commands/runs/model.js')).RunsModelCommand },
  { paths: [['runs', 'interrupt']], category: 'Runs', description: "Stop Claude's current turn; the session stays open for the next prompt", load: async () => (await import('./commands/runs/interrupt.js')).RunsInterruptCommand },
  { paths: [['runs', 'input']], category: 'Runs', description: 'Send a follow-up prompt to Claude (or text to a --pty run)', load: async () => (await import('./commands/runs/input.js')).RunsInputCommand },
  { paths: [['runs', 'commands']], category: 'Runs', description: "List the commands a run's runner allows (its own allowlist, by name)", load: async () => (await import('./commands/runs/commands.js')).RunsCommandsCommand },
  { paths: [['runs', 'exec']], category: 'Runs', description: "Ask a run's runner to run one of its allowlisted commands", load: async () => (await import('./commands/runs/exec.js')).RunsExecCommand },
  { paths: [['runs', 'artifacts']], category: 'Runs', description: "List a run's artifacts, or download one", load: async () => (await import('./commands/runs/artifacts.js')).RunsArtifactsCommand },
  { paths: [['runs', 'collect']], category: 'Runs', description: "Ask a run's runner to collect and upload its artifacts now", load: async () => (await import('./commands/runs/collect.js')).RunsCollectCommand },
  { paths: [['runs', 'assist']], category: 'Runs', description: 'Start, stop or show an assist session (a tmate terminal on the runner machine)', load: async () => (await import('./commands/runs/assist.js')).RunsAssistCommand },
  { paths: [['runs', 'continue']], category: 'Runs', description: "Continue a finished Claude run that a machine started: a new run resuming Claude's session, with a new prompt", load: async () => (await import('./commands/runs/continue.js')).RunsContinueCommand },
  { paths: [['machines', 'add']], category: 'Machines', description: 'Add a machine (admins): print its token (shown once) and the command that starts its daemon', load: async () => (await import('./commands/machines/add.js')).MachinesAddCommand },
  { paths: [['machines', 'list'], ['machines']], category: 'Machines', description: 'List machines: online or last seen, host, version, workspaces, running runs', load: async () => (await import('./commands/machines/list.js')).MachinesListCommand },
  { paths: [['machines', 'show']], category: 'Machines', description: 'Show one machine: its workspaces and what each allows, its running and recent runs', load: async () => (await import('./commands/machines/show.js')).MachinesShowCommand },
  { paths: [['machines', 'revoke']], category: 'Machines', description: "Revoke a machine's token (admins): its connection closes at once and it cannot connect again", load: async () => (await import('./commands/machines/revoke.js')).MachinesRevokeCommand },
  { paths: [['machine', 'start']], category: 'Machines', description: 'Run the machine daemon: wait for runs started from the phone, the TUI or the API, and start their runners here', load: async () => (await import('./commands/machine/start.js')).MachineStartCommand },
  { paths: [['machine', 'install']], category: 'Machines', description: 'Make the machine daemon start at login and come back after a reboot (a systemd user unit; the launchd agent on macOS)', load: async () => (await import('./commands/machine/install.js')).MachineInstallCommand },
  { paths: [['runner', 'start']], category: 'Runner', description: 'Run Claude Code (or any command) and stream it to the gateway over an outbound connection', load: async () => (await import('./commands/runner/start.js')).RunnerStartCommand },
  { paths: [['tui']], category: 'Console', description: 'The operator console: runs, live output and Claude timelines, approvals, input, commands, artifacts, assist', load: async () => (await import('./commands/tui.js')).TuiCommand },
  { paths: [['policy', 'show'], ['policy']], category: 'Policy', description: "Show which roles may run which of a runner's allowlisted commands (admins)", load: async () => (await import('./commands/policy/show.js')).PolicyShowCommand },
  { paths: [['policy', 'set']], category: 'Policy', description: 'Change the command policy: default roles, per-command roles (admins)', load: async () => (await import('./commands/policy/set.js')).PolicySetCommand },
  { paths: [['login']], category: 'Accounts', description: 'Sign in to a gateway and save an API token for every other ccg command', load: async () => (await import('./commands/login.js')).LoginCommand },
  { paths: [['logout']], category: 'Accounts', description: 'Revoke the token `ccg login` saved, and forget it', load: async () => (await import('./commands/logout.js')).LogoutCommand },
];

/** The first words of every command: `runs`, `policy`, `runner` are groups of several. */
export const GROUPS: readonly string[] = [...new Set(COMMANDS.filter((c) => c.paths[0]!.length > 1).map((c) => c.paths[0]![0]!))];

/** A command's name as typed: its first (longest) path. */
export function commandName(c: CommandEntry): string {
  return c.paths[0]!.join(' ');
}

/**
 * The commands argv may be asking for: at each word of argv (before `--`), the command with the
 * longest path that starts there (`runs approve`, not `runs` alone, which is `runs list`).
 * Clipanion accepts options before the path (`ccg --json runs list`), so the path is not always
 * argv's head; a value that happens to be a command's name (`--name doctor`) only costs loading one
 * more module, as clipanion then still picks the right one.
 */
export function candidates(argv: readonly string[]): CommandEntry[] {
  const end = argv.indexOf('--');
  const words = end < 0 ? argv : argv.slice(0, end);
  const found = new Set<CommandEntry>();
  for (let i = 0; i < words.length; i++) {
    let best: { entry: CommandEntry; length: number } | undefined;
    for (const entry of COMMANDS) {
      for (const p of entry.paths) {
        if (p.length > (best?.length ?? 0) && p.every((w, j) => words[i + j] === w)) best = { entry, length: p.length };
      }
    }
    if (best) found.add(best.entry);
  }
  return [...found];
}

/** Damerau–Levenshtein distance (optimal string alignment): a transposition counts as one edit. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The commands nearest to what was typed (`runs lst` → `runs list`), at most three, or none
 * when nothing is close: an edit or two, a third for longer names.
 * @example nearestCommands(['runs', 'lst']) // ['runs list']
 */
export function nearestCommands(words: readonly string[]): string[] {
  const typed = words.join(' ');
  const names = [...new Set(COMMANDS.flatMap((c) => c.paths.filter((p) => p.length > 0).map((p) => p.join(' '))))];
  // Inside a known group only its own commands are candidates: `runs aprove` is not `runner`.
  const pool = words.length > 1 && GROUPS.includes(words[0]!) ? names.filter((n) => n.startsWith(`${words[0]} `)) : names;
  const scored = pool.map((name) => ({ name, d: distance(typed, name) })).filter(({ d }) => d <= (typed.length > 8 ? 3 : typed.length > 4 ? 2 : 1));
  const best = Math.min(...scored.map((s) => s.d));
  return scored.filter((s) => s.d === best).map((s) => s.name).slice(0, 3);
}

import { readFileSync, realpathSync } from 'node:fs';
import { z } from 'zod';
import { COMMAND_NAME_RE, PARAM_NAME_RE, type AdvertisedCommand } from '../../protocol/run.js';
import { MAX_EXEC_PARAMS } from '../../protocol/runner-messages.js';
import { CliError } from '../exit-codes.js';
import { isInside } from './confined-read.js';
import { parseWait } from '../durations.js';

/**
 * The runner's allowlist: the only commands a gateway can ever get run on this machine. Entries
 * come from the runner's own flags or a file outside the workspace (Claude can edit the
 * workspace), never from the gateway.
 */
export interface AllowedCommand {
  name: string;
  /** argv; each `{param}` in an element is replaced by that parameter's value (one argv element, never split). */
  argv: string[];
  params: Map<string, RegExp>;
  /** The patterns as written, for advertising. */
  patterns: Map<string, string>;
  timeoutMs: number;
  maxOutput: number;
  description?: string;
}

const DEFAULT_TIMEOUT = 10 * 60_000;
const DEFAULT_MAX_OUTPUT = 4 * 1024 * 1024;
/** `{name}` anywhere in an argv element. */
const PLACEHOLDER = /\{([a-z][a-z0-9_]{0,31})\}/g;

export const DEFAULT_ALLOWLIST: AllowedCommand[] = [
  entry('status', ['git', 'status', '--porcelain'], 'Changed files'),
  entry('diff', ['git', 'diff'], 'Unstaged changes'),
  entry('log', ['git', 'log', '-n', '20', '--oneline'], 'Last 20 commits'),
];

function entry(name: string, argv: string[], description?: string): AllowedCommand {
  return { name, argv, params: new Map(), patterns: new Map(), timeoutMs: DEFAULT_TIMEOUT, maxOutput: DEFAULT_MAX_OUTPUT, ...(description ? { description } : {}) };
}

/** Splits a command line into argv with shell-like quoting, but no expansion of any kind. */
export function splitCommandLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: '"' | "'" | null = null;
  let any = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      any = true;
    } else if (/\s/.test(ch)) {
      if (cur || any) out.push(cur);
      cur = '';
      any = false;
    } else if (ch === '\\' && i + 1 < line.length) {
      cur += line[++i];
    } else {
      cur += ch;
    }
  }
  if (quote) throw new Error('unterminated quote');
  if (cur || any) out.push(cur);
  return out;
}

/** `--allow test="npm test"` → the entry `test`. Parameters need a file (they need patterns). */
export function parseAllowFlag(spec: string): AllowedCommand {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new CliError(`--allow "${spec}": expected NAME="COMMAND ARGS…"`);
  const name = spec.slice(0, eq);
  if (!COMMAND_NAME_RE.test(name)) throw new CliError(`--allow: "${name}" is not a valid name (lowercase letters, digits, - and _)`);
  let argv: string[];
  try {
    argv = splitCommandLine(spec.slice(eq + 1));
  } catch (err) {
    throw new CliError(`--allow ${name}: ${(err as Error).message}`);
  }
  if (argv.length === 0) throw new CliError(`--allow ${name}: empty command`);
  if (argv.some((a) => /\{[a-z][a-z0-9_]{0,31}\}/.test(a))) throw new CliError(`--allow ${name}: parameters need patterns; define this command in an --allowlist file`);
  return entry(name, argv);
}

const FileEntry = z
  .object({
    name: z.string().regex(COMMAND_NAME_RE),
    argv: z.array(z.string().min(1).max(4096)).min(1).max(256),
    params: z
      .record(z.string().regex(PARAM_NAME_RE), z.object({ pattern: z.string().min(1).max(200) }).strict())
      .refine((p) => Object.keys(p).length <= MAX_EXEC_PARAMS, `at most ${MAX_EXEC_PARAMS} parameters`)
      .default({}),
    timeout: z.string().optional(),
    maxOutputBytes: z.number().int().positive().max(256 * 1024 * 1024).optional(),
    description: z.string().max(200).optional(),
  })
  .strict();
const FileSchema = z.object({ commands: z.array(FileEntry).max(64) }).strict();

/**
 * Loads an allowlist file (JSON: `{"commands":[{"name","argv","params":{"p":{"pattern"}},"timeout","maxOutputBytes"}]}`).
 * Refused when it lives inside the workspace, where the agent could rewrite it.
 */
export function loadAllowlistFile(file: string, workspace: string): AllowedCommand[] {
  let real: string;
  try {
    real = realpathSync(file);
  } catch (err) {
    throw new CliError(`cannot read --allowlist ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (isInside(real, realpathSync(workspace))) {
    throw new CliError(`--allowlist ${file} is inside the workspace, where Claude could edit it; keep it outside (e.g. ~/.config/ccg/allowlist.json)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(real, 'utf8'));
  } catch (err) {
    throw new CliError(`--allowlist ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = FileSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new CliError(`--allowlist ${file}: ${i?.path.join('.') ?? ''}: ${i?.message ?? 'invalid'}`);
  }
  return parsed.data.commands.map((c) => {
    const params = new Map<string, RegExp>();
    const patterns = new Map<string, string>();
    for (const [p, { pattern }] of Object.entries(c.params)) {
      try {
        params.set(p, new RegExp(`^(?:${pattern})$`));
      } catch {
        throw new CliError(`--allowlist ${c.name}.${p}: pattern is not a valid regular expression`);
      }
      patterns.set(p, pattern);
    }
    for (const a of c.argv) {
      for (const m of a.matchAll(PLACEHOLDER)) {
        if (!params.has(m[1]!)) throw new CliError(`--allowlist ${c.name}: {${m[1]}} has no pattern in "params"`);
      }
    }
    if (c.argv[0]!.includes('{')) throw new CliError(`--allowlist ${c.name}: the program (argv[0]) cannot be a parameter`);
    return {
      name: c.name,
      argv: c.argv,
      params,
      patterns,
      timeoutMs: c.timeout ? parseWait(c.timeout, `--allowlist ${c.name}.timeout`) : DEFAULT_TIMEOUT,
      maxOutput: c.maxOutputBytes ?? DEFAULT_MAX_OUTPUT,
      ...(c.description ? { description: c.description } : {}),
    };
  });
}

export function advertise(list: AllowedCommand[]): AdvertisedCommand[] {
  return list.map((c) => ({
    name: c.name,
    params: [...c.patterns].map(([name, pattern]) => ({ name, pattern })),
    timeoutMs: c.timeoutMs,
    ...(c.description ? { description: c.description } : {}),
  }));
}

/**
 * The argv to run for a request, or why it is refused. Every parameter must be defined, given,
 * match its pattern in full, contain no control character and not look like an option.
 */
export function resolveExec(list: AllowedCommand[], name: string, params: Record<string, string>): { ok: true; cmd: AllowedCommand; argv: string[] } | { ok: false; reason: string } {
  const cmd = list.find((c) => c.name === name);
  if (!cmd) return { ok: false, reason: `${JSON.stringify(name.slice(0, 64))} is not on this runner's allowlist` };
  for (const key of Object.keys(params)) if (!cmd.params.has(key)) return { ok: false, reason: `${name} has no parameter ${JSON.stringify(key.slice(0, 64))}` };
  for (const [key, re] of cmd.params) {
    // Own properties only: a parameter named like an Object.prototype member is not "given" by inheritance.
    const value = Object.hasOwn(params, key) ? params[key] : undefined;
    if (typeof value !== 'string') return { ok: false, reason: `${name} needs the parameter "${key}"` };
    if (/[\u0000-\u001f\u007f]/.test(value)) return { ok: false, reason: `${key}: control characters are not allowed` };
    if (value.startsWith('-')) return { ok: false, reason: `${key}: values may not start with "-" (option injection)` };
    if (!re.test(value)) return { ok: false, reason: `${key}: ${JSON.stringify(value.slice(0, 64))} does not match ${cmd.patterns.get(key)}` };
  }
  // One pass with a function: a value that contains "{other}" is not expanded again.
  const argv = cmd.argv.map((a) => a.replace(PLACEHOLDER, (whole, p: string) => (cmd.params.has(p) ? params[p]! : whole)));
  return { ok: true, cmd, argv };
}

import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { MODEL_RE, PERMISSION_MODES, PermissionMode } from './claude-steer.js';
import { PROTOCOL_VERSION, RunName, RunSummary } from './run.js';
import { RUN_ID_RE, RUN_TOKEN_RE, newNonce } from './ids.js';
import { HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, checkSignedHeaders, signature, signatureMatches, type Verdict } from './signing.js';

/**
 * Machines: a daemon (`ccg machine start`) that connects out to `/v1/machine` once and waits for
 * the gateway to hand it runs to start. The machine's own config file is the authority on what
 * may be started (docs/PROTOCOL.md, "Machines"); the gateway only names a workspace and a prompt.
 */

export const MACHINE_NAME_RE = /^[a-z][a-z0-9-]{0,31}$/;
export const MACHINE_TOKEN_RE = /^ccgm_[A-Za-z0-9_-]{43}$/;
export const WORKSPACE_NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;
// Claude Code's permission modes and model names: one definition (claude-steer.ts) for starting
// a run and for switching one (a model a run may switch to was refused to start one with).
export { MODEL_RE, PERMISSION_MODES, PermissionMode };
export const MAX_PROMPT = 32 * 1024;
/** Claude Code's session ids are UUIDs; anything else never reaches its command line. */
export const SESSION_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const MachineName = z.string().regex(MACHINE_NAME_RE, 'a machine name is 1-32 of a-z, 0-9 and -, starting with a letter');
export const WorkspaceName = z.string().regex(WORKSPACE_NAME_RE, 'a workspace name is 1-32 of a-z, 0-9, _ and -, starting with a letter');

/** A new machine token: shown once, kept by the gateway only as its SHA-256. */
export function newMachineToken(): string {
  return `ccgm_${randomBytes(32).toString('base64url')}`;
}

/**
 * What the gateway keeps of a machine token, and the key the machine signs its connection with:
 * the token's SHA-256 (hex). Whoever reads the gateway's store learns only this, which opens no
 * machine (the machine trusts nothing the gateway sends beyond its own config).
 */
export function machineKey(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The `runId` slot of the signed canonical string on `/v1/machine` (see signing.ts). */
export function machineSubject(name: string): string {
  return `machine:${name}`;
}

/** A workspace as the machine advertises it (never its directory). */
export const AdvertisedWorkspace = z
  .object({
    name: WorkspaceName,
    claude: z.boolean(),
    modes: z.array(PermissionMode).max(PERMISSION_MODES.length),
    /** Empty: Claude's own default model only. */
    models: z.array(z.string().regex(MODEL_RE)).max(16),
    /** The allowlisted commands its runs get, by name. */
    commands: z.array(z.string().max(64)).max(64),
    worktree: z.boolean(),
  })
  .strict();
export type AdvertisedWorkspace = z.infer<typeof AdvertisedWorkspace>;

export const MachineInfo = z
  .object({
    hostname: z.string().max(255),
    version: z.string().max(64),
    platform: z.string().max(32),
    workspaces: z.array(AdvertisedWorkspace).max(64),
    maxRuns: z.number().int().min(1).max(256),
    /** Runs this machine's runners are working on now (their ids). */
    running: z.array(z.string().regex(RUN_ID_RE)).max(256),
  })
  .strict();
export type MachineInfo = z.infer<typeof MachineInfo>;

// machine → gateway
export const MachineHello = z.object({ type: z.literal('hello'), v: z.number().int(), machine: MachineInfo }).strict();
/** The answer to a `start`: started (or already running), or refused with the reason. */
export const MachineStartResult = z
  .object({
    type: z.literal('start_result'),
    runId: z.string().regex(RUN_ID_RE),
    ok: z.boolean(),
    reason: z.string().max(1024).optional(),
  })
  .strict();
/** What is running changed (a run started or its runner ended). */
export const MachineRunning = z.object({ type: z.literal('running'), running: z.array(z.string().regex(RUN_ID_RE)).max(256) }).strict();
export const MachineToGateway = z.discriminatedUnion('type', [MachineHello, MachineStartResult, MachineRunning]);
export type MachineToGateway = z.infer<typeof MachineToGateway>;
export const MACHINE_MESSAGE_TYPES: readonly string[] = ['hello', 'start_result', 'running'];

// gateway → machine
export const MachineWelcome = z.object({ type: z.literal('welcome'), v: z.number().int(), name: MachineName, serverTime: z.number() }).strict();

/**
 * Start a runner for this run. Strict: a directory, an argv, an environment are not fields, so a
 * gateway cannot ask for them; the machine checks everything else against its config.
 */
export const MachineStart = z
  .object({
    type: z.literal('start'),
    runId: z.string().regex(RUN_ID_RE),
    token: z.string().regex(RUN_TOKEN_RE),
    workspace: WorkspaceName,
    /** Claude Code with this prompt… */
    prompt: z.string().min(1).max(MAX_PROMPT).optional(),
    /** …or one of the workspace's allowlisted commands, by name, as the run. */
    command: z.string().max(64).optional(),
    mode: PermissionMode.optional(),
    model: z.string().regex(MODEL_RE).optional(),
    /** Continue: resume this Claude session… */
    resume: z.string().regex(SESSION_ID_RE).optional(),
    /** …in the checkout of this earlier run (worktree workspaces). */
    previousRunId: z.string().regex(RUN_ID_RE).optional(),
  })
  .strict()
  .refine((m) => (m.prompt === undefined) !== (m.command === undefined), 'give a prompt or a command, not both');
export type MachineStart = z.infer<typeof MachineStart>;
export const MachineError = z.object({ type: z.literal('error'), code: z.string().max(64), message: z.string().max(1024) }).strict();
export const GatewayToMachine = z.union([MachineWelcome, MachineStart, MachineError]);
export type GatewayToMachine = z.infer<typeof GatewayToMachine>;

// The operator API

export const MachineSummary = z.object({
  name: MachineName,
  online: z.boolean(),
  lastSeenAt: z.number().nullable(),
  createdAt: z.number(),
  createdBy: z.string(),
  revokedAt: z.number().nullable(),
  info: MachineInfo.nullable(),
});
export type MachineSummary = z.infer<typeof MachineSummary>;

export const AddMachineRequest = z.object({ name: MachineName }).strict();
export const AddMachineResponse = z.object({
  machine: MachineSummary,
  /** Shown once. */
  token: z.string(),
  /** The command to run on the machine (the token goes through a file or the environment). */
  command: z.string(),
  /** For a machine without ccg: fetch the single-file runner (pin and hash checked), then start it. */
  singleFile: z.object({ sha256: z.string(), commands: z.array(z.string()) }).nullable().optional(),
});
export type AddMachineResponse = z.infer<typeof AddMachineResponse>;
export const ListMachinesResponse = z.object({ machines: z.array(MachineSummary) });
export const MachineResponse = z.object({ machine: MachineSummary, runs: z.array(RunSummary) });

export const StartRunRequest = z
  .object({
    workspace: WorkspaceName,
    prompt: z.string().trim().min(1, 'the prompt is empty').max(MAX_PROMPT),
    mode: PermissionMode.optional(),
    model: z.string().regex(MODEL_RE).optional(),
    name: RunName.optional(),
  })
  .strict();
export type StartRunRequest = z.infer<typeof StartRunRequest>;
export const ContinueRunRequest = z.object({ prompt: z.string().trim().min(1, 'the prompt is empty').max(MAX_PROMPT) }).strict();

export { PROTOCOL_VERSION };

export const HEADER_MACHINE = 'x-ccg-machine';

/**
 * The headers of a machine's signed upgrade: the runner scheme (signing.ts) with `machine:NAME`
 * in the run-id slot, keyed by `machineKey(token)`.
 */
export function signMachineRequest(token: string, req: { method: string; target: string; name: string }, opts: { now?: number; nonce?: string } = {}): Record<string, string> {
  const timestamp = Math.floor((opts.now ?? Date.now()) / 1000);
  const nonce = opts.nonce ?? newNonce();
  const sig = signature(machineKey(token), { method: req.method, target: req.target, runId: machineSubject(req.name), timestamp, nonce });
  return { [HEADER_MACHINE]: req.name, [HEADER_TIMESTAMP]: String(timestamp), [HEADER_NONCE]: nonce, [HEADER_SIGNATURE]: sig };
}

/** Checks a machine's signed headers against the stored key (constant-time). Throws nothing: a verdict. */
export function checkMachineSignature(
  key: string,
  h: { name: string; timestamp: string | undefined; nonce: string | undefined; signature: string | undefined },
  req: { method: string; target: string },
  nowMs: number,
): Verdict {
  // The shape and clock checks of the runner scheme; the run-id slot is the machine's name, checked by the caller.
  const shape = checkSignedHeaders({ runId: 'aaaaaaaaaaaa', timestamp: h.timestamp, nonce: h.nonce, signature: h.signature }, nowMs);
  if (!shape.ok) return shape;
  const ok = signatureMatches(key, { runId: machineSubject(h.name), timestamp: h.timestamp!, nonce: h.nonce!, signature: h.signature! }, req);
  return ok ? { ok: true } : { ok: false, code: 'ERR_SIGNATURE_INVALID', message: 'signature does not match this machine (wrong token or revoked)' };
}

/** `POST /api/v1/machines/{name}/runs` and `POST /api/v1/runs/{id}/continue`. */
export const StartRunResponse = z.object({
  id: z.string(),
  /** started: the machine started its runner; pending: it has not answered yet (it gets the start again when it reconnects). */
  state: z.enum(['started', 'pending']),
  run: RunSummary,
});
export type StartRunResponse = z.infer<typeof StartRunResponse>;

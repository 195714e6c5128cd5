import type { TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../../protocol/errors.js';
import { AddMachineRequest, ContinueRunRequest, MACHINE_NAME_RE, StartRunRequest, type AddMachineResponse } from '../../protocol/machine.js';
import { requireRole, type Principal } from '../auth/operator-auth.js';
import type { MachineService } from '../core/machines.js';
import type { RunService } from '../core/runs.js';
import type { Logger } from '../log.js';
import { parseJson, route, type Ctx } from '../respond.js';
import { runIdParam } from './stored-stream.js';
import { singleFileCommands } from './runner-file.js';

export interface MachinesApiOptions {
  machines: MachineService;
  runs: RunService;
  log: Logger;
  who: (ctx: Ctx) => Principal;
  maxBodyBytes: number;
  /** The URL machines connect to, and the certificate pin, for the printed command. */
  runnerUrl: (hostHeader: string | undefined) => string;
  fingerprint: string | null;
  /** The single-file runner's SHA-256, when the gateway serves it. */
  runnerSha256: string | null;
}

/**
 * The command that starts a machine daemon: the token goes through the environment (never
 * argv); the machine's own config file (workspaces) is written by the machine's owner.
 */
export function machineCommand(o: { url: string; fingerprint: string | null; name: string; token: string }): string {
  return [
    `CCG_MACHINE_TOKEN=${o.token}`, 'ccg', 'machine', 'start', '--gateway', o.url,
    ...(o.fingerprint ? ['--fingerprint', o.fingerprint] : []), '--name', o.name,
  ].join(' ');
}

function nameParam(ctx: Ctx): string {
  const name = ctx.params[0] ?? '';
  if (!MACHINE_NAME_RE.test(name)) throw new CcgError('ERR_MACHINE_NOT_FOUND', 'no such machine');
  return name;
}

/** Machines under /api/v1/machines: list and show (viewers), start runs (operators), add and revoke (admins); continue a run. */
export function mountMachinesApi(app: TemplatedApp, o: MachinesApiOptions): void {
  const actor = (ctx: Ctx) => ({ principal: o.who(ctx), from: ctx.remote });

  route(app, 'get', '/api/v1/machines', o.log, (ctx) => {
    o.who(ctx);
    return { status: 200, json: { machines: o.machines.list() } };
  });

  route(app, 'post', '/api/v1/machines', o.log, async (ctx) => {
    const a = actor(ctx);
    requireRole(a.principal, 'admin');
    const body = parseJson(await ctx.body(o.maxBodyBytes), AddMachineRequest);
    const { machine, token } = await o.machines.add(a, body.name);
    const url = o.runnerUrl(ctx.headers['host']);
    const out: AddMachineResponse = {
      machine: o.machines.summary(machine), token, command: machineCommand({ url, fingerprint: o.fingerprint, name: machine.name, token }),
      singleFile: o.runnerSha256 ? { sha256: o.runnerSha256, commands: singleFileCommands({ url, fingerprint: o.fingerprint, sha256: o.runnerSha256, name: machine.name, token }) } : null,
    };
    return { status: 201, json: out };
  });

  route(app, 'get', '/api/v1/machines/:name', o.log, (ctx) => {
    o.who(ctx);
    const rec = o.machines.mustGet(nameParam(ctx));
    return { status: 200, json: { machine: o.machines.summary(rec), runs: o.machines.runsOf(rec.name, 500).slice(0, 50) } };
  });

  route(app, 'post', '/api/v1/machines/:name/revoke', o.log, async (ctx) => {
    const rec = await o.machines.revoke(actor(ctx), nameParam(ctx));
    return { status: 200, json: { machine: o.machines.summary(rec) } };
  });

  route(app, 'post', '/api/v1/machines/:name/remove', o.log, async (ctx) => {
    await o.machines.remove(actor(ctx), nameParam(ctx));
    return { status: 200, json: { ok: true } };
  });

  route(app, 'post', '/api/v1/machines/:name/runs', o.log, async (ctx) => {
    const a = actor(ctx);
    requireRole(a.principal, 'operator');
    const name = nameParam(ctx);
    const body = parseJson(await ctx.body(o.maxBodyBytes), StartRunRequest);
    const { run, state } = await o.machines.start(a, name, body);
    return { status: state === 'started' ? 201 : 202, json: { id: run.id, state, run: o.runs.summary(run) } };
  });

  route(app, 'post', '/api/v1/runs/:id/continue', o.log, async (ctx) => {
    const a = actor(ctx);
    requireRole(a.principal, 'operator');
    const id = runIdParam(ctx);
    const body = parseJson(await ctx.body(o.maxBodyBytes), ContinueRunRequest);
    const { run, state } = await o.machines.continueRun(a, id, body.prompt);
    return { status: state === 'started' ? 201 : 202, json: { id: run.id, state, run: o.runs.summary(run) } };
  });
}

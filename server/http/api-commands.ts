import type { TemplatedApp } from 'uWebSockets.js';
import { ExecRequest, type CommandsResponse, type ExecResponse } from '../../protocol/api.js';
import { CcgError } from '../../protocol/errors.js';
import { RUN_ID_RE } from '../../protocol/ids.js';
import type { Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { PolicyService } from '../core/policy.js';
import type { RunService } from '../core/runs.js';
import type { AuthStore } from '../store/types.js';
import { parseJson, route, type Ctx } from '../respond.js';

export interface CommandsApiOptions {
  runs: RunService;
  store: AuthStore;
  log: Logger;
  who: (ctx: Ctx) => Principal;
  /** Which roles may trigger which advertised commands (GET/PUT /api/v1/policy). */
  policy: PolicyService;
  maxBodyBytes: number;
}

/** Allowlisted commands: list what a runner offers, and ask it to run one. */
export function mountCommandsApi(app: TemplatedApp, o: CommandsApiOptions): void {
  const runId = (ctx: Ctx) => {
    const id = ctx.params[0] ?? '';
    if (!RUN_ID_RE.test(id)) throw new CcgError('ERR_RUN_NOT_FOUND', `no run with id ${id.slice(0, 40)}`);
    return id;
  };

  route(app, 'get', '/api/v1/runs/:id/commands', o.log, (ctx) => {
    const p = o.who(ctx);
    const run = o.runs.mustGet(runId(ctx));
    const commands = run.runner?.commands ?? [];
    const mayRun = commands.filter((c) => o.policy.mayRun(p.role, c.name)).map((c) => c.name);
    const out: CommandsResponse = { connected: o.runs.summary(run).runnerConnected, commands, mayRun };
    return { status: 200, json: out };
  });

  route(app, 'post', '/api/v1/runs/:id/exec', o.log, async (ctx) => {
    const p = o.who(ctx);
    const id = runId(ctx);
    const body = parseJson(await ctx.body(o.maxBodyBytes), ExecRequest);
    const out = await requestExec(o, p, id, body, ctx.remote);
    return { status: 202, json: out };
  });
}

/**
 * Asks a run's runner to run one of its advertised commands, for the API and the run page alike:
 * the command policy decides whether the caller's role may ask (a refusal is audited as
 * `command.denied`), the request is audited as `command.request`, and the runner decides the rest.
 */
export async function requestExec(
  o: Pick<CommandsApiOptions, 'runs' | 'store' | 'policy'>,
  p: Principal,
  id: string,
  body: ExecRequest,
  from: string | null,
): Promise<ExecResponse> {
  if (!o.policy.mayRun(p.role, body.name)) {
    await o.store.appendAudit({ at: Date.now(), actor: p.name, action: 'command.denied', target: id, from, detail: { name: body.name, role: p.role } });
    throw new CcgError('ERR_FORBIDDEN', `the gateway's policy does not let the ${p.role} role run "${body.name}"`);
  }
  const out: ExecResponse = o.runs.exec(id, body.name, body.params);
  await o.store.appendAudit({
    at: Date.now(), actor: p.name, action: 'command.request', target: id, from,
    detail: { name: body.name, requestId: out.requestId, params: JSON.stringify(body.params).slice(0, 500) },
  });
  return out;
}

import type { TemplatedApp } from 'uWebSockets.js';
import { ExecRequest, type CommandsResponse } from '../../protocol/api.js';
import type { Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { Requests } from '../core/requests.js';
import type { RunService } from '../core/runs.js';
import { runIdParam } from './stored-stream.js';
import { parseJson, route, type Ctx } from '../respond.js';

export interface CommandsApiOptions {
  runs: RunService;
  requests: Requests;
  log: Logger;
  who: (ctx: Ctx) => Principal;
  maxBodyBytes: number;
}

/** Allowlisted commands: list what a runner offers, and ask it to run one. */
export function mountCommandsApi(app: TemplatedApp, o: CommandsApiOptions): void {
  route(app, 'get', '/api/v1/runs/:id/commands', o.log, (ctx) => {
    const p = o.who(ctx);
    const run = o.runs.mustGet(runIdParam(ctx));
    const commands = run.runner?.commands ?? [];
    const mayRun = commands.filter((c) => o.requests.mayRun(p, c.name)).map((c) => c.name);
    const out: CommandsResponse = { connected: o.runs.summary(run).runnerConnected, commands, mayRun };
    return { status: 200, json: out };
  });

  route(app, 'post', '/api/v1/runs/:id/exec', o.log, async (ctx) => {
    const p = o.who(ctx);
    const id = runIdParam(ctx);
    const body = parseJson(await ctx.body(o.maxBodyBytes), ExecRequest);
    const out = await o.requests.exec({ principal: p, from: ctx.remote }, id, body);
    return { status: 202, json: out };
  });
}

import type { TemplatedApp } from 'uWebSockets.js';
import { AssistRequest, type AssistResponse } from '../../protocol/assist.js';
import type { Requests } from '../core/requests.js';
import { requireRole, type Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { RunService } from '../core/runs.js';
import { runIdParam } from './stored-stream.js';
import { parseJson, route, type Ctx } from '../respond.js';

export interface AssistApiOptions {
  runs: RunService;
  requests: Requests;
  log: Logger;
  who: (ctx: Ctx) => Principal;
  maxBodyBytes: number;
}

/**
 * Assist sessions: ask the runner to start or stop tmate, and read the links. Operators and
 * admins only, at every step: the read-write link is a shell on the runner's machine.
 */
export function mountAssistApi(app: TemplatedApp, o: AssistApiOptions): void {
  route(app, 'post', '/api/v1/runs/:id/assist', o.log, async (ctx) => {
    const p = o.who(ctx);
    requireRole(p, 'operator');
    const id = runIdParam(ctx);
    const body = parseJson(await ctx.body(o.maxBodyBytes), AssistRequest);
    return { status: 202, json: await o.requests.assist({ principal: p, from: ctx.remote }, id, body.action) };
  });

  route(app, 'get', '/api/v1/runs/:id/assist', o.log, async (ctx) => {
    const p = o.who(ctx);
    const id = runIdParam(ctx);
    // Reading the links is as sensitive as opening the session: it is audited too.
    const { info, audited } = o.requests.showAssist({ principal: p, from: ctx.remote }, id);
    await audited;
    const run = o.runs.mustGet(id);
    const out: AssistResponse = { enabled: Boolean(run.runner?.assist), maxMinutes: run.runner?.assist?.maxMinutes ?? null, assist: info };
    return { status: 200, json: out };
  });
}

import type { TemplatedApp } from 'uWebSockets.js';
import { AssistRequest, type AssistResponse } from '../../protocol/assist.js';
import { CcgError } from '../../protocol/errors.js';
import { RUN_ID_RE } from '../../protocol/ids.js';
import type { AssistService } from '../core/assist.js';
import { requireRole, type Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { RunService } from '../core/runs.js';
import type { AuthStore } from '../store/types.js';
import { parseJson, route, type Ctx } from '../respond.js';

export interface AssistApiOptions {
  runs: RunService;
  store: AuthStore;
  assist: AssistService;
  log: Logger;
  who: (ctx: Ctx) => Principal;
  maxBodyBytes: number;
}

/**
 * Assist sessions: ask the runner to start or stop tmate, and read the links. Operators and
 * admins only, at every step: the read-write link is a shell on the runner's machine.
 */
export function mountAssistApi(app: TemplatedApp, o: AssistApiOptions): void {
  const runIdParam = (ctx: Ctx) => {
    const id = ctx.params[0] ?? '';
    if (!RUN_ID_RE.test(id)) throw new CcgError('ERR_RUN_NOT_FOUND', `no run with id ${id.slice(0, 40)}`);
    return id;
  };

  route(app, 'post', '/api/v1/runs/:id/assist', o.log, async (ctx) => {
    const p = o.who(ctx);
    requireRole(p, 'operator');
    const id = runIdParam(ctx);
    const body = parseJson(await ctx.body(o.maxBodyBytes), AssistRequest);
    return { status: 202, json: await requestAssist(o, p, id, body.action, ctx.remote) };
  });

  route(app, 'get', '/api/v1/runs/:id/assist', o.log, async (ctx) => {
    const p = o.who(ctx);
    requireRole(p, 'operator');
    const id = runIdParam(ctx);
    const run = o.runs.mustGet(id);
    const info = o.assist.get(id);
    // Reading the links is as sensitive as opening the session: it is audited too.
    if (info?.links) await o.store.appendAudit({ at: Date.now(), actor: p.name, action: 'assist.show', target: id, from: ctx.remote });
    const out: AssistResponse = { enabled: Boolean(run.runner?.assist), maxMinutes: run.runner?.assist?.maxMinutes ?? null, assist: info };
    return { status: 200, json: out };
  });
}

/**
 * Asks the run's runner to start or stop its assist session (operators and admins, API and run
 * page alike), audited as `assist.start` / `assist.stop`. Starting is refused up front when the
 * runner's hello did not allow assist sessions; the runner checks again.
 */
export async function requestAssist(o: Pick<AssistApiOptions, 'runs' | 'store'>, p: Principal, id: string, action: 'start' | 'stop', from: string | null): Promise<{ requestId: string; fromSeq: number }> {
  requireRole(p, 'operator');
  const run = o.runs.mustGet(id);
  if (action === 'start' && !run.runner?.assist) {
    throw new CcgError('ERR_NOT_ENABLED', 'the runner does not allow assist sessions (start it with --assist)');
  }
  const out = o.runs.request(id, (requestId) => ({ type: 'assist', requestId, action }));
  await o.store.appendAudit({ at: Date.now(), actor: p.name, action: `assist.${action}`, target: id, from, detail: { requestId: out.requestId } });
  return out;
}

import type { TemplatedApp } from 'uWebSockets.js';
import { AnswerPlanRequest, AnswerQuestionsRequest, SetModeRequest, SetModelRequest } from '../../protocol/claude-control.js';
import { APPROVAL_ID_RE } from '../../protocol/claude-events.js';
import { CcgError } from '../../protocol/errors.js';
import { requireRole, type Principal } from '../auth/operator-auth.js';
import type { ApprovalService } from '../core/approvals.js';
import type { ClaudeSessionService } from '../core/claude-session.js';
import type { RunService } from '../core/runs.js';
import type { Logger } from '../log.js';
import { parseJson, route, type Ctx } from '../respond.js';
import { runIdParam } from './stored-stream.js';

export interface ClaudeSteerApiOptions {
  runs: RunService;
  approvals: ApprovalService;
  claudeSession: ClaudeSessionService;
  log: Logger;
  who: (ctx: Ctx) => Principal;
  maxBodyBytes: number;
}

/**
 * Steering a Claude session over HTTP, beside allow/deny (api-claude.ts): answering its questions
 * and its plan, its mode and model, and "stop this turn". Each route is one core operation.
 */
export function mountClaudeSteerApi(app: TemplatedApp, o: ClaudeSteerApiOptions): void {
  const runId = (ctx: Ctx) => {
    const id = runIdParam(ctx);
    o.runs.mustGet(id);
    return id;
  };
  const approvalId = (ctx: Ctx) => {
    const a = ctx.params[1] ?? '';
    if (!APPROVAL_ID_RE.test(a)) throw new CcgError('ERR_APPROVAL_NOT_FOUND', `no approval ${a.slice(0, 64)}`);
    return a;
  };

  route(app, 'post', '/api/v1/runs/:id/approvals/:approval/answers', o.log, async (ctx) => {
    const p = o.who(ctx);
    requireRole(p, 'operator');
    const id = runId(ctx);
    const a = approvalId(ctx);
    const body = parseJson(await ctx.body(o.maxBodyBytes), AnswerQuestionsRequest);
    return { status: 200, json: { approval: await o.approvals.answerQuestions(id, a, body.answers, p, ctx.remote) } };
  });

  route(app, 'post', '/api/v1/runs/:id/approvals/:approval/plan', o.log, async (ctx) => {
    const p = o.who(ctx);
    requireRole(p, 'operator');
    const id = runId(ctx);
    const a = approvalId(ctx);
    const body = parseJson(await ctx.body(o.maxBodyBytes), AnswerPlanRequest);
    return { status: 200, json: { approval: await o.approvals.answerPlan(id, a, body, p, ctx.remote) } };
  });

  route(app, 'get', '/api/v1/runs/:id/session', o.log, async (ctx) => {
    o.who(ctx);
    return { status: 200, json: await o.claudeSession.session(runId(ctx)) };
  });

  route(app, 'post', '/api/v1/runs/:id/mode', o.log, async (ctx) => {
    const p = o.who(ctx);
    const id = runId(ctx);
    const body = parseJson(await ctx.body(o.maxBodyBytes), SetModeRequest);
    return { status: 202, json: await o.claudeSession.setMode(id, body.mode, p, ctx.remote) };
  });

  route(app, 'post', '/api/v1/runs/:id/model', o.log, async (ctx) => {
    const p = o.who(ctx);
    const id = runId(ctx);
    const body = parseJson(await ctx.body(o.maxBodyBytes), SetModelRequest);
    return { status: 202, json: await o.claudeSession.setModel(id, body.model, p, ctx.remote) };
  });

  route(app, 'post', '/api/v1/runs/:id/interrupt', o.log, async (ctx) => {
    const p = o.who(ctx);
    const id = runId(ctx);
    await ctx.body(o.maxBodyBytes);
    return { status: 202, json: await o.claudeSession.interrupt(id, p, ctx.remote) };
  });
}

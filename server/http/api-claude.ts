import type { TemplatedApp } from 'uWebSockets.js';
import { AnswerApprovalRequest, InputRequest, ResizeRequest } from '../../protocol/claude-control.js';
import { APPROVAL_ID_RE } from '../../protocol/claude-events.js';
import { CcgError } from '../../protocol/errors.js';
import { STREAM_EVENT } from '../../protocol/frames.js';
import { itemsOfChunk } from '../../protocol/timeline.js';
import { requireRole, type Principal } from '../auth/operator-auth.js';
import type { ApprovalService } from '../core/approvals.js';
import type { SteeringService } from '../core/steering.js';
import type { Logger } from '../log.js';
import type { RunService } from '../core/runs.js';
import type { RunStore } from '../store/types.js';
import { parseJson, route, type Ctx } from '../respond.js';
import { fromParam, runIdParam, streamStoredChunks } from './stored-stream.js';

export interface ClaudeApiOptions {
  runs: RunService;
  store: RunStore;
  approvals: ApprovalService;
  steering: SteeringService;
  log: Logger;
  who: (ctx: Ctx) => Principal;
  maxBodyBytes: number;
}

/**
 * Claude runs over HTTP: the timeline as JSON lines, approvals (list, answer), follow-up input
 * and terminal size. The same actions exist on the operator socket.
 */
export function mountClaudeApi(app: TemplatedApp, o: ClaudeApiOptions): void {
  const runId = (ctx: Ctx) => {
    const id = runIdParam(ctx);
    o.runs.mustGet(id);
    return id;
  };

  route(app, 'get', '/api/v1/runs/:id/approvals', o.log, (ctx) => {
    o.who(ctx);
    const id = runId(ctx);
    const all = new URLSearchParams(ctx.query).get('all');
    return { status: 200, json: { approvals: o.approvals.list(id, { all: all === '1' || all === 'true' }) } };
  });

  route(app, 'post', '/api/v1/runs/:id/approvals/:approval', o.log, async (ctx) => {
    const p = o.who(ctx);
    requireRole(p, 'operator');
    const id = runId(ctx);
    const approvalId = ctx.params[1] ?? '';
    if (!APPROVAL_ID_RE.test(approvalId)) throw new CcgError('ERR_APPROVAL_NOT_FOUND', `no approval ${approvalId.slice(0, 64)}`);
    const body = parseJson(await ctx.body(o.maxBodyBytes), AnswerApprovalRequest);
    const approval = await o.approvals.answer(id, approvalId, body, p, ctx.remote);
    return { status: 200, json: { approval } };
  });

  route(app, 'post', '/api/v1/runs/:id/input', o.log, async (ctx) => {
    const p = o.who(ctx);
    const id = runId(ctx);
    const body = parseJson(await ctx.body(o.maxBodyBytes), InputRequest);
    return { status: 202, json: await o.steering.input(id, body, p, ctx.remote) };
  });

  route(app, 'post', '/api/v1/runs/:id/resize', o.log, async (ctx) => {
    const p = o.who(ctx);
    const id = runId(ctx);
    const body = parseJson(await ctx.body(o.maxBodyBytes), ResizeRequest);
    o.steering.resize(id, body.cols, body.rows, p);
    return { status: 202, json: { ok: true } };
  });

  // The timeline: every runner event from `from` on, one JSON object per line
  // ({"seq","time","type",…}), streamed with backpressure like the log.
  route(app, 'get', '/api/v1/runs/:id/events', o.log, async (ctx) => {
    o.who(ctx);
    const id = runId(ctx);
    const run = o.runs.mustGet(id);
    const from = fromParam(new URLSearchParams(ctx.query));
    const until = await o.runs.latestSeq(id); // after the status (see api-runs.ts /log)
    return streamStoredChunks(ctx, o.store, {
      runId: id, from, until, status: run.status, contentType: 'application/x-ndjson; charset=utf-8',
      emit: (c, write) => {
        if (c.stream !== STREAM_EVENT) return;
        for (const item of itemsOfChunk(c)) write(JSON.stringify({ seq: item.seq, time: item.time, ...item.event }) + '\n');
      },
    });
  });
}

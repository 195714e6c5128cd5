import type { TemplatedApp } from 'uWebSockets.js';
import { CreateRunRequest, ListRunsQuery, type CreateRunResponse } from '../../protocol/api.js';
import { CcgError } from '../../protocol/errors.js';
import { CHILD_STREAMS } from '../../protocol/frames.js';
import { authenticateBearer, requireRole, type Principal } from '../auth/operator-auth.js';
import { runnerCommand } from '../core/requests.js';
import type { Services } from '../core/services.js';
import { parseJson, route, type Ctx } from '../respond.js';
import { mountArtifactsApi } from './api-artifacts.js';
import { mountAssistApi } from './api-assist.js';
import { mountChunksApi } from './api-chunks.js';
import { mountClaudeSteerApi } from './api-claude-steer.js';
import { mountClaudeApi } from './api-claude.js';
import { mountCommandsApi } from './api-commands.js';
import { mountPolicyApi } from './api-policy.js';
import { mountPushApi } from './api-push.js';
import { fromParam, runIdParam, streamStoredChunks } from './stored-stream.js';

export interface ApiOptions {
  /** How runners reach this gateway, for the command line shown after creating a run. */
  runnerUrl: (hostHeader: string | undefined) => string;
  fingerprint: string | null;
  maxBodyBytes: number;
  sessionPrincipal?: (headers: Record<string, string>) => Principal | undefined;
}

/** The operator HTTP API under /api/v1. */
export function mountRunsApi(app: TemplatedApp, s: Services, o: ApiOptions): void {
  const who = (ctx: Ctx): Principal => o.sessionPrincipal?.(ctx.headers) ?? authenticateBearer(s.store, ctx.headers);
  const actor = (ctx: Ctx) => ({ principal: who(ctx), from: ctx.remote });
  const { log } = s;
  mountPolicyApi(app, { policy: s.policy, store: s.store, log, who });
  mountChunksApi(app, { runs: s.runs, store: s.store, log, who });
  // `time` lets runners and `ccg doctor` see clock skew before signatures go stale. Public: the
  // store's state only (whether it takes writes, and its kind); what it says about itself (a
  // data directory, NATS addresses) is for signed-in users, at /api/v1/health.
  const storeState = () => {
    const h = s.store.health();
    return { ok: h.ok, kind: h.kind };
  };
  // Liveness: the gateway answers (reads, pages) even while its store refuses writes.
  route(app, 'get', '/healthz', log, () => ({ status: 200, json: { ok: true, time: s.now(), store: storeState() } }));
  // Readiness, for a load balancer's health check: 503 while the store takes no writes (a full
  // disk; a cluster node cut off from NATS or its quorum), so runners are sent to another node.
  route(app, 'get', '/readyz', log, () => {
    const store = storeState();
    return { status: store.ok ? 200 : 503, json: { ok: store.ok, time: s.now(), store } };
  });
  route(app, 'get', '/api/v1/health', log, (ctx) => {
    who(ctx);
    return { status: 200, json: { time: s.now(), store: s.store.health() } };
  });
  mountCommandsApi(app, { runs: s.runs, requests: s.requests, log, who, maxBodyBytes: o.maxBodyBytes });
  mountArtifactsApi(app, { runs: s.runs, store: s.store, artifacts: s.artifacts, requests: s.requests, log, who, now: s.now });
  mountAssistApi(app, { runs: s.runs, requests: s.requests, log, who, maxBodyBytes: o.maxBodyBytes });
  mountClaudeApi(app, { runs: s.runs, store: s.store, approvals: s.approvals, steering: s.steering, log, who, maxBodyBytes: o.maxBodyBytes });
  mountClaudeSteerApi(app, { runs: s.runs, approvals: s.approvals, claudeSession: s.claudeSession, log, who, maxBodyBytes: o.maxBodyBytes });
  mountPushApi(app, { push: s.push, log, who, maxBodyBytes: o.maxBodyBytes, baseUrl: () => o.runnerUrl(undefined) });

  route(app, 'post', '/api/v1/runs', log, async (ctx) => {
    const a = actor(ctx);
    requireRole(a.principal, 'operator');
    const body = parseJson(await ctx.body(o.maxBodyBytes), CreateRunRequest);
    const { run, token } = await s.requests.createRun(a, body.name, { maxBudgetUsd: body.maxBudgetUsd });
    const out: CreateRunResponse = {
      id: run.id,
      token,
      runnerCommand: runnerCommand({ url: o.runnerUrl(ctx.headers['host']), runId: run.id, token, fingerprint: o.fingerprint }),
      run: s.runs.summary(run),
    };
    return { status: 201, json: out };
  });

  route(app, 'get', '/api/v1/runs', log, (ctx) => {
    who(ctx);
    const q = ListRunsQuery.safeParse(Object.fromEntries(new URLSearchParams(ctx.query)));
    if (!q.success) throw new CcgError('ERR_BAD_REQUEST', q.error.issues[0]?.message ?? 'bad query');
    return { status: 200, json: { runs: s.runs.list({ limit: q.data.limit, ...(q.data.status ? { status: q.data.status } : {}) }) } };
  });

  route(app, 'get', '/api/v1/runs/:id', log, (ctx) => {
    who(ctx);
    return { status: 200, json: { run: s.runs.summary(s.runs.mustGet(runIdParam(ctx))) } };
  });

  route(app, 'post', '/api/v1/runs/:id/cancel', log, async (ctx) => {
    const a = actor(ctx);
    const { run, delivered } = await s.requests.cancelRun(a, runIdParam(ctx));
    return { status: 202, json: { run: s.runs.summary(run), delivered } };
  });

  // Cuts a runner off for good: its socket closes now and its token is refused from then on.
  route(app, 'post', '/api/v1/runs/:id/revoke', log, async (ctx) => {
    const a = actor(ctx);
    const { run, connected } = await s.requests.revokeRun(a, runIdParam(ctx));
    return { status: 200, json: { run: s.runs.summary(run), connected } };
  });

  route(app, 'get', '/api/v1/audit', log, (ctx) => {
    requireRole(who(ctx), 'admin');
    return { status: 200, json: { entries: s.store.listAudit({ limit: 200 }) } };
  });

  // The stored output, byte for byte, streamed with backpressure (runs can be gigabytes).
  route(app, 'get', '/api/v1/runs/:id/log', log, async (ctx) => {
    who(ctx);
    const id = runIdParam(ctx);
    const run = s.runs.mustGet(id);
    const query = new URLSearchParams(ctx.query);
    const from = fromParam(query);
    // By default the child's own output only: exactly what it wrote, nothing of ccg's.
    const allStreams = query.get('streams') === 'all';
    // The status first: a final status then means `until` is the whole output.
    const until = await s.runs.latestSeq(id);
    return streamStoredChunks(ctx, s.store, {
      runId: id, from, until, status: run.status, contentType: 'application/octet-stream',
      emit: (c, write) => {
        if (allStreams || CHILD_STREAMS.has(c.stream)) write(c.data);
      },
    });
  });
}

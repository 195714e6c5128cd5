import type { TemplatedApp } from 'uWebSockets.js';
import { CreateRunRequest, ListRunsQuery, type CreateRunResponse } from '../../protocol/api.js';
import { CcgError } from '../../protocol/errors.js';
import { RUN_ID_RE } from '../../protocol/ids.js';
import { authenticateBearer, requireRole, type Principal } from '../auth/operator-auth.js';
import { CHILD_STREAMS } from '../../protocol/frames.js';
import { mountChunksApi } from './api-chunks.js';
import { mountCommandsApi } from './api-commands.js';
import { mountPolicyApi } from './api-policy.js';
import type { PolicyService } from '../core/policy.js';
import { mountArtifactsApi } from './api-artifacts.js';
import { mountAssistApi } from './api-assist.js';
import type { ArtifactService } from '../core/artifacts.js';
import type { AssistService } from '../core/assist.js';
import { mountClaudeApi } from './api-claude.js';
import { mountPushApi } from './api-push.js';
import type { ClaudeWiring } from '../claude/wire.js';
import type { Logger } from '../log.js';
import type { RunService } from '../core/runs.js';
import type { AuthStore, RunStore } from '../store/types.js';
import { parseJson, route, type Ctx } from '../respond.js';
import { fromParam, streamStoredChunks } from './stored-stream.js';

export interface ApiOptions {
  runs: RunService;
  store: RunStore & AuthStore;
  log: Logger;
  /** How runners reach this gateway, for the command line shown after creating a run. */
  runnerUrl: (hostHeader: string | undefined) => string;
  fingerprint: string | null;
  maxBodyBytes: number;
  policy: PolicyService;
  sessionPrincipal?: (headers: Record<string, string>) => Principal | undefined;
  artifacts: ArtifactService;
  assist: AssistService;
  now: () => number;
  /** Approvals, input, timeline and push subscriptions (api-claude.ts, api-push.ts). */
  claude?: ClaudeWiring;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command to paste on the Claude machine; the token goes through the environment, not argv. */
export function runnerCommand(opts: { url: string; runId: string; token: string; fingerprint: string | null }): string {
  const parts = [`CCG_RUN_TOKEN=${shellQuote(opts.token)}`, 'ccg', 'runner', 'start', '--gateway', shellQuote(opts.url)];
  if (opts.fingerprint) parts.push('--fingerprint', opts.fingerprint);
  parts.push('--run-id', opts.runId, '--cmd', shellQuote('your prompt'));
  return parts.join(' ');
}

/** The operator HTTP API under /api/v1. */
export function mountRunsApi(app: TemplatedApp, o: ApiOptions): void {
  const who = (ctx: Ctx): Principal => o.sessionPrincipal?.(ctx.headers) ?? authenticateBearer(o.store, ctx.headers);
  const runIdParam = (ctx: Ctx): string => {
    const id = ctx.params[0] ?? '';
    if (!RUN_ID_RE.test(id)) throw new CcgError('ERR_RUN_NOT_FOUND', `no run with id ${id.slice(0, 40)}`);
    return id;
  };
  const audit = (p: Principal, ctx: Ctx, action: string, target: string | null, detail?: Record<string, string | number | boolean | null>) =>
    o.store.appendAudit({ at: Date.now(), actor: p.name, action, target, from: ctx.remote, ...(detail ? { detail } : {}) });

  mountPolicyApi(app, { policy: o.policy, store: o.store, log: o.log, who });
  mountChunksApi(app, { runs: o.runs, store: o.store, log: o.log, who });
  // `time` lets runners and `ccg doctor` see clock skew before signatures go stale.
  route(app, 'get', '/healthz', o.log, () => ({ status: 200, json: { ok: true, time: o.now() } }));
  mountCommandsApi(app, { runs: o.runs, store: o.store, log: o.log, who, policy: o.policy, maxBodyBytes: o.maxBodyBytes });
  mountArtifactsApi(app, { runs: o.runs, store: o.store, artifacts: o.artifacts, log: o.log, who, now: o.now });
  mountAssistApi(app, { runs: o.runs, store: o.store, assist: o.assist, log: o.log, who, maxBodyBytes: o.maxBodyBytes });
  if (o.claude) {
    mountClaudeApi(app, { runs: o.runs, store: o.store, approvals: o.claude.approvals, steering: o.claude.steering, log: o.log, who, maxBodyBytes: o.maxBodyBytes });
    mountPushApi(app, { push: o.claude.push, log: o.log, who, maxBodyBytes: o.maxBodyBytes, baseUrl: () => o.runnerUrl(undefined) });
  }

  route(app, 'post', '/api/v1/runs', o.log, async (ctx) => {
    const p = who(ctx);
    requireRole(p, 'operator');
    const body = parseJson(await ctx.body(o.maxBodyBytes), CreateRunRequest);
    const { run, token } = await o.runs.create(body.name, p.name);
    await audit(p, ctx, 'run.create', run.id, { name: run.name });
    const out: CreateRunResponse = {
      id: run.id,
      token,
      runnerCommand: runnerCommand({ url: o.runnerUrl(ctx.headers['host']), runId: run.id, token, fingerprint: o.fingerprint }),
      run: o.runs.summary(run),
    };
    return { status: 201, json: out };
  });

  route(app, 'get', '/api/v1/runs', o.log, (ctx) => {
    who(ctx);
    const q = ListRunsQuery.safeParse(Object.fromEntries(new URLSearchParams(ctx.query)));
    if (!q.success) throw new CcgError('ERR_BAD_REQUEST', q.error.issues[0]?.message ?? 'bad query');
    return { status: 200, json: { runs: o.runs.list({ limit: q.data.limit, ...(q.data.status ? { status: q.data.status } : {}) }) } };
  });

  route(app, 'get', '/api/v1/runs/:id', o.log, (ctx) => {
    who(ctx);
    return { status: 200, json: { run: o.runs.summary(o.runs.mustGet(runIdParam(ctx))) } };
  });

  route(app, 'post', '/api/v1/runs/:id/cancel', o.log, async (ctx) => {
    const p = who(ctx);
    requireRole(p, 'operator');
    const id = runIdParam(ctx);
    const { run, delivered } = await o.runs.cancel(id, p.name);
    await audit(p, ctx, 'run.cancel', id, { delivered });
    return { status: 202, json: { run: o.runs.summary(run), delivered } };
  });

  route(app, 'get', '/api/v1/audit', o.log, (ctx) => {
    requireRole(who(ctx), 'admin');
    return { status: 200, json: { entries: o.store.listAudit({ limit: 200 }) } };
  });

  // The stored output, byte for byte, streamed with backpressure (runs can be gigabytes).
  route(app, 'get', '/api/v1/runs/:id/log', o.log, (ctx) => {
    who(ctx);
    const id = runIdParam(ctx);
    const run = o.runs.mustGet(id);
    const query = new URLSearchParams(ctx.query);
    const from = fromParam(query);
    // By default the child's own output only: exactly what it wrote, nothing of ccg's.
    const allStreams = query.get('streams') === 'all';
    return streamStoredChunks(ctx, o.store, {
      runId: id, from, until: o.runs.committedSeq(id), status: run.status, contentType: 'application/octet-stream',
      emit: (c, write) => {
        if (allStreams || CHILD_STREAMS.has(c.stream)) write(c.data);
      },
    });
  });
}

import type { TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../../protocol/errors.js';
import { PolicyUpdate, type PolicyResponse } from '../../protocol/policy.js';
import { requireRole, type Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { PolicyService } from '../core/policy.js';
import type { AuthStore } from '../store/types.js';
import { parseJson, route, type Ctx } from '../respond.js';

export interface PolicyApiOptions {
  policy: PolicyService;
  store: AuthStore;
  log: Logger;
  who: (ctx: Ctx) => Principal;
}

/** A policy is small; anything near this is not a policy. */
const MAX_POLICY_BODY = 64 * 1024;

/** `GET/PUT /api/v1/policy`: the command policy, admins only; every change and refusal is audited. */
export function mountPolicyApi(app: TemplatedApp, o: PolicyApiOptions): void {
  const admin = async (ctx: Ctx, action: 'read' | 'update'): Promise<Principal> => {
    const p = o.who(ctx);
    try {
      requireRole(p, 'admin');
    } catch (err) {
      if (action === 'update') {
        await o.store.appendAudit({ at: Date.now(), actor: p.name, action: 'policy.denied', target: null, from: ctx.remote, detail: { role: p.role } });
      }
      throw err;
    }
    return p;
  };

  route(app, 'get', '/api/v1/policy', o.log, async (ctx) => {
    await admin(ctx, 'read');
    const out: PolicyResponse = { policy: o.policy.get() };
    return { status: 200, json: out };
  });

  route(app, 'put', '/api/v1/policy', o.log, async (ctx) => {
    const p = await admin(ctx, 'update');
    if (ctx.aborted()) throw new CcgError('ERR_BAD_REQUEST', 'client went away');
    const body = parseJson(await ctx.body(MAX_POLICY_BODY), PolicyUpdate);
    const policy = await o.policy.set(body, p.name);
    await o.store.appendAudit({
      at: Date.now(), actor: p.name, action: 'policy.update', target: null, from: ctx.remote,
      detail: { version: policy.version, default: policy.default.join(',') || 'none', commands: JSON.stringify(policy.commands).slice(0, 1000) },
    });
    o.log.info('policy.updated', { by: p.name, version: policy.version });
    const out: PolicyResponse = { policy };
    return { status: 200, json: out };
  });
}

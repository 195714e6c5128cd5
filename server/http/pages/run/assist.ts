import type { TemplatedApp } from 'uWebSockets.js';
import type { AssistInfo } from '../../../../protocol/assist.js';
import { CcgError } from '../../../../protocol/errors.js';
import { isFinal, type RunSummary } from '../../../../protocol/run.js';
import { canOperate, type Principal } from '../../../auth/operator-auth.js';
import { fragment, pageRoute, redirect, runIdOf, type BrowserDeps, type PageCtx } from '../browser.js';
import type { RunSection } from '../run-sections.js';

function time(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString().slice(11, 16);
}

/**
 * What the assist partial shows. Links only for operators and admins, and every time they are put
 * on a page it is audited (`assist.show`), as reading them through the API is: a read-write link
 * is a shell on the runner's machine.
 */
function assistBody(d: BrowserDeps, run: RunSummary, viewer: Principal, from: string | null, extra: { refused?: string | null; problem?: string | null; asked?: string | null } = {}): Record<string, unknown> | null {
  if (!canOperate(viewer) || !run.runner?.assist) return null;
  // Audited by Requests.showAssist whenever the links are handed out (not awaited: pages render synchronously).
  const info: AssistInfo | null = d.powers.requests.showAssist({ principal: viewer, from, via: 'page' }, run.id).info;
  const active = info?.state === 'active' || info?.state === 'starting';
  const links = info?.state === 'active' ? info.links : null;
  const open = !isFinal(run.status) && run.runnerConnected;
  return {
    runId: run.id,
    maxMinutes: run.runner.assist.maxMinutes,
    state: info?.state ?? null,
    // When the gateway last heard of the session: the page never swaps an older body over a newer one.
    at: info?.updatedAt ?? 0,
    reason: info && !active ? info.reason : null,
    until: active ? time(info?.expiresAt ?? null) : null,
    links,
    canStart: open && !active,
    canStop: open && active,
    refused: null,
    problem: null,
    asked: null,
    ...extra,
  };
}

/**
 * Assist sessions (tmate), when the runner allows them (`--assist`): Start / Stop, and the ssh and
 * web links (read-write and read-only) with copy buttons. Operators and admins only: viewers get
 * no section at all, and their live streams never carry links. Live: `assist-body` when the
 * runner reports a change.
 */
export function assistSection(d: BrowserDeps): RunSection {
  return {
    id: 'assist',
    data: (c) => {
      const body = assistBody(d, c.run, c.viewer, c.from);
      return body ? { body } : null;
    },
    key: (run, viewer) => JSON.stringify([canOperate(viewer) && Boolean(run.runner?.assist), !isFinal(run.status) && run.runnerConnected]),
    live(c, send) {
      // Viewers' streams never hear of assist sessions: no links can reach them.
      if (!canOperate(c.viewer)) return null;
      const off = d.bus.on('assist', ({ runId: id, info }) => {
        if (id !== c.run.id) return;
        const run = d.runs.summary(d.runs.mustGet(id));
        const body = assistBody(d, run, c.viewer, null, info.state === 'refused' ? { refused: info.reason ?? 'no reason given' } : {});
        if (body) send({ event: 'assist-body', data: d.views.partial('run/assist-body', { ...body, csrf: c.csrf }) });
      }, { run: c.run.id });
      return { close: off };
    },
  };
}

const REFUSALS = ['ERR_RUNNER_AWAY', 'ERR_RUN_FINISHED', 'ERR_NOT_ENABLED'];

/** `POST /runs/:id/assist` with action=start|stop: operators and admins. */
export function mountAssistActions(app: TemplatedApp, d: BrowserDeps): void {
  pageRoute(app, d, 'post', '/runs/:id/assist', { auth: 'user', role: 'operator' }, async (pc: PageCtx) => {
    const id = runIdOf(pc);
    const f = await pc.form();
    const action = f.get('action');
    if (action !== 'start' && action !== 'stop') throw new CcgError('ERR_BAD_REQUEST', 'action must be start or stop');
    let problem: string | null = null;
    try {
      await d.powers.requests.assist({ principal: pc.principal!, from: pc.ip, via: 'page' }, id, action);
    } catch (err) {
      if (!(err instanceof CcgError) || !REFUSALS.includes(err.code) || !pc.htmx) throw err;
      problem = err.message.charAt(0).toUpperCase() + err.message.slice(1) + '.';
    }
    if (!pc.htmx) return redirect(pc, `/runs/${id}?notice=assist-${action}#run-assist`);
    const run = d.runs.summary(d.runs.mustGet(id));
    const body = assistBody(d, run, pc.principal!, pc.ip, { problem, asked: problem ? null : action === 'start' ? 'Asked the runner to start a session…' : 'Asked the runner to stop the session…' });
    return fragment(pc, 200, 'run/assist-body', { ...(body ?? {}), csrf: pc.csrf });
  });
}

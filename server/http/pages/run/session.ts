import type { TemplatedApp } from 'uWebSockets.js';
import { MODEL_RE, modeLabel, PermissionMode, PERMISSION_MODES } from '../../../../protocol/claude-steer.js';
import { CcgError } from '../../../../protocol/errors.js';
import { isFinal, type RunSummary } from '../../../../protocol/run.js';
import { canOperate, type Principal } from '../../../auth/operator-auth.js';
import type { SafeHtml } from '../../../render/html.js';
import { fragment, pageRoute, redirect, runIdOf, type BrowserDeps, type PageCtx } from '../browser.js';
import type { RunSection } from '../run-sections.js';
import type { ViewData } from '../../views.js';
import { isClaudeRun } from './timeline.js';

const MODE_HELP: Record<string, string> = {
  default: 'Ask before edits',
  acceptEdits: 'Allow all edits',
  plan: 'Plan only',
  bypassPermissions: 'Bypass permissions',
};

/** What the session box shows: Claude's mode and model, and (operators, active run) the switches and Stop this turn. */
async function bodyData(d: BrowserDeps, run: RunSummary, viewer: Principal, csrf: string, extra: { notice?: string | null; problem?: string | null } = {}): Promise<ViewData> {
  const s = await d.powers.claudeSession.session(run.id);
  const active = !isFinal(run.status) && run.runner !== null;
  const operate = canOperate(viewer) && active;
  return {
    runId: run.id,
    csrf,
    mode: s.permissionMode,
    modeWords: modeLabel(s.permissionMode),
    model: s.model,
    operate,
    modes: operate ? s.modes.map((m) => ({ value: m, label: MODE_HELP[m] ?? m, current: m === s.permissionMode })) : [],
    modeOff: operate && !s.canSetMode,
    notice: extra.notice ?? null,
    problem: extra.problem ?? null,
  };
}

async function body(d: BrowserDeps, run: RunSummary, viewer: Principal, csrf: string): Promise<SafeHtml> {
  return d.views.partial('run/session-body', await bodyData(d, run, viewer, csrf));
}

/**
 * A Claude run's session: its permission mode and model wherever the run shows, and for
 * operators the mode buttons (default, acceptEdits, plan; bypassPermissions where the runner
 * allows it), a model switch and "Stop this turn". Changes arrive live (`session-state`) when
 * Claude reports them (`claude_init`, `claude_settings`).
 */
export function sessionSection(d: BrowserDeps): RunSection {
  return {
    id: 'session',
    async data(c) {
      if (!isClaudeRun(c.run) || c.run.runner?.pty) return null;
      return { body: await body(d, c.run, c.viewer, c.csrf) };
    },
    key: (run, viewer) => `${isClaudeRun(run)}:${isFinal(run.status)}:${run.runner !== null}:${canOperate(viewer)}`,
    live(c, send) {
      if (!isClaudeRun(c.run) || c.run.runner?.pty) return null;
      let run = c.run;
      return {
        onRun: (r) => void (run = r),
        onChunk(chunk) {
          if (chunk.items.some((i) => i.event.type === 'claude_settings' || i.event.type === 'claude_init')) {
            // The page may hear of the chunk before the session service does (bus order): apply it first; applying twice changes nothing.
            d.powers.claudeSession.onEvents(run.id, chunk.items.map((i) => i.event));
            // The state may be read back from the store first (a run this gateway did not see start).
            void body(d, run, c.viewer, c.csrf).then((html) => send({ event: 'session-state', data: html }), () => undefined);
          }
        },
      };
    },
  };
}

const SHOWN = ['ERR_RUNNER_AWAY', 'ERR_RUN_FINISHED', 'ERR_NOT_ENABLED', 'ERR_INPUT_UNSUPPORTED', 'ERR_BAD_REQUEST'];

async function control(pc: PageCtx, act: (f: URLSearchParams, id: string) => Promise<string>): Promise<ReturnType<typeof redirect>> {
  const d = pc.d;
  const id = runIdOf(pc);
  d.runs.mustGet(id);
  const f = await pc.form();
  let notice: string | null = null;
  let problem: string | null = null;
  try {
    notice = await act(f, id);
  } catch (err) {
    if (!(err instanceof CcgError) || !SHOWN.includes(err.code) || !pc.htmx) throw err;
    problem = err.message.charAt(0).toUpperCase() + err.message.slice(1) + '.';
  }
  if (!pc.htmx) return redirect(pc, `/runs/${id}#run-session`);
  return fragment(pc, 200, 'run/session-body', await bodyData(d, d.runs.summary(d.runs.mustGet(id)), pc.principal!, pc.csrf, { notice, problem }));
}

/** `POST /runs/:id/mode`, `/runs/:id/model`, `/runs/:id/interrupt`: operators and admins, through ClaudeSessionService. */
export function mountSessionActions(app: TemplatedApp, d: BrowserDeps): void {
  pageRoute(app, d, 'post', '/runs/:id/mode', { auth: 'user', role: 'operator' }, (pc) =>
    control(pc, async (f, id) => {
      const mode = PermissionMode.safeParse(f.get('mode'));
      if (!mode.success) throw new CcgError('ERR_BAD_REQUEST', `pick a mode: ${PERMISSION_MODES.join(', ')}`);
      await d.powers.claudeSession.setMode(id, mode.data, pc.principal!, pc.ip);
      return `Asked Claude to switch to “${MODE_HELP[mode.data]}”.`;
    }),
  );
  pageRoute(app, d, 'post', '/runs/:id/model', { auth: 'user', role: 'operator' }, (pc) =>
    control(pc, async (f, id) => {
      const model = (f.get('model') ?? '').trim();
      if (!MODEL_RE.test(model)) throw new CcgError('ERR_BAD_REQUEST', 'type a model name, e.g. sonnet or opus');
      await d.powers.claudeSession.setModel(id, model, pc.principal!, pc.ip);
      return `Asked Claude to switch to ${model}.`;
    }),
  );
  pageRoute(app, d, 'post', '/runs/:id/interrupt', { auth: 'user', role: 'operator' }, (pc) =>
    control(pc, async (_f, id) => {
      await d.powers.claudeSession.interrupt(id, pc.principal!, pc.ip);
      return 'Asked Claude to stop this turn. It waits for your next message.';
    }),
  );
}

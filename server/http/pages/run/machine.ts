import type { TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../../../../protocol/errors.js';
import { ContinueRunRequest, MAX_PROMPT } from '../../../../protocol/machine.js';
import { isFinal, type RunSummary } from '../../../../protocol/run.js';
import { canOperate, type Principal } from '../../../auth/operator-auth.js';
import { html, pageRoute, redirect, runIdOf, type BrowserDeps } from '../browser.js';
import type { RunSection } from '../run-sections.js';

function machineData(run: RunSummary, viewer: Principal, extra: { problem?: string | null; prompt?: string } = {}): Record<string, unknown> | null {
  const o = run.origin;
  if (!o) return null;
  // Continue: a finished Claude run a machine started, not continued yet, for operators.
  const canContinue = canOperate(viewer) && isFinal(run.status) && o.next === null && o.start !== 'refused' && run.runner?.mode === 'claude';
  return { origin: o, runId: run.id, canContinue, promptMax: MAX_PROMPT, problem: null, prompt: '', ...extra };
}

/**
 * The run's machine: where it runs (machine, workspace, mode), the runs before and after it
 * (Continue's links), and for a finished Claude run the Continue box, which starts a new run on
 * the same machine and workspace resuming Claude's session.
 */
export function machineSection(_d: BrowserDeps): RunSection {
  return {
    id: 'machine',
    data: (c) => machineData(c.run, c.viewer),
    key: (run, viewer) => `${isFinal(run.status)}:${run.origin?.next ?? ''}:${run.origin?.start ?? ''}:${run.runner?.mode ?? ''}:${canOperate(viewer)}`,
  };
}

/** `POST /runs/:id/continue`: the Continue box (operators). */
export function mountMachineActions(app: TemplatedApp, d: BrowserDeps): void {
  pageRoute(app, d, 'post', '/runs/:id/continue', { auth: 'user', role: 'operator' }, async (pc) => {
    const id = runIdOf(pc);
    const f = await pc.form();
    const prompt = (f.get('prompt') ?? '').slice(0, MAX_PROMPT);
    const parsed = ContinueRunRequest.safeParse({ prompt });
    let problem: string;
    if (parsed.success) {
      try {
        const { run } = await d.powers.machines.continueRun({ principal: pc.principal!, from: pc.ip, via: 'page' }, id, parsed.data.prompt);
        return redirect(pc, `/runs/${run.id}`);
      } catch (err) {
        if (!(err instanceof CcgError) || !['ERR_MACHINE_REFUSED', 'ERR_MACHINE_OFFLINE', 'ERR_CONFLICT', 'ERR_BAD_REQUEST'].includes(err.code)) throw err;
        problem = err.message;
      }
    } else problem = parsed.error.issues[0]?.message ?? 'bad request';
    const run = d.runs.summary(d.runs.mustGet(id));
    return html(pc, 409, 'continue-problem', 'Could not continue', { runId: id, problem, data: machineData(run, pc.principal!, { problem, prompt }) }, { nav: 'runs' });
  });
}

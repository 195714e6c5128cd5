import type { TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../../../protocol/errors.js';
import { MACHINE_NAME_RE, MAX_PROMPT, StartRunRequest, type MachineSummary } from '../../../protocol/machine.js';
import { atLeast } from '../../../protocol/roles.js';
import { machineCommand } from '../api-machines.js';
import { singleFileCommands } from '../runner-file.js';
import { qrDataUrl } from '../../render/qr.js';
import { runView } from '../../render/run-view.js';
import { html, pageRoute, redirect, type BrowserDeps, type PageCtx } from './browser.js';
import { notice } from './notices.js';
import { OnceForms } from './once-forms.js';

function nameOf(pc: PageCtx): string {
  const name = pc.ctx.params[0] ?? '';
  if (!MACHINE_NAME_RE.test(name)) throw new CcgError('ERR_MACHINE_NOT_FOUND', 'There is no machine with that name.');
  return name;
}

/** A machine as the pages show it: its state in words, its workspaces, its runs. */
function machineView(m: MachineSummary): Record<string, unknown> {
  const seen = m.lastSeenAt ? new Date(m.lastSeenAt).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : null;
  const state = m.revokedAt !== null ? 'revoked' : m.online ? 'online' : 'offline';
  return { ...m, state, seen, running: m.info?.running.length ?? 0, workspaceNames: m.info?.workspaces.map((w) => w.name).join(', ') ?? '' };
}

function detailData(d: BrowserDeps, pc: PageCtx, name: string, once: string, form: { workspace?: string; prompt?: string; mode?: string; error?: string | null } = {}): Record<string, unknown> {
  const m = d.powers.machines.summary(d.powers.machines.mustGet(name));
  const now = d.now();
  const runs = d.powers.machines.runsOf(name).slice(0, 20).map((r) => runView(r, now));
  const claudeWorkspaces = (m.info?.workspaces ?? []).filter((w) => w.claude);
  const modes = [...new Set(claudeWorkspaces.flatMap((w) => w.modes))];
  return {
    machine: machineView(m),
    runs,
    running: runs.filter((r) => (m.info?.running ?? []).includes(r.id)),
    canStart: atLeast(pc.principal?.role, 'operator') && m.online && m.revokedAt === null && claudeWorkspaces.length > 0,
    isAdmin: atLeast(pc.principal?.role, 'admin'),
    workspaces: claudeWorkspaces,
    modes: modes.length ? modes : ['default'],
    promptMax: MAX_PROMPT,
    once,
    form: { workspace: form.workspace ?? claudeWorkspaces[0]?.name ?? '', prompt: form.prompt ?? '', mode: form.mode ?? 'default', error: form.error ?? null },
  };
}

/**
 * The machines pages: the list (online, last seen, host, version, workspaces, running runs) for
 * everyone signed in; New run on a machine for operators; Add machine (the command and its QR
 * code, the token shown once) and Revoke for admins. Continue a run lives on the run page.
 */
export function mountMachinesPages(app: TemplatedApp, d: BrowserDeps): void {
  // A double tap on Start Claude started two Claudes on the machine: each form starts one run.
  const starts = new OnceForms<string>(d.now);
  pageRoute(app, d, 'get', '/machines', { auth: 'user' }, (pc) => {
    const machines = d.powers.machines.list().map((m) => machineView(m));
    return html(pc, 200, 'machines', 'Machines', { machines, isAdmin: atLeast(pc.principal?.role, 'admin'), error: null, name: '' }, { nav: 'machines', notice: notice(pc.ctx.query) });
  });

  pageRoute(app, d, 'post', '/machines', { auth: 'user', role: 'admin' }, async (pc) => {
    const name = ((await pc.form()).get('name') ?? '').trim().toLowerCase();
    if (!MACHINE_NAME_RE.test(name)) {
      const machines = d.powers.machines.list().map((m) => machineView(m));
      return html(pc, 400, 'machines', 'Machines', { machines, isAdmin: true, error: 'A machine name is 1-32 of a-z, 0-9 and -, starting with a letter.', name: name.slice(0, 40) }, { nav: 'machines' });
    }
    const { machine, token } = await d.powers.machines.add({ principal: pc.principal!, from: pc.ip, via: 'page' }, name);
    const command = machineCommand({ url: d.runnerUrl(pc.ctx.headers['host']), fingerprint: d.fingerprint, name: machine.name, token });
    // The token is on this response only: never cached, never shown again.
    const url = d.runnerUrl(pc.ctx.headers['host']);
    const single = d.runnerSha256 ? { sha256: d.runnerSha256, commands: singleFileCommands({ url, fingerprint: d.fingerprint, sha256: d.runnerSha256, name: machine.name, token }) } : null;
    return html(pc, 201, 'machine-added', 'Machine added', { name: machine.name, token, command, qr: await qrDataUrl(command), single }, { nav: 'machines' });
  });

  pageRoute(app, d, 'get', '/machines/:name', { auth: 'user' }, (pc) => {
    const name = nameOf(pc);
    return html(pc, 200, 'machine', name, detailData(d, pc, name, starts.issue()), { nav: 'machines', notice: notice(pc.ctx.query) });
  });

  pageRoute(app, d, 'post', '/machines/:name/revoke', { auth: 'user', role: 'admin' }, async (pc) => {
    const name = nameOf(pc);
    await d.powers.machines.revoke({ principal: pc.principal!, from: pc.ip, via: 'page' }, name);
    return redirect(pc, `/machines/${name}?notice=machine-revoked`);
  });

  pageRoute(app, d, 'post', '/machines/:name/runs', { auth: 'user', role: 'operator' }, async (pc) => {
    const name = nameOf(pc);
    const f = await pc.form();
    const form = { workspace: f.get('workspace') ?? '', prompt: (f.get('prompt') ?? '').slice(0, MAX_PROMPT), mode: f.get('mode') ?? 'default' };
    const parsed = StartRunRequest.safeParse({ workspace: form.workspace, prompt: form.prompt, ...(form.mode && form.mode !== 'default' ? { mode: form.mode } : {}) });
    if (!parsed.success) return html(pc, 400, 'machine', name, detailData(d, pc, name, starts.issue(), { ...form, error: parsed.error.issues[0]?.message ?? 'bad request' }), { nav: 'machines' });
    try {
      const runId = await starts.run(pc.session!.hash, f.get('_once'), `start\0${name}\0${form.workspace}\0${form.mode}\0${form.prompt}`, async () => (await d.powers.machines.start({ principal: pc.principal!, from: pc.ip, via: 'page' }, name, parsed.data)).run.id);
      return redirect(pc, `/runs/${runId}`);
    } catch (err) {
      if (!(err instanceof CcgError) || !['ERR_MACHINE_REFUSED', 'ERR_MACHINE_OFFLINE'].includes(err.code)) throw err;
      return html(pc, 409, 'machine', name, detailData(d, pc, name, starts.issue(), { ...form, error: err.message }), { nav: 'machines' });
    }
  });
}

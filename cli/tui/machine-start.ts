import type { MachineSummary, PermissionMode, StartRunRequest } from '../../protocol/machine.js';
import type { TuiApi } from './api.js';
import type { KeyContext } from './keymap.js';
import { clean } from './theme.js';

/** Machines Claude can be started on now: online, not revoked, with a workspace that allows Claude. */
export function startable(machines: readonly MachineSummary[]): MachineSummary[] {
  return machines.filter((m) => m.online && m.revokedAt === null && (m.info?.workspaces ?? []).some((w) => w.claude));
}

/**
 * Starts Claude on a machine from the console, asking in the input line: the workspace (when it
 * has several), the prompt, the permission mode (when it allows several). The machine checks
 * everything again; its refusal is shown as it said it.
 */
export function startClaudeOn(ctx: Pick<KeyContext, 'prompt' | 'notify'>, api: TuiApi, m: MachineSummary, started: (runId: string) => void = () => undefined): void {
  const workspaces = (m.info?.workspaces ?? []).filter((w) => w.claude);
  const go = (workspace: string, prompt: string, mode: string) => {
    const body: StartRunRequest = { workspace, prompt, ...(mode && mode !== 'default' ? { mode: mode as PermissionMode } : {}) };
    ctx.notify(`starting Claude on ${m.name}…`);
    api
      .startOnMachine!(m.name, body)
      .then((r) => {
        ctx.notify(r.state === 'started' ? `run ${r.id} started on ${m.name}` : `run ${r.id} handed to ${m.name}; it has not answered yet`);
        started(r.id);
      })
      .catch((err: Error) => ctx.notify(`could not start on ${m.name}: ${err.message}`, 'error'));
  };
  const askMode = (workspace: string, prompt: string) => {
    const modes = workspaces.find((w) => w.name === workspace)?.modes ?? [];
    if (modes.length <= 1) return go(workspace, prompt, modes[0] ?? '');
    ctx.prompt({
      label: `Permission mode (${modes.join(', ')}):`,
      initial: modes.includes('default') ? 'default' : modes[0]!,
      onSubmit: (v) => {
        const mode = v.trim();
        if (!modes.includes(mode as PermissionMode)) return ctx.notify(`${clean(mode, 30)} is not one of ${modes.join(', ')}`, 'error');
        go(workspace, prompt, mode);
      },
    });
  };
  const askPrompt = (workspace: string) =>
    ctx.prompt({
      label: `Prompt for Claude on ${m.name}/${workspace}:`,
      onSubmit: (v) => (v.trim() ? askMode(workspace, v.trim()) : ctx.notify('an empty prompt starts nothing', 'error')),
    });
  if (workspaces.length === 0) return ctx.notify(`${m.name} has no workspace where Claude may be started`, 'error');
  if (workspaces.length === 1) return askPrompt(workspaces[0]!.name);
  ctx.prompt({
    label: `Workspace on ${m.name} (${workspaces.map((w) => w.name).join(', ')}):`,
    initial: workspaces[0]!.name,
    onSubmit: (v) => {
      const w = workspaces.find((x) => x.name === v.trim());
      if (!w) return ctx.notify(`${m.name} has no workspace ${clean(v.trim(), 32)} for Claude`, 'error');
      askPrompt(w.name);
    },
  });
}

import { Box, Text } from 'ink';
import { useEffect, useLayoutEffect, useState } from 'react';
import type { SessionResponse } from '../../../protocol/claude-control.js';
import { MODEL_RE, modeLabel, type PermissionMode } from '../../../protocol/claude-steer.js';
import { atLeast } from '../../../protocol/roles.js';
import { ESC_BACK, usePanelHelp } from '../hooks/use-panel-help.js';
import type { PanelProps } from '../panels.js';
import { clean } from '../theme.js';

const KEYS: Record<string, PermissionMode> = { '1': 'default', '2': 'acceptEdits', '3': 'plan', '4': 'bypassPermissions' };

/**
 * `m`: a Claude session's permission mode and model. `1`–`4` switch the mode (bypassPermissions
 * only where the runner allows it), `M` switches the model, `S` stops the current turn (the
 * session stays open for the next prompt). Viewers see the mode and model only.
 */
export function SessionScreen({ ctx, api, close, keys, setHelp, height }: PanelProps) {
  const run = ctx.selectedRun;
  const runId = run?.id ?? null;
  const [session, setSession] = useState<SessionResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Claude confirms a switch in the run's events; the newest claude_settings event refreshes the view.
  const settingsSeen = ctx.live.settingsVersion ?? 0;
  useEffect(() => {
    if (!runId) return;
    let active = true;
    api
      .session(runId)
      .then((s) => active && (setSession(s), setError(null)))
      .catch((err: Error) => active && setError(err.message));
    return () => {
      active = false;
    };
  }, [api, runId, settingsSeen]);
  const mayOperate = atLeast(ctx.role, 'operator');

  useLayoutEffect(() => {
    keys.current = (name) => {
      if (name === 'escape' || name === 'q' || name === 'm') return close();
      if (!runId) return;
      if (!mayOperate && (KEYS[name] || name === 'M' || name === 'S')) return ctx.notify(`viewers see the session but cannot change it (you are ${ctx.role ?? '?'})`, 'error');
      const sent = (p: Promise<unknown>, what: string) => p.then(() => ctx.notify(what)).catch((err: Error) => ctx.notify(`not sent: ${clean(err.message, 200)}`, 'error'));
      const mode = KEYS[name];
      if (mode) {
        if (session && !session.modes.includes(mode)) return ctx.notify(mode === 'bypassPermissions' ? 'bypassPermissions needs the runner started with --allow-bypass-permissions' : 'this run takes no mode switch', 'error');
        return sent(api.setMode(runId, mode), `asked Claude to switch to ${modeLabel(mode)}…`);
      }
      if (name === 'S') return sent(api.interrupt(runId), 'asked Claude to stop this turn; i sends the next prompt');
      if (name === 'M') {
        return ctx.prompt({
          label: 'Model (an alias such as sonnet or opus, or a model id):',
          placeholder: 'sonnet',
          onSubmit: (value) => {
            const m = value.trim();
            if (!MODEL_RE.test(m)) return ctx.notify('not a model name', 'error');
            sent(api.setModel(runId, m), `asked Claude to switch to ${m}…`);
          },
        });
      }
    };
    return () => {
      keys.current = null;
    };
  });

  usePanelHelp(setHelp, [
    ...(mayOperate
      ? [
          { key: '1-4', help: 'mode', rank: 1 },
          { key: 'M', help: 'model', rank: 2 },
          { key: 'S', help: 'stop this turn', rank: 1 },
        ]
      : []),
    ESC_BACK,
  ]);
  const lines: { text: string; dim?: boolean; bold?: boolean }[] = [];
  if (!run) lines.push({ text: 'No run selected.' });
  else if (error) lines.push({ text: `could not read the session: ${clean(error, 200)}` });
  else if (!session) lines.push({ text: 'reading…', dim: true });
  else {
    lines.push({ text: `Mode:  ${modeLabel(session.permissionMode)}${session.permissionMode ? ` (${clean(session.permissionMode, 40)})` : ''}`, bold: true });
    lines.push({ text: `Model: ${session.model ? clean(session.model, 100) : 'not known yet'}`, bold: true });
    lines.push({ text: '' });
    if (mayOperate) {
      for (const [k, m] of Object.entries(KEYS)) {
        const allowed = session.modes.includes(m);
        lines.push({ text: `${k}  ${modeLabel(m)} (${m})${m === session.permissionMode ? '  ← now' : ''}${allowed ? '' : '  (not allowed on this runner)'}`, dim: !allowed });
      }
      lines.push({ text: 'M  switch model · S  stop this turn (the session waits for the next prompt)' });
    } else lines.push({ text: 'read only: switching needs the operator or admin role', dim: true });
  }
  return (
    <Box height={height} flexDirection="column" overflow="hidden">
      <Text bold wrap="truncate-end">
        Claude session of {run ? `${clean(run.name, 30)} (${run.id})` : 'no run'}
      </Text>
      {lines.map((l, i) => (
        <Text key={i} wrap="truncate-end" dimColor={l.dim} bold={l.bold}>
          {l.text || ' '}
        </Text>
      ))}
    </Box>
  );
}

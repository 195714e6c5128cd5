import { Box, Text } from 'ink';
import { useLayoutEffect } from 'react';
import type { AssistInfo, AssistResponse } from '../../../protocol/assist.js';
import { useFetched } from '../hooks/use-fetched.js';
import { ESC_BACK, usePanelHelp } from '../hooks/use-panel-help.js';
import type { PanelProps } from '../panels.js';
import { clean } from '../theme.js';

function until(ms: number | null): string {
  if (ms === null) return '';
  const left = Math.max(0, Math.round((ms - Date.now()) / 60_000));
  return ` · closes by itself in ${left} min (${new Date(ms).toISOString().slice(11, 16)} UTC)`;
}

/**
 * `t`: an assist session (tmate) on the runner machine, when its runner allows it (`--assist`).
 * `s` starts it, `S` stops it. The links are credentials (the read-write ones are a shell as the
 * runner's user): the gateway sends them to operators and admins only, and the panel is theirs.
 */
export function AssistScreen({ ctx, api, close, keys, setHelp, height, theme }: PanelProps) {
  const run = ctx.selectedRun;
  const runId = run?.id ?? null;
  const { value: state, error } = useFetched<AssistResponse>(runId, (id) => api.assist(id), [api]);

  // The operator socket's `assist` messages are newer than what was fetched on opening.
  const fetched = state?.assist ?? null;
  const info: AssistInfo | null = ctx.live.assist && (!fetched || ctx.live.assist.updatedAt >= fetched.updatedAt) ? ctx.live.assist : fetched;
  const enabled = state?.enabled ?? Boolean(run?.runner?.assist);
  const open = info?.state === 'active' || info?.state === 'starting';

  useLayoutEffect(() => {
    keys.current = (name) => {
      if (name === 'escape' || name === 'q' || name === 't') return close();
      if (!runId || (name !== 's' && name !== 'S')) return;
      const action = name === 's' ? 'start' : 'stop';
      if (action === 'start' && !enabled) return ctx.notify('this runner does not allow assist sessions (it was started without --assist)', 'error');
      if (action === 'start' && open) return ctx.notify('a session is already open: S stops it', 'error');
      if (action === 'stop' && !open) return ctx.notify('no session is open', 'error');
      api
        .assistAction(runId, action)
        .then(() => ctx.notify(action === 'start' ? 'asked the runner to start tmate…' : 'asked the runner to stop the session…'))
        .catch((err: Error) => ctx.notify(`could not ${action} the session: ${err.message}`, 'error'));
    };
    return () => {
      keys.current = null;
    };
  });

  usePanelHelp(setHelp, [{ key: 's', help: 'start', rank: 1 }, { key: 'S', help: 'stop', rank: 1 }, ESC_BACK]);

  const lines: { label: string; value: string }[] = [];
  if (info?.links) {
    const l = info.links;
    lines.push({ label: 'ssh (read-write, a shell as the runner user)', value: l.ssh });
    if (l.web) lines.push({ label: 'web (read-write)', value: l.web });
    if (l.sshReadOnly) lines.push({ label: 'ssh (read only)', value: l.sshReadOnly });
    if (l.webReadOnly) lines.push({ label: 'web (read only)', value: l.webReadOnly });
  }
  const status = !run
    ? 'No run selected.'
    : error
      ? `Could not read the session: ${clean(error, 160)}`
      : !enabled && !open
        ? 'This runner does not allow assist sessions (start it with --assist).'
        : !info || info.state === 'stopped'
          ? `No session open.${state?.maxMinutes ? ` The runner allows up to ${state.maxMinutes} min.` : ''}${info?.reason ? ` Last one: ${clean(info.reason, 120)}` : ''}`
          : info.state === 'starting'
            ? 'Starting tmate on the runner…'
            : info.state === 'active'
              ? `Session open${until(info.expiresAt)}`
              : `${info.state === 'refused' ? 'Refused' : 'Failed'}: ${clean(info.reason ?? 'no reason given', 200)}`;
  return (
    <Box height={height} flexDirection="column" overflow="hidden">
      <Text bold wrap="truncate-end">
        Assist session on {clean(run?.runner?.hostname ?? 'the runner', 40)} for {clean(run?.name ?? '', 30)}
      </Text>
      <Text color={theme.color && info?.state === 'active' ? 'green' : undefined} wrap="wrap">
        {status}
      </Text>
      <Text> </Text>
      {lines.map((l) => (
        <Box key={l.label} flexDirection="column">
          <Text dimColor>{l.label}:</Text>
          <Text wrap="wrap">  {clean(l.value, 600)}</Text>
        </Box>
      ))}
      {lines.length ? <Text dimColor>Anyone with a read-write link has a shell on that machine: share it with care.</Text> : null}
    </Box>
  );
}

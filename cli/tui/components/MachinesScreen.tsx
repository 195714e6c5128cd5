import { Box, Text } from 'ink';
import { useEffect, useLayoutEffect, useState } from 'react';
import type { MachineSummary } from '../../../protocol/machine.js';
import { ESC_BACK, usePanelHelp } from '../hooks/use-panel-help.js';
import { startClaudeOn } from '../machine-start.js';
import type { PanelProps } from '../panels.js';
import { clean, fit } from '../theme.js';

function state(m: MachineSummary): string {
  if (m.revokedAt !== null) return 'revoked';
  if (m.online) return 'online';
  return m.lastSeenAt ? `offline, seen ${new Date(m.lastSeenAt).toISOString().slice(0, 16).replace('T', ' ')}` : 'never connected';
}

/**
 * `M`: the machines — online or last seen, host, version, workspaces, running runs — refreshed
 * every 2 s. `s` starts Claude on the selected one (operators and admins; the machine decides).
 */
export function MachinesScreen({ ctx, api, close, keys, setHelp, height, width, theme }: PanelProps) {
  const [machines, setMachines] = useState<MachineSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [index, setIndex] = useState(0);

  useEffect(() => {
    let active = true;
    const load = () =>
      api.machines?.().then(
        (ms) => active && (setMachines(ms), setError(null)),
        (err: Error) => active && setError(err.message),
      );
    void load();
    const t = setInterval(() => void load(), 2000);
    return () => {
      active = false;
      clearInterval(t);
    };
  }, [api]);

  const list = machines ?? [];
  const selected = list[Math.min(index, list.length - 1)] ?? null;
  const operator = ctx.user?.role === 'admin' || ctx.user?.role === 'operator';

  useLayoutEffect(() => {
    keys.current = (name) => {
      if (name === 'escape' || name === 'q' || name === 'M') return close();
      if (name === 'up' || name === 'k') return setIndex((i) => Math.max(0, i - 1));
      if (name === 'down' || name === 'j') return setIndex((i) => Math.min(list.length - 1, i + 1));
      if (name === 's' || name === 'enter') {
        if (!operator) return ctx.notify('starting runs needs the operator role', 'error');
        if (!selected) return ctx.notify('no machine selected', 'error');
        if (!selected.online) return ctx.notify(`${selected.name} is not connected`, 'error');
        startClaudeOn(ctx, api, selected, () => close());
      }
    };
    return () => {
      keys.current = null;
    };
  });

  usePanelHelp(setHelp, [{ key: '↑↓', help: 'select', rank: 1 }, ...(operator ? [{ key: 's', help: 'start Claude', rank: 1 }] : []), ESC_BACK]);

  const rows = Math.max(1, height - 3);
  return (
    <Box height={height} flexDirection="column" overflow="hidden">
      <Text bold wrap="truncate-end">Machines{machines ? ` (${machines.length})` : ''}</Text>
      {error ? <Text color={theme.color ? 'red' : undefined} wrap="truncate-end">Could not list the machines: {clean(error, 160)}</Text> : null}
      {machines && machines.length === 0 ? <Text wrap="wrap">No machines yet. An admin adds one with `ccg machines add NAME` or on the phone.</Text> : null}
      {list.slice(0, rows).map((m, i) => (
        <Text key={m.name} inverse={i === index} wrap="truncate-end">
          {fit(`${m.name.padEnd(14)} ${state(m).padEnd(9)} ${clean(m.info?.hostname ?? '-', 20)} ${clean(m.info?.version ?? '', 10)} ${m.info ? `${m.info.running.length}/${m.info.maxRuns} running` : ''}  ${m.info?.workspaces.map((w) => w.name).join(',') ?? ''}`, width).trimEnd()}
        </Text>
      ))}
    </Box>
  );
}

import { Box, Text } from 'ink';
import { useLayoutEffect, useRef, useState } from 'react';
import type { CommandsResponse } from '../../../protocol/api.js';
import type { AdvertisedCommand } from '../../../protocol/run.js';
import { useCommandRun } from '../hooks/use-command-run.js';
import { useFetched } from '../hooks/use-fetched.js';
import { ESC_BACK, usePanelHelp } from '../hooks/use-panel-help.js';
import type { PanelProps } from '../panels.js';
import { checkParam } from '../param-check.js';
import { clean, fit } from '../theme.js';
import { moveAnchor, viewport, type Anchor } from '../viewport.js';
import { OutputView } from './OutputView.js';

/**
 * `x`: the allowlisted commands the selected run's runner advertises and the caller's role may
 * run (the gateway's `mayRun`). Enter asks for each parameter (checked against the runner's
 * pattern before sending), runs the command, and shows its output and exit code below.
 */
export function CommandsScreen({ ctx, api, client, close, keys, setHelp, height, width, theme }: PanelProps) {
  const run = ctx.selectedRun;
  const runId = run?.id ?? null;
  const [cursorState, setCursorState] = useState(0);
  const cursorRef = useRef(0);
  const [anchor, setAnchor] = useState<Anchor | null>(null);
  const command = useCommandRun(client, api, runId);
  const setCursor = (n: number) => {
    cursorRef.current = n;
    setCursorState(n);
  };

  // Asked again when the runner (re)connects with another list, not on every progress update.
  const offerKey = `${(run?.runner?.commands ?? []).map((c) => c.name).join(',')}|${run?.runnerConnected ? 1 : 0}`;
  const { value: offer, error } = useFetched<CommandsResponse>(runId, (id) => api.commands(id), [api, offerKey]);

  const allowed = offer ? offer.commands.filter((c) => offer.mayRun.includes(c.name)) : [];
  const others = offer ? offer.commands.filter((c) => !offer.mayRun.includes(c.name)).map((c) => c.name) : [];
  const cursor = Math.min(cursorState, Math.max(0, allowed.length - 1));
  const allowedRef = useRef(allowed);
  allowedRef.current = allowed;

  const askParams = (cmd: AdvertisedCommand, index: number, values: Record<string, string>) => {
    const p = cmd.params[index];
    if (!p) {
      setAnchor(null);
      command.start(cmd.name, values);
      return;
    }
    ctx.prompt({
      label: `${cmd.name} ${p.name} (${clean(p.pattern, 40)}):`,
      initial: values[p.name] ?? '',
      onSubmit: (value) => {
        const verdict = checkParam(value, p.pattern);
        if (verdict.ok === false) {
          ctx.notify(`${p.name}: ${clean(verdict.reason, 120)}; type it again (Esc gives up)`, 'error');
          return askParams(cmd, index, { ...values, [p.name]: value });
        }
        askParams(cmd, index + 1, { ...values, [p.name]: value });
      },
      onCancel: () => ctx.notify(`${cmd.name} not run`),
    });
  };

  const outputHeight = Math.max(1, height - 3 - Math.min(Math.max(1, allowed.length), 6));
  usePanelHelp(setHelp, [
    { key: 'Enter', help: 'run', rank: 1 },
    { key: '↑↓', help: 'choose', rank: 2 },
    { key: 'PgUp/PgDn', help: 'scroll the output', rank: 3 },
    ESC_BACK,
  ]);
  useLayoutEffect(() => {
    keys.current = (name) => {
      const list = allowedRef.current;
      const at = Math.min(cursorRef.current, Math.max(0, list.length - 1));
      if (name === 'escape' || name === 'q' || name === 'x') return close();
      if (name === 'up' || name === 'k') return setCursor(Math.max(0, at - 1));
      if (name === 'down' || name === 'j') return setCursor(Math.max(0, Math.min(list.length - 1, at + 1)));
      if (name === 'pageup' || name === 'pagedown') {
        const model = command.current?.output;
        if (model) setAnchor((a) => moveAnchor(model, a, name === 'pageup' ? outputHeight - 1 : 1 - outputHeight, width, outputHeight));
        return;
      }
      if (name !== 'enter') return;
      const cmd = list[at];
      if (!cmd) return ctx.notify(others.length ? `your role (${ctx.role ?? '?'}) may not run any of this runner's commands` : 'this runner offers no commands', 'error');
      const busy = command.current && ['sending', 'waiting', 'running'].includes(command.current.state);
      if (busy) return ctx.notify(`${command.current!.name} is still running`, 'error');
      askParams(cmd, 0, {});
    };
    return () => {
      keys.current = null;
    };
  });

  const listHeight = Math.min(Math.max(1, allowed.length), 6);
  const top = Math.max(0, Math.min(cursor - listHeight + 1, allowed.length - listHeight));
  const cur = command.current;
  const view = cur ? viewport(cur.output, anchor, width, outputHeight) : null;
  const stateText = !cur
    ? 'Enter runs the chosen command on the runner; its output shows here.'
    : cur.state === 'sending'
      ? `${cur.name}: asking the gateway…`
      : cur.state === 'waiting'
        ? `${cur.name}: waiting for the runner…`
        : cur.state === 'running'
          ? `${cur.name}: running…`
          : `${cur.name}: ${clean(cur.detail ?? cur.state, 200)}`;
  const stateColor = !theme.color || !cur ? undefined : cur.state === 'exited' ? (cur.exitCode === 0 ? 'green' : 'red') : cur.state === 'refused' || cur.state === 'failed' ? 'red' : undefined;
  const head = !run
    ? 'No run selected'
    : error
      ? `Could not list the commands: ${clean(error, 120)}`
      : !offer
        ? 'Asking the gateway what this runner offers…'
        : `${allowed.length} command${allowed.length === 1 ? '' : 's'} you may run on ${clean(run.runner?.hostname ?? 'the runner', 40)}${offer.connected ? '' : ' (runner away: requests fail until it is back)'}`;
  return (
    <Box height={height} flexDirection="column" overflow="hidden">
      <Text bold wrap="truncate-end">
        {head}
      </Text>
      <Box height={listHeight} flexDirection="column">
        {allowed.length === 0 ? (
          <Text dimColor wrap="truncate-end">
            {'  '}
            {offer ? (others.length ? `none for ${ctx.role ?? 'your role'} under the gateway's policy: ${others.join(', ')}` : 'this runner offers no commands') : ''}
          </Text>
        ) : (
          allowed.slice(top, top + listHeight).map((c, i) => {
            const here = top + i === cursor;
            const params = c.params.map((p) => `${p.name}=…`).join(' ');
            return (
              <Text key={c.name} wrap="truncate-end" bold={here} inverse={here}>
                {here ? '› ' : '  '}
                {fit(c.name, 12)} {fit(params, 18)} {clean(c.description ?? '', 60)}
                <Text dimColor> {Math.round(c.timeoutMs / 1000)} s max</Text>
              </Text>
            );
          })
        )}
      </Box>
      <Text dimColor wrap="truncate-end">
        {others.length && allowed.length ? `─ not for ${ctx.role ?? '?'}: ${others.join(', ')} ` : ''}
        {'─'.repeat(Math.max(1, width))}
      </Text>
      <OutputView rows={view?.rows ?? []} height={outputHeight} theme={theme} emptyText={cur && cur.state !== 'sending' && cur.state !== 'waiting' ? '(no output)' : ''} />
      <Text wrap="truncate-end" bold color={stateColor}>
        {stateText}
      </Text>
    </Box>
  );
}

import { Box, useApp, useInput, useStdout } from 'ink';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { CreateRunResponse } from '../../protocol/api.js';
import { isFinal, type RunSummary } from '../../protocol/run.js';
import type { OperatorClient } from '../client/operator-client.js';
import type { CliError } from '../exit-codes.js';
import type { TuiApi } from './api.js';
import { SessionScreen } from './components/SessionScreen.js';
import { modeLabel } from '../../protocol/claude-steer.js';
import { ApprovalsScreen } from './components/ApprovalsScreen.js';
import { ArtifactsScreen } from './components/ArtifactsScreen.js';
import { AssistScreen } from './components/AssistScreen.js';
import { CommandsScreen } from './components/CommandsScreen.js';
import { HelpLine, type HelpItem } from './components/HelpLine.js';
import { HelpPanel } from './components/HelpPanel.js';
import { InputLine } from './components/InputLine.js';
import { commandRows, NewRunPanel, shownCommand } from './components/NewRunPanel.js';
import { OutputView } from './components/OutputView.js';
import { PolicyScreen } from './components/PolicyScreen.js';
import { MachinesScreen } from './components/MachinesScreen.js';
import { startClaudeOn, startable } from './machine-start.js';
import type { MachineSummary } from '../../protocol/machine.js';
import { RunsList } from './components/RunsList.js';
import { messageRows, StatusLine } from './components/StatusLine.js';
import { TitleBar } from './components/TitleBar.js';
import { useConnection } from './hooks/use-connection.js';
import { osc52 } from './clipboard.js';
import { useDiscreteInput } from './hooks/use-discrete-input.js';
import { ESC_BACK } from './hooks/use-panel-help.js';
import { useRunOutput, type RunOutputOptions } from './hooks/use-run-output.js';
import { useLiveText } from './hooks/use-live-text.js';
import { liveRows } from './live-rows.js';
import { useTermScreen } from './hooks/use-term-screen.js';
import { screenRows } from './term-rows.js';
import { useRunLive } from './hooks/use-run-live.js';
import { useRuns } from './hooks/use-runs.js';
import { useSteering } from './hooks/use-steering.js';
import { useSyncState } from './hooks/use-sync-state.js';
import { useTerminalSize, type TerminalSize } from './hooks/use-terminal-size.js';
import { defaultBindings, findBinding, helpLineItems, isSelectKey, keyName, statusBanner, type Focus, type KeyBinding, type KeyContext, type PromptRequest } from './keymap.js';
import { isClaudeRun, lensFor } from './lenses.js';
import type { PanelDef } from './panels.js';
import { clean, statusWord, type Theme } from './theme.js';
import { moveAnchor, topAnchor, viewport, type Anchor } from './viewport.js';

export interface AppProps {
  client: OperatorClient;
  api: TuiApi;
  /** Shown in the title: which gateway this is. */
  gateway: string;
  theme?: Theme;
  /** A fixed size (tests); by default the terminal's, following resizes. */
  size?: TerminalSize;
  /** More keys (extension point): they are matched before the defaults and listed in the help. */
  bindings?: readonly KeyBinding[];
  /** More full-screen panels (extension point), opened with `ctx.openPanel(id)`. */
  panels?: readonly PanelDef[];
  output?: RunOutputOptions;
  /** Called once when the app ends: code 0 on `q`, the client's exit code on a fatal error. */
  onExit?(result: { code: number; error?: CliError }): void;
}

const BUILTIN_PANELS: PanelDef[] = [
  { id: 'policy', title: 'command policy', roles: ['admin'], render: (p) => <PolicyScreen {...p} /> },
  { id: 'approvals', title: 'approvals', render: (p) => <ApprovalsScreen {...p} /> },
  { id: 'session', title: 'Claude session', render: (p) => <SessionScreen {...p} /> },
  { id: 'commands', title: 'allowlisted commands', render: (p) => <CommandsScreen {...p} /> },
  { id: 'artifacts', title: 'artifacts', render: (p) => <ArtifactsScreen {...p} /> },
  // The links are credentials: the gateway sends them to operators and admins only.
  { id: 'assist', title: 'assist session', roles: ['admin', 'operator'], render: (p) => <AssistScreen {...p} /> },
  { id: 'machines', title: 'machines', render: (p) => <MachinesScreen {...p} /> },
];

type OpenPanel = { id: 'help' } | { id: 'new-run'; created: CreateRunResponse } | { id: string; def: PanelDef };

function matches(run: RunSummary, filter: string): boolean {
  if (!filter) return true;
  const f = filter.toLowerCase();
  return [run.id, run.name, run.status, statusWord(run), run.createdBy, run.runner?.hostname ?? ''].some((s) => s.toLowerCase().includes(f));
}

/**
 * The operator console: runs (live), the selected run's output (live, scroll back pages in from
 * the store), an input line, the connection and a help line. Networking lives in the hooks around
 * the injected OperatorClient and TuiApi; components get plain data.
 */
export function App(props: AppProps) {
  const { client, api, gateway } = props;
  const theme = props.theme ?? { color: true };
  const { exit } = useApp();
  const { stdout } = useStdout();
  useDiscreteInput();
  const size = useTerminalSize(props.size);
  const connection = useConnection(client);
  const runs = useRuns(client);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [focus, setFocus, focusRef] = useSyncState<Focus>('runs');
  const [filter, setFilter] = useState('');
  // Refs alongside: a key typed right after the one that opened a prompt, confirmation or panel
  // arrives before React has re-rendered, and must already go where the screen is about to be.
  const [prompt, setPrompt, promptRef] = useSyncState<(PromptRequest & { value: string }) | null>(null);
  const [confirm, setConfirm, confirmRef] = useSyncState<{ question: string; onYes: () => void } | null>(null);
  const [panel, setPanelState, panelRef] = useSyncState<OpenPanel | null>(null);
  const [message, setMessage] = useState<{ text: string; level: 'info' | 'error'; id: number } | null>(null);
  // An open panel's keys, for the help line (panels.ts, setHelp).
  const [panelHelp, setPanelHelp] = useState<readonly HelpItem[] | null>(null);
  // A message is about the screen it was given on: another screen starts without it.
  const setPanel = useCallback(
    (next: OpenPanel | null) => {
      setPanelState(next);
      setPanelHelp(null);
      setMessage(null);
    },
    [setPanelState],
  );
  const [anchor, setAnchor] = useState<Anchor | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const [rawOutput, setRawOutput] = useState(false);
  // Incremented when the app types into the prompt itself: ink-text-input is remounted, so its
  // cursor goes to the end of the value instead of staying where it was.
  const [promptEpoch, setPromptEpoch] = useState(0);
  const exited = useRef(false);

  const filtered = useMemo(() => runs.filter((r) => matches(r, filter)), [runs, filter]);
  // The selection stays on its run: a run created meanwhile (the list's first) does not take it,
  // nor what is on screen for it, nor the key the operator is about to press. While a filter
  // hides the chosen run, the run shown in its place is held the same way, and the chosen one
  // comes back when the filter goes.
  const [standIn, setStandIn] = useState<string | null>(null);
  const chosen = filtered.find((r) => r.id === selectedId);
  const selected = chosen ?? filtered.find((r) => r.id === standIn) ?? filtered[0] ?? null;
  useEffect(() => {
    if (selectedId === null && selected) setSelectedId(selected.id);
    else if (!chosen && selected && selected.id !== standIn) setStandIn(selected.id);
  }, [selectedId, selected, chosen, standIn]);
  const output = useRunOutput(client, api, selected?.id ?? null, props.output, lensFor(selected, rawOutput));
  const live = useRunLive(client, selected?.id ?? null);
  // A --pty run's pane is its terminal screen (emulated here); v shows the output as lines instead.
  const ptyRun = selected?.runner?.pty === true;
  const term = useTermScreen(client, api, selected?.id ?? null, ptyRun && !rawOutput);
  const role = connection.user?.role ?? null;
  const bindings = useMemo(() => [...(props.bindings ?? []), ...defaultBindings()], [props.bindings]);
  const panels = useMemo(() => [...BUILTIN_PANELS, ...(props.panels ?? [])], [props.panels]);

  // Layout: one row is left free so Ink redraws in place instead of clearing the screen.
  const width = Math.max(20, size.columns);
  // The new run's command is one line the terminal wraps over more rows than Ink counts: the
  // frame is that much shorter, so that it still fills the screen exactly.
  const wrappedRows = panel?.id === 'new-run' && 'created' in panel ? commandRows(panel.created, width) - 1 : 0;
  const height = Math.max(10, size.rows - 1) - wrappedRows;
  const shownMessage = confirm ? { text: confirm.question, level: 'info' as const } : message;
  const statusRows = shownMessage ? messageRows(connection.state, shownMessage.text, width).length : 1;
  const body = height - 2 - statusRows; // input, status and help lines below
  const panes = (body: number) => {
    const runs = Math.max(1, Math.min(Math.max(1, filtered.length), Math.max(3, Math.floor((body - 2) / 3))));
    return { runs, output: Math.max(1, body - 2 - runs) };
  };
  const { runs: runsHeight, output: outputHeight } = panes(body);

  const notify = useCallback((text: string, level: 'info' | 'error' = 'info') => setMessage({ text: clean(text, 300), level, id: Date.now() }), []);
  // A new prompt gets a new input (epoch): one opened from another's Enter (machine → workspace →
  // prompt) would otherwise keep the old one's cursor position.
  const openPrompt = useCallback((p: PromptRequest) => {
    setPrompt({ ...p, value: p.initial ?? '' });
    setPromptEpoch((e) => e + 1);
  }, [setPrompt]);
  // A run's terminal keeps the pane's size without a message: a message of a few seconds does not resize it.
  const termRef = useRef(term);
  termRef.current = term;
  const appCursor = useCallback(() => termRef.current.screen?.term.modes.applicationCursorKeysMode ?? false, []);
  const steering = useSteering(client, selected, notify, openPrompt, { cols: width, rows: panes(height - 3).output }, appCursor);
  const quit = useCallback(
    (result: { code: number; error?: CliError } = { code: 0 }) => {
      if (exited.current) return;
      exited.current = true;
      props.onExit?.(result);
      exit();
    },
    [exit, props],
  );

  // The machines, for `n` (fetched now and every 5 s; an API without machines leaves `n` as it was).
  const machinesRef = useRef<MachineSummary[]>([]);
  useEffect(() => {
    if (!api.machines) return;
    let active = true;
    const load = () =>
      api.machines!().then(
        (ms) => {
          if (active) machinesRef.current = ms;
        },
        () => undefined,
      );
    void load();
    const t = setInterval(() => void load(), 5000);
    return () => {
      active = false;
      clearInterval(t);
    };
  }, [api]);

  // Ages tick; messages fade.
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  useEffect(() => {
    if (!message) return;
    const t = setTimeout(() => setMessage((m) => (m?.id === message.id ? null : m)), 8000);
    return () => clearTimeout(t);
  }, [message]);
  useEffect(() => {
    if (connection.fatal) quit({ code: connection.fatal.exit, error: connection.fatal });
  }, [connection.fatal, quit]);

  // A new run's output starts followed; lines arriving below a scrolled-back view keep it still.
  const seenAppended = useRef({ model: output.model, appended: 0 });
  useEffect(() => {
    const seen = seenAppended.current;
    if (seen.model !== output.model) {
      seenAppended.current = { model: output.model, appended: output.model.appended };
      setAnchor(null);
      return;
    }
    const delta = output.model.appended - seen.appended;
    seen.appended = output.model.appended;
    if (delta > 0) setAnchor((a) => (a ? { ...a, fromEnd: a.fromEnd + delta } : a));
  }, [output.model, output.version]);

  const view = viewport(output.model, anchor, width, outputHeight);
  // Claude's reply as it is written, under the timeline while the view follows the end (live-rows.ts).
  const liveText = useLiveText(client, selected?.id ?? null);
  const live_ = anchor === null && liveText !== null && isClaudeRun(selected) && !rawOutput ? liveRows(liveText, width, Math.min(6, outputHeight - 1)) : [];
  const outputRows = live_.length ? [...view.rows, ...live_].slice(-outputHeight) : view.rows;
  // Older output pages in when the top of what is loaded comes into view (once per page).
  const requested = useRef<number | undefined>(undefined);
  // `g` pressed while a page was loading: go to the new top when it is in (the press is not lost).
  const topWanted = useRef(false);
  useEffect(() => {
    if (topWanted.current && !output.loadingOlder) {
      topWanted.current = false;
      requested.current = undefined;
      setAnchor(topAnchor(output.model, width, outputHeight));
      return;
    }
    const first = output.model.firstSeq;
    if (view.atTop && !output.atStart && output.live && !output.loadingOlder && requested.current !== first) {
      requested.current = first;
      output.loadOlder();
    }
  }, [view.atTop, output, width, outputHeight]);

  const ctx: KeyContext = {
    focus,
    selectedRun: selected,
    role,
    select: (delta) => {
      if (filtered.length === 0) return;
      setSelectedId((prev) => {
        const i = Math.max(0, filtered.findIndex((r) => r.id === (prev ?? filtered[0]?.id)));
        return filtered[Math.min(filtered.length - 1, Math.max(0, i + delta))]?.id ?? prev;
      });
    },
    setFocus: (f) => setFocus(f),
    scroll: (d) => {
      const page = Math.max(1, outputHeight - 1);
      topWanted.current = d === 'top' && output.loadingOlder;
      if (d === 'bottom') return setAnchor(null);
      if (d === 'top') {
        requested.current = undefined;
        return setAnchor(topAnchor(output.model, width, outputHeight));
      }
      const delta = d === 'page-up' ? page : d === 'page-down' ? -page : d;
      setAnchor((a) => moveAnchor(output.model, a, delta, width, outputHeight));
    },
    newRun: () => {
      const byHand = () =>
        ctx.prompt({
          label: 'New run, name (Enter for a default):',
          onSubmit: (name) => {
            api
              .createRun(name.trim() || undefined)
              .then((created) => {
                setSelectedId(created.id);
                setPanel({ id: 'new-run', created });
              })
              .catch((err: Error) => notify(`could not create a run: ${err.message}`, 'error'));
          },
        });
      // With machines online (as last fetched: `n` must answer at once, keys typed next go to its prompt), it offers to start Claude on one of them first.
      const ms = startable(machinesRef.current);
      if (ms.length === 0) return byHand();
      ctx.prompt({
        label: `New run: start Claude on a machine (${ms.map((m) => m.name).join(', ')}), or Enter for a run by hand:`,
        initial: ms.length === 1 ? ms[0]!.name : '',
        onSubmit: (v) => {
          const name = v.trim();
          if (!name) return byHand();
          const m = ms.find((x) => x.name === name);
          if (!m) return notify(`no machine named ${clean(name, 32)} is online`, 'error');
          startClaudeOn(ctx, api, m, (id) => setSelectedId(id));
        },
      });
    },
    filter: () =>
      ctx.prompt({
        label: 'Filter:',
        initial: filter,
        placeholder: 'id, name, state, host…',
        onChange: setFilter,
        onSubmit: (v) => setFilter(v.trim()),
        onCancel: () => setFilter(''),
      }),
    cancelRun: () => {
      const run = selected;
      if (!run) return notify('no run selected', 'error');
      if (isFinal(run.status)) return notify(`run ${run.id} is already ${run.status}`, 'error');
      ctx.confirm(`Cancel run ${run.id} (${clean(run.name, 40)})? y/n`, () => {
        api
          .cancelRun(run.id)
          .then((r) =>
            notify(
              r.run.status === 'cancelled'
                ? `run ${run.id} cancelled`
                : r.delivered
                  ? `cancel sent to the runner of ${run.id}`
                  : `${run.id} will be cancelled when its runner reconnects`,
            ),
          )
          .catch((err: Error) => notify(`could not cancel: ${err.message}`, 'error'));
      });
    },
    reconnect: () => {
      client.reconnectNow();
      notify('reconnecting…');
    },
    help: () => setPanel(panelRef.current?.id === 'help' ? null : { id: 'help' }),
    quit: () => quit({ code: 0 }),
    openPanel: (id) => {
      const def = panels.find((p) => p.id === id);
      if (!def) return notify(`no panel "${id}"`, 'error');
      if (def.roles && !(role && def.roles.includes(role))) return notify(`the ${def.title} screen needs the ${def.roles.join(' or ')} role (you are ${role ?? 'not connected yet'})`, 'error');
      setPanel({ id, def });
    },
    prompt: openPrompt,
    confirm: (question, onYes) => setConfirm({ question, onYes }),
    notify,
    client,
    api,
    user: connection.user,
    live,
    rawOutput,
    toggleRaw: () => {
      if (selected?.runner?.pty) {
        setRawOutput(!rawOutput);
        setAnchor(null);
        return notify(rawOutput ? 'the terminal screen (v shows the output as lines)' : 'the output as lines (v shows the terminal screen)');
      }
      if (!isClaudeRun(selected)) return notify('raw and timeline views are for Claude runs; this output is shown as it came', 'error');
      setRawOutput(!rawOutput);
      setAnchor(null);
      notify(rawOutput ? 'the timeline (v shows the raw stream-json)' : 'the raw stream-json (v shows the timeline)');
    },
    answerApproval: steering.answerApproval,
    input: steering.input,
    keysMode: steering.keysMode,
  };

  const promptChange = (typed: string) => {
    const p = promptRef.current;
    if (!p) return;
    // A prompt holds one line of text: pasted line breaks and tabs become spaces, any other
    // control character (which the operator could not see) is dropped.
    const value = typed.replace(/[\r\n\t]+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '');
    setPrompt({ ...p, value });
    p.onChange?.(value);
  };
  const promptSubmit = () => {
    const p = promptRef.current;
    setPrompt(null);
    p?.onSubmit(p.value);
  };
  const promptCancel = () => {
    const p = promptRef.current;
    setPrompt(null);
    p?.onCancel?.();
  };

  // The prompt's own keys: Esc cancels (ink-text-input handles the rest).
  useInput(
    (input, key) => {
      if (key.escape) promptCancel();
      else if (key.ctrl && input === 'c') quit({ code: 0 });
    },
    { isActive: prompt !== null },
  );

  // To the operator's own terminal, beside Ink's frames: OSC 52 moves no cursor and draws nothing.
  const copyCommand = (created: CreateRunResponse) => {
    const command = shownCommand(created);
    stdout.write(osc52(command));
    notify(`sent the runner command (${command.length} characters) to your terminal's clipboard with OSC 52; if pasting does not give it, the terminal refuses OSC 52 (tmux: set -g set-clipboard on)`);
  };

  const customPanel = panel && 'def' in panel ? panel : null;
  const panelKeys = useRef<((name: string) => void) | null>(null);
  // Ink re-attaches the input handler after each render; a key that arrives in between reaches
  // the previous one. Everything a key acts on is therefore read from this ref, set every render.
  const latest = useRef({ ctx, bindings, role, quit });
  latest.current = { ctx, bindings, role, quit };
  const onKey = (name: string) => {
    const { ctx, bindings, role, quit } = latest.current;
    const asked = confirmRef.current;
    if (asked) {
      if (name === 'y' || name === 'Y') {
        setConfirm(null);
        asked.onYes();
      } else if (name === 'n' || name === 'N' || name === 'escape' || name === 'enter') {
        setConfirm(null);
        notify('not done');
      }
      return;
    }
    if (name === 'ctrl+c') return quit({ code: 0 });
    const typing = promptRef.current;
    if (typing) {
      // Typed before the text field took the keyboard.
      if (name === 'enter') promptSubmit();
      else if (name === 'escape') promptCancel();
      else if (name === 'backspace') {
        promptChange(typing.value.slice(0, -1));
        setPromptEpoch((e) => e + 1);
      } else if ([...name].length === 1 && name >= ' ') {
        promptChange(typing.value + name);
        setPromptEpoch((e) => e + 1);
      }
      return;
    }
    const open = panelRef.current;
    if (open && 'def' in open) return panelKeys.current?.(name);
    if (open) {
      // help and new-run: read-only screens (new-run copies its command)
      if (name === 'escape' || name === 'enter' || name === '?' || name === 'q') setPanel(null);
      else if (open.id === 'new-run' && 'created' in open && (name === 'y' || name === 'Y')) copyCommand(open.created);
      return;
    }
    const where = focusRef.current;
    if (where === 'runs') {
      const d = isSelectKey(name);
      if (d !== 0) return ctx.select(d);
    }
    const b = findBinding(bindings, name, where);
    if (!b) return;
    if (b.roles && !(role && b.roles.includes(role))) {
      return notify(`${b.help}: needs the ${b.roles.join(' or ')} role (you are ${role ?? 'not connected yet'})`, 'error');
    }
    b.action(ctx);
  };
  useInput(
    (input, key) => {
      if (steering.onKey(input, key)) return;
      const special = key.ctrl || key.meta || key.escape || key.return || key.tab || key.backspace || key.delete || key.upArrow || key.downArrow || key.leftArrow || key.rightArrow || key.pageUp || key.pageDown;
      if (input.length <= 1 || special) return onKey(keyName(input, key));
      // Keys typed faster than the terminal is read arrive as one string: one key at a time
      // (once one of them opens a prompt, the rest is typed into it).
      for (const ch of input) onKey(ch === '\r' || ch === '\n' ? 'enter' : ch === '\x7f' || ch === '\b' ? 'backspace' : ch === '\t' ? 'tab' : ch);
    },
    { isActive: prompt === null },
  );

  // eslint-disable-next-line react-hooks/exhaustive-deps -- term.version says when the screen changed
  const termRows = useMemo(() => (term.screen ? screenRows(term.screen.term, width, outputHeight) : null), [term.screen, term.version, width, outputHeight]);
  const outputTitle = (() => {
    if (!selected) return 'output';
    const where = output.loadingOlder
      ? 'loading older…'
      : anchor
        ? view.atTop && output.atStart
          ? 'start of output · f follows'
          : 'scrolled back · f follows'
        : output.live
          ? 'following'
          : 'loading…';
    const why = isFinal(selected.status) && selected.reason ? ` (${clean(selected.reason, 30)})` : '';
    if (term.screen) return `${clean(selected.name, 30)} · ${statusWord(selected)}${why} · terminal ${term.screen.term.cols}x${term.screen.term.rows}`;
    const lens = isClaudeRun(selected) ? ` · ${output.model.lens.name}` : '';
    return `${clean(selected.name, 30)} · ${statusWord(selected)}${why}${lens} · ${where}`;
  })();
  const runsTitle = `ccg ${clean(gateway.replace(/^https?:\/\//, ''), 40)} · runs ${filtered.length}${filter ? `/${runs.length} matching "${clean(filter, 20)}"` : ''}`;
  // One key line: inside a panel only the panel's keys (the main ones do not work there).
  const helpItems: readonly HelpItem[] = !panel
    ? steering.keysEnded
      ? [{ key: 'Ctrl-] or Esc', help: 'back to the console; other keys are dropped', rank: 0 }]
      : helpLineItems(bindings, ctx, steering.keysRun)
    : panel.id === 'new-run'
      ? [{ key: 'y', help: 'copy the command (OSC 52)', rank: 1 }, ESC_BACK]
      : panel.id === 'help'
        ? [ESC_BACK]
        : (panelHelp ?? [ESC_BACK]);
  const idleText = steering.keysRun
    ? `keys mode: what you type goes to the terminal of ${steering.keysRun}`
    : steering.keysEnded
      ? `keys mode ended with ${steering.keysEnded}: what you type is dropped until Ctrl-] or Esc`
      : filter
      ? `filter: ${clean(filter, 40)}  (/ changes it, Esc in the prompt clears it)`
      : output.error
        ? `! ${clean(output.error, 200)}`
        : 'press / to filter, n to create a run';
  const banner = statusBanner(selected, live, steering.keysRun);
  const panelHeight = body - 1;
  const openDef = customPanel?.def;

  return (
    <Box flexDirection="column" width={width} height={height}>
      {panel ? (
        <>
          <TitleBar left={panel.id === 'help' ? 'keys' : panel.id === 'new-run' ? 'new run' : (openDef?.title ?? panel.id)} right={clean(gateway, 40)} width={width} active />
          {panel.id === 'help' ? (
            <HelpPanel bindings={bindings} role={role} height={panelHeight} width={width} />
          ) : 'created' in panel ? (
            <NewRunPanel created={panel.created} width={width} height={panelHeight} />
          ) : openDef ? (
            <Box height={panelHeight} flexDirection="column">
              {openDef.render({ ctx, api, client, close: () => setPanel(null), keys: panelKeys, setHelp: setPanelHelp, width, height: panelHeight, theme })}
            </Box>
          ) : null}
        </>
      ) : (
        <>
          <TitleBar left={runsTitle} width={width} active={focus === 'runs'} />
          <RunsList
            runs={filtered}
            selectedId={selected?.id ?? null}
            focused={focus === 'runs'}
            width={width}
            height={runsHeight}
            now={now}
            theme={theme}
            emptyText={runs.length === 0 ? (connection.state === 'open' ? 'no runs yet: press n to create one' : 'waiting for the gateway…') : 'no run matches the filter'}
          />
          <TitleBar left={outputTitle} right={selected ? `${live.settings?.permissionMode && isClaudeRun(selected) ? `${modeLabel(live.settings.permissionMode)} (m) · ` : ''}${selected.id}` : ''} width={width} active={focus === 'output'} />
          <OutputView
            rows={termRows ?? outputRows}
            height={outputHeight}
            theme={theme}
            emptyText={!selected ? '' : output.error ? `! ${clean(output.error, 200)}` : output.live ? 'no output yet' : 'loading…'}
          />
        </>
      )}
      <InputLine
        label={prompt?.label ?? null}
        value={prompt?.value ?? ''}
        placeholder={prompt?.placeholder}
        onChange={promptChange}
        onSubmit={promptSubmit}
        idleText={idleText}
        epoch={promptEpoch}
      />
      <StatusLine
        state={connection.state}
        user={connection.user}
        banner={banner}
        message={shownMessage}
        width={width}
        theme={theme}
      />
      <HelpLine items={helpItems} width={width} />
    </Box>
  );
}

import type { Key } from 'ink';
import { useCallback, useEffect, useRef } from 'react';
import type { Approval } from '../../../protocol/claude-control.js';
import { isFinal, type RunSummary } from '../../../protocol/run.js';
import type { OperatorClient } from '../../client/operator-client.js';
import { approvalOutcome } from '../components/ApprovalsScreen.js';
import { inputKind, type PromptRequest } from '../keymap.js';
import { keyBytes, LEAVE_KEYS } from '../pty-keys.js';
import { clean } from '../theme.js';
import { useSyncState } from './use-sync-state.js';

export interface Steering {
  answerApproval(approval: Approval, decision: 'allow' | 'deny', opts?: { always?: boolean; message?: string }): void;
  input(): void;
  keysMode(): void;
  /** The run whose terminal gets the keys, while keys mode is on. */
  keysRun: string | null;
  /**
   * Keys mode ended without the operator (the run ended, or left the list): the run it was for,
   * until Ctrl-] or Esc. Keys typed meanwhile are dropped: the operator was typing for a
   * terminal, and the console would read them as commands ("n…" a new run, "c…y" a cancel).
   */
  keysEnded: string | null;
  /** Keys mode: takes the key (true) or leaves it to the app (false). */
  onKey(input: string, key: Key): boolean;
}

type Notify = (text: string, level?: 'info' | 'error') => void;

/** Keystrokes typed within this many ms travel in one message. */
const KEYS_BATCH_MS = 15;

/**
 * Steering the selected run from the console: answering approvals, follow-up prompts (Claude) or
 * typed lines (`--pty`), keys mode for a pty, and the gateway's answers to all of them (an
 * `input_accepted`, or an error notice: "already allowed by alice", "runner away", …).
 */
export function useSteering(
  client: OperatorClient,
  selected: RunSummary | null,
  notify: Notify,
  prompt: (p: PromptRequest) => void,
  terminal: { cols: number; rows: number },
  /** The run's terminal is in application cursor mode (from the emulated screen): arrows send ESC O x. */
  appCursor: () => boolean = () => false,
): Steering {
  const [keysRun, setKeys, keysRef] = useSyncState<string | null>(null);
  const [keysEnded, setKeysEnded, keysEndedRef] = useSyncState<string | null>(null);
  const pending = useRef(new Map<string, string>());
  const counter = useRef(0);
  const batch = useRef<{ runId: string; bytes: string; timer: NodeJS.Timeout } | null>(null);
  const selectedRef = useRef(selected);
  selectedRef.current = selected;

  useEffect(() => {
    const onAccepted = (m: { runId: string; inputId: string; ref?: string | undefined }) => {
      const what = m.ref !== undefined ? pending.current.get(m.ref) : undefined;
      if (what === undefined) return;
      pending.current.delete(m.ref!);
      if (what) notify(what);
    };
    const onNotice = (n: { code: string; message: string; runId?: string | undefined }) => {
      const where = n.runId && n.runId !== selectedRef.current?.id ? ` (run ${n.runId})` : '';
      if (n.code === 'ERR_APPROVAL_RESOLVED') {
        // The gateway says who was first: "approval … was already allowed by alice".
        const text = n.message.replace(/^approval \S+ was /, '');
        return notify(`not sent: ${text.startsWith('already') ? text : `already ${text}`}${where}`, 'error');
      }
      notify(`${n.message}${where}`, 'error');
    };
    client.on('input_accepted', onAccepted);
    client.on('notice', onNotice);
    return () => {
      client.off('input_accepted', onAccepted);
      client.off('notice', onNotice);
    };
  }, [client, notify]);

  const flushKeys = useCallback(() => {
    const b = batch.current;
    if (!b) return;
    batch.current = null;
    clearTimeout(b.timer);
    if (!client.sendInput(b.runId, { data: Buffer.from(b.bytes, 'utf8') })) notify('not connected: those keys were not sent', 'error');
  }, [client, notify]);

  // Keys mode ends with its run: another selection, or the run ended.
  useEffect(() => {
    if (keysRun && (selected?.id !== keysRun || isFinal(selected.status))) {
      flushKeys();
      setKeys(null);
      setKeysEnded(keysRun);
      notify(`${selected?.id === keysRun ? `run ${keysRun} ended` : `run ${keysRun} is no longer selected`}: keys mode is off; Ctrl-] or Esc for the console`);
    }
  }, [keysRun, selected, flushKeys, setKeys, setKeysEnded, notify]);

  // The terminal on the runner gets the size of the console's output pane, so what it draws fits.
  useEffect(() => {
    if (keysRun) client.resize(keysRun, terminal.cols, terminal.rows);
  }, [client, keysRun, terminal.cols, terminal.rows]);

  const answerApproval = useCallback<Steering['answerApproval']>(
    (a, decision, opts = {}) => {
      const outcome = approvalOutcome(a);
      if (a.state !== 'pending') return notify(`${clean(a.toolName, 30)} was already ${outcome ?? 'answered'}`, 'error');
      if (opts.always && !a.rule && !a.modeSuggestion) return notify(`Claude suggested no rule for this ${clean(a.toolName, 30)}: y allows it once`, 'error');
      if (!client.answerApproval(a.runId, a.approvalId, decision, opts)) return notify('not connected: nothing was sent; try again once connected', 'error');
      notify(`${decision === 'allow' ? (opts.always ? 'always allowing' : 'allowing') : 'denying'} ${clean(a.toolName, 30)}…`);
    },
    [client, notify],
  );

  const input = useCallback(() => {
    const run = selectedRef.current;
    if (!run) return notify('no run selected', 'error');
    const kind = inputKind(run);
    if (!kind) return notify(run.runner ? 'this run is a plain command: it takes no input' : 'no runner has connected to this run yet', 'error');
    if (isFinal(run.status)) return notify(`run ${run.id} is already ${run.status}`, 'error');
    prompt({
      label: kind === 'claude' ? 'To Claude:' : 'Type (sent with Enter):',
      placeholder: kind === 'claude' ? 'a follow-up prompt' : 'a line for the terminal; K for keys mode',
      onSubmit: (value) => {
        if (kind === 'claude' && !value.trim()) return notify('nothing sent');
        const ref = `tui-${++counter.current}`;
        pending.current.set(ref, kind === 'claude' ? `sent to Claude (${run.id})` : `typed into ${run.id}`);
        if (!client.sendInput(run.id, { text: kind === 'pty' ? `${value}\r` : value }, ref)) {
          pending.current.delete(ref);
          notify('not connected: nothing was sent', 'error');
        }
      },
    });
  }, [client, notify, prompt]);

  const keysMode = useCallback(() => {
    const run = selectedRef.current;
    if (!run) return notify('no run selected', 'error');
    if (inputKind(run) !== 'pty') return notify('keys mode is for --pty runs; i sends a line or a prompt', 'error');
    if (isFinal(run.status)) return notify(`run ${run.id} is already ${run.status}`, 'error');
    setKeys(run.id);
    notify(`keys go to ${run.id}'s terminal; Ctrl-] gives them back`);
  }, [notify, setKeys]);

  const onKey = useCallback(
    (text: string, key: Key) => {
      if (keysEndedRef.current) {
        if (text === LEAVE_KEYS || key.escape) {
          setKeysEnded(null);
          notify('keys mode is off');
        }
        return true;
      }
      const runId = keysRef.current;
      if (!runId) return false;
      if (text === LEAVE_KEYS) {
        flushKeys();
        setKeys(null);
        notify('keys mode is off');
        return true;
      }
      const bytes = keyBytes(text, key, { appCursor: appCursor() });
      if (!bytes) return true;
      if (batch.current && batch.current.runId !== runId) flushKeys();
      if (batch.current) batch.current.bytes += bytes;
      else batch.current = { runId, bytes, timer: setTimeout(flushKeys, KEYS_BATCH_MS) };
      return true;
    },
    [flushKeys, notify, setKeys, setKeysEnded, appCursor],
  );

  useEffect(() => () => batch.current?.timer && clearTimeout(batch.current.timer), []);

  return { answerApproval, input, keysMode, keysRun, keysEnded, onKey };
}

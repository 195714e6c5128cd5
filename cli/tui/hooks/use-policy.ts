import { useCallback, useEffect, useState } from 'react';
import type { CommandPolicy, PolicyRole, PolicyUpdate } from '../../../protocol/policy.js';
import type { TuiApi } from '../api.js';

export interface PolicyEditor {
  /** What the gateway has (null while loading or after a failure). */
  saved: CommandPolicy | null;
  /** The edited copy. */
  draft: PolicyUpdate | null;
  dirty: boolean;
  busy: 'loading' | 'saving' | null;
  error: string | null;
  toggle(row: string | null, role: PolicyRole): void;
  addCommand(name: string): void;
  removeCommand(name: string): void;
  save(): Promise<boolean>;
  reload(): void;
}

/** Loads the command policy, edits a draft, saves it with the version it started from. */
export function usePolicy(api: TuiApi): PolicyEditor {
  const [saved, setSaved] = useState<CommandPolicy | null>(null);
  const [draft, setDraft] = useState<PolicyUpdate | null>(null);
  const [busy, setBusy] = useState<PolicyEditor['busy']>('loading');
  const [error, setError] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    let active = true;
    setBusy('loading');
    api
      .getPolicy()
      .then((p) => {
        if (!active) return;
        setSaved(p);
        setDraft({ default: [...p.default], commands: structuredClone(p.commands), version: p.version });
        setError(null);
      })
      .catch((err: Error) => active && setError(err.message))
      .finally(() => active && setBusy(null));
    return () => {
      active = false;
    };
  }, [api, generation]);

  const toggle = useCallback((row: string | null, role: PolicyRole) => {
    setDraft((d) => {
      if (!d) return d;
      const flip = (roles: readonly PolicyRole[]) => (roles.includes(role) ? roles.filter((r) => r !== role) : [...roles, role]);
      if (row === null) return { ...d, default: flip(d.default) };
      if (!Object.hasOwn(d.commands, row)) return d;
      return { ...d, commands: { ...d.commands, [row]: flip(d.commands[row] ?? []) } };
    });
  }, []);

  const addCommand = useCallback((name: string) => {
    setDraft((d) => (d && !Object.hasOwn(d.commands, name) ? { ...d, commands: { ...d.commands, [name]: [...d.default] } } : d));
  }, []);

  const removeCommand = useCallback((name: string) => {
    setDraft((d) => {
      if (!d || !Object.hasOwn(d.commands, name)) return d;
      const commands = { ...d.commands };
      delete commands[name];
      return { ...d, commands };
    });
  }, []);

  const save = useCallback(async () => {
    if (!draft) return false;
    setBusy('saving');
    try {
      const p = await api.setPolicy(draft);
      setSaved(p);
      setDraft({ default: [...p.default], commands: structuredClone(p.commands), version: p.version });
      setError(null);
      return true;
    } catch (err) {
      setError((err as Error).message);
      return false;
    } finally {
      setBusy(null);
    }
  }, [api, draft]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const dirty = saved !== null && draft !== null && JSON.stringify(normal(saved)) !== JSON.stringify(normal(draft));
  return { saved, draft, dirty, busy, error, toggle, addCommand, removeCommand, save, reload };
}

function normal(p: { default: readonly string[]; commands: Record<string, readonly string[]> }) {
  return {
    default: [...p.default].sort(),
    commands: Object.fromEntries(Object.keys(p.commands).sort().map((k) => [k, [...(p.commands[k] ?? [])].sort()])),
  };
}

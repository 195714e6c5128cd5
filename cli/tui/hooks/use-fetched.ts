import { useEffect, useRef, useState } from 'react';

/**
 * What `load(runId)` resolves to, asked when a panel opens and again when the run or anything in
 * `deps` changes, with the error message when it failed. An answer that comes back after the run
 * changed (or the panel closed) is dropped. `value` stays until a newer answer replaces it.
 */
export function useFetched<T>(runId: string | null, load: (runId: string) => Promise<T>, deps: readonly unknown[]): { value: T | null; error: string | null } {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    if (!runId) return;
    let active = true;
    loadRef
      .current(runId)
      .then((v) => active && (setValue(() => v), setError(null)))
      .catch((err: Error) => active && setError(err.message));
    return () => {
      active = false;
    };
  }, [runId, ...deps]);
  return { value, error };
}

import { useCallback, useRef, useState } from 'react';

/**
 * State with a ref that holds the value at once: a key typed right after the one that changed it
 * arrives before React has re-rendered, and must already act on the new value.
 *
 * @example
 * const [focus, setFocus, focusRef] = useSyncState<Focus>('runs');
 */
export function useSyncState<T>(initial: T): [T, (v: T) => void, { readonly current: T }] {
  const [value, setValue] = useState<T>(initial);
  const ref = useRef<T>(initial);
  const set = useCallback((v: T) => {
    ref.current = v;
    setValue(v);
  }, []);
  return [value, set, ref];
}

import type { EventEmitter } from 'node:events';
import { useStdin } from 'ink';
import { useLayoutEffect } from 'react';

/**
 * Every key is rendered before the next one is read.
 *
 * Ink hands each key to the `useInput` handlers of the last committed render, and re-attaches
 * those handlers in passive effects. With React 19, Ink's updates have default priority: the
 * render, and then the effects that attach the new handlers, run later in scheduler tasks. A key
 * read before they ran reaches handlers that closed over the old state. ink-text-input then
 * computes its new value from the previous one (a character is lost or lands before the one
 * typed just before it), and a key typed right after the one that opened a prompt still reaches
 * the runs list. Seen on a busy machine, and over SSH where keys arrive in bursts.
 *
 * The cure is what a browser does for a key press: dispatch it at discrete (synchronous)
 * priority. Each input event is emitted inside the reconciler's `flushSyncFromReconciler`, so the
 * render, its commit and its passive effects (React flushes those synchronously for sync lanes)
 * are done when the emit returns, and the next key meets handlers that saw the previous one.
 *
 * Ink does not export its reconciler; its module is loaded by path next to Ink's entry point
 * (the same module instance Ink uses). If a later Ink moves it, this does nothing, and the
 * console works as before (keys typed faster than renders may be misread).
 */

type FlushSync = <R>(fn: () => R) => R;

let flushSync: FlushSync | null = null;
try {
  const url = new URL('./reconciler.js', import.meta.resolve('ink'));
  const mod = (await import(url.href)) as { default?: { flushSyncFromReconciler?: FlushSync } };
  const fn = mod.default?.flushSyncFromReconciler;
  if (typeof fn === 'function') flushSync = fn.bind(mod.default);
} catch {
  flushSync = null;
}

/** True when keys are dispatched synchronously (Ink's reconciler was found). */
export const discreteInput = flushSync !== null;

const patched = new WeakSet<EventEmitter>();

/** Makes Ink dispatch every key at discrete priority (see above). Call once, near the root. */
export function useDiscreteInput(): void {
  const { internal_eventEmitter: emitter } = useStdin();
  useLayoutEffect(() => {
    const sync = flushSync;
    if (!sync || !emitter || patched.has(emitter)) return;
    patched.add(emitter);
    const emit = emitter.emit.bind(emitter);
    emitter.emit = (event: string | symbol, ...args: unknown[]): boolean => (event === 'input' ? sync(() => emit(event, ...args)) : emit(event, ...args));
  }, [emitter]);
}

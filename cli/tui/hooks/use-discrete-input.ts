import type { EventEmitter } from 'node:events';
import { useStdin } from 'ink';
import { useLayoutEffect } from 'react';

/**
 * Every key is rendered before the next one is read, and Backspace is always a key.
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
 * (the same module instance Ink uses). If a later Ink moves it, keys are dispatched as Ink does,
 * and keys typed faster than renders may be misread.
 *
 * Backspace: a terminal sends DEL (or ^H) for it, and two presses read at once arrive as one
 * input event "\x7f\x7f". Ink recognises Backspace only when it is the whole event, so
 * ink-text-input inserted the two DELs as text: invisible, yet there (a filter matched nothing, a
 * command parameter was refused for control characters). Each edit key is therefore dispatched
 * as an event of its own (splitKeys), whatever else came in the same read.
 *
 * Enter: text typed and then Enter, read at once ("second\r", over SSH or on a busy machine),
 * is one event too, and ink-text-input took the \r as text (the prompt turned it into a space and
 * stayed open). An Enter that ends a read is therefore a key of its own. Line breaks inside a read
 * stay text: that is a paste, and a prompt holds one line (they become spaces), so a pasted
 * paragraph is never submitted line by line into whatever the keys after it would reach.
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

const EDIT_KEY = /[\x7f\b]/;

/**
 * One input event as Ink's parser gave it, with each Backspace (DEL or ^H) split out as a key of
 * its own, and the Enter that ends it. An escape sequence (Alt-Backspace is ESC DEL) is one key
 * already and stays whole.
 *
 * @example
 * splitKeys('ab\x7f\x7f') // ['ab', '\x7f', '\x7f']
 * splitKeys('second\r') // ['second', '\r']
 */
export function splitKeys(input: string): string[] {
  if (input.startsWith('\x1b')) return [input];
  const enter = input.length > 1 && /[\r\n]$/.test(input) ? input.slice(-1) : '';
  const keys = splitEditKeys(enter ? input.slice(0, -1) : input);
  return enter ? [...keys, enter] : keys;
}

function splitEditKeys(input: string): string[] {
  if (!EDIT_KEY.test(input)) return [input];
  const keys: string[] = [];
  let text = '';
  for (const ch of input) {
    if (ch !== '\x7f' && ch !== '\b') {
      text += ch;
      continue;
    }
    if (text) keys.push(text);
    text = '';
    keys.push(ch);
  }
  if (text) keys.push(text);
  return keys;
}

const patched = new WeakSet<EventEmitter>();

/** Makes Ink dispatch every key at discrete priority, each Backspace on its own (see above). Call once, near the root. */
export function useDiscreteInput(): void {
  const { internal_eventEmitter: emitter } = useStdin();
  useLayoutEffect(() => {
    if (!emitter || patched.has(emitter)) return;
    patched.add(emitter);
    const sync = flushSync;
    const emit = emitter.emit.bind(emitter);
    const one = (input: unknown): boolean => (sync ? sync(() => emit('input', input)) : emit('input', input));
    emitter.emit = (event: string | symbol, ...args: unknown[]): boolean => {
      if (event !== 'input') return emit(event, ...args);
      const input = args[0];
      if (typeof input !== 'string') return one(input);
      let heard = false;
      for (const key of splitKeys(input)) heard = one(key) || heard;
      return heard;
    };
  }, [emitter]);
}

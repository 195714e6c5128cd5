import { createRequire } from 'node:module';
import type { Terminal as HeadlessTerminal } from '@xterm/headless';
import type { SerializeAddon as Serializer } from '@xterm/addon-serialize';

/** A headless terminal with its serializer: the gateway's (and the TUI's) model of a pty screen. */
export interface Screen {
  term: HeadlessTerminal;
  serializer: Serializer;
}

let mods: { Terminal: typeof HeadlessTerminal; SerializeAddon: typeof Serializer } | null = null;

/**
 * Loads @xterm/headless and its serializer on first use (CommonJS packages; only pty runs need
 * them, so a gateway without any never pays for loading them).
 */
function load(): NonNullable<typeof mods> {
  if (!mods) {
    const require = createRequire(import.meta.url);
    const { Terminal } = require('@xterm/headless') as typeof import('@xterm/headless');
    const { SerializeAddon } = require('@xterm/addon-serialize') as typeof import('@xterm/addon-serialize');
    mods = { Terminal, SerializeAddon };
  }
  return mods;
}

/**
 * A new headless screen. No scrollback (a snapshot is the screen: O(screen), not O(history)).
 * Title changes, OSC 52 clipboard writes and bells are parsed and dropped: a headless terminal
 * has nowhere to put them, and nothing here listens.
 */
export function newScreen(cols: number, rows: number, scrollback = 0): Screen {
  const { Terminal, SerializeAddon } = load();
  const term = new Terminal({ cols, rows, scrollback, allowProposedApi: true });
  const serializer = new SerializeAddon();
  term.loadAddon(serializer as never);
  return { term, serializer };
}

/** Writes bytes and resolves once the terminal has parsed them (xterm parses in time slices). */
export function writeScreen(s: Screen, data: Uint8Array | string): Promise<void> {
  return new Promise((resolve) => s.term.write(data, resolve));
}

/** The screen (contents, colours, cursor, modes) as escape sequences that redraw it on a fresh terminal of the same size. */
export function serializeScreen(s: Screen): string {
  return s.serializer.serialize({ scrollback: 0 });
}

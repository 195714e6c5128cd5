import { useEffect, useState } from 'react';
import type { ApiChunk } from '../../../protocol/api.js';
import { STREAM_EVENT, STREAM_STDOUT } from '../../../protocol/frames.js';
import { TerminalClamp } from '../../../protocol/terminal-clamp.js';
import { newScreen, writeScreen, type Screen } from '../../../protocol/terminal-screen.js';
import { itemsOfChunk } from '../../../protocol/timeline.js';
import type { OperatorClient } from '../../client/operator-client.js';
import type { TuiApi } from '../api.js';

export interface TermScreen {
  screen: Screen | null;
  /** Changes whenever the screen does (at most every `frameMs`). */
  version: number;
}

interface Chunk {
  seq: number;
  stream: number;
  time: number;
  data: Uint8Array;
}

/** Live chunks held at most (a gap the store fills is read from it instead). */
const MAX_HELD = 2000;

const fromApi = (c: ApiChunk): Chunk => ({ seq: c.seq, stream: c.stream, time: c.time, data: Buffer.from(c.data, 'base64') });

/**
 * The screen of a `--pty` run, emulated here by @xterm/headless: it starts from the gateway's
 * latest snapshot (`GET …/screen`) and applies the chunks after it (read from the store, then
 * live as the output pane's subscription delivers them; a gap is read from the store again).
 * Runner bytes pass TerminalClamp first, and only cells ever reach Ink (term-rows.ts).
 */
export function useTermScreen(client: OperatorClient, api: TuiApi, runId: string | null, pty: boolean, frameMs = 40): TermScreen {
  const [state, setState] = useState<TermScreen>({ screen: null, version: 0 });
  useEffect(() => {
    setState({ screen: null, version: 0 });
    if (!runId || !pty) return;
    let active = true;
    let screen: Screen | null = null;
    let next = 1;
    let fetching = false;
    let missed = false;
    let queue: Promise<void> = Promise.resolve();
    let frame: NodeJS.Timeout | null = null;
    let retry: NodeJS.Timeout | null = null;
    const clamp = new TerminalClamp();
    /**
     * Live chunks that could not be applied yet (the screen still loading, the store being read,
     * one missing before them). Kept, not dropped: the gateway sends output before its commit, so
     * the store may not have it when read, and a run that then goes quiet (a prompt waiting for
     * input) left the pane blank until it wrote again.
     */
    const held = new Map<number, Chunk>();
    const changed = () => {
      frame ??= setTimeout(() => {
        frame = null;
        if (active && screen) setState((s) => ({ screen, version: s.version + 1 }));
      }, frameMs);
    };
    const apply = (c: Chunk) => {
      const s = screen!;
      next = c.seq + 1;
      if (c.stream === STREAM_STDOUT) {
        const text = clamp.push(c.data);
        queue = queue.then(() => (active ? writeScreen(s, text) : undefined));
      } else if (c.stream === STREAM_EVENT) {
        for (const item of itemsOfChunk(c)) {
          const ev = item.event;
          if (ev.type === 'pty_resized') queue = queue.then(() => void (active && s.term.resize(ev.cols, ev.rows)));
        }
      }
      queue = queue.then(changed);
    };
    /** Applies held chunks that come next, and forgets those already applied. */
    const drain = () => {
      for (let c = held.get(next); c; c = held.get(next)) {
        held.delete(c.seq);
        apply(c);
      }
      for (const seq of held.keys()) if (seq < next) held.delete(seq);
    };
    const catchUp = async () => {
      if (fetching) return;
      fetching = true;
      try {
        do {
          missed = false;
          for (;;) {
            const page = await api.chunks(runId, { from: next, maxBytes: 256 * 1024, limit: 1000 });
            if (!active) return;
            for (const c of page.chunks) if (c.seq === next) apply(fromApi(c));
            drain();
            if (!page.more) break;
          }
        } while (missed && active);
      } catch {
        // A dropped connection: try again shortly (and with the next live chunk).
        retry ??= setTimeout(() => {
          retry = null;
          if (active) void catchUp();
        }, 1000);
      } finally {
        fetching = false;
      }
    };
    const onChunk = (c: { runId: string; seq: number; stream: number; time: number; data: Uint8Array }) => {
      if (c.runId !== runId || c.seq < next) return;
      if (!screen || fetching || c.seq > next) {
        if (held.size < MAX_HELD) held.set(c.seq, c);
        if (!screen) return; // applied after the snapshot, unless it covers them
        // Read what is missing from the store (in order); the held ones fill what it lacks yet.
        missed = true;
        void catchUp();
        return;
      }
      apply(c);
      drain();
    };
    // From the start: chunks that arrive while the snapshot loads are held (see `held`).
    client.on('chunk', onChunk);
    void (async () => {
      try {
        const r = await api.screen(runId);
        if (!active) return;
        const snap = r.snapshot;
        screen = newScreen(snap?.cols ?? 80, snap?.rows ?? 24);
        if (snap) {
          await writeScreen(screen, snap.data);
          next = snap.seq + 1;
        }
        if (!active) return;
        changed();
        await catchUp();
      } catch {
        /* no screen: the pane shows the output as lines */
      }
    })();
    return () => {
      active = false;
      client.off('chunk', onChunk);
      if (frame) clearTimeout(frame);
      if (retry) clearTimeout(retry);
      screen?.term.dispose();
    };
  }, [client, api, runId, pty, frameMs]);
  return state;
}

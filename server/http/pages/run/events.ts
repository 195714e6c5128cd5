import { STREAM_COMMAND, STREAM_EVENT } from '../../../../protocol/frames.js';
import { itemsOfChunk } from '../../../../protocol/timeline.js';
import type { RunStore, StoredChunk } from '../../../store/types.js';
import type { EventWindow } from '../run-sections.js';

/**
 * How much of a Claude run the timeline view reads when a page opens: the newest chunks of every
 * stream, backwards from the end, until this many chunks or bytes. The raw stream-json (stream 0)
 * is about as large as the events, so this holds roughly the last megabyte of events. Bounded, so
 * a run of any length opens in the same time; older entries are a link away.
 */
export const EVENT_WINDOW = { limit: 3000, maxBytes: 2 * 1024 * 1024 };

/** The events (stream 3) and command output (stream 2) among chunks read for a page. */
export function eventWindowOf(chunks: readonly StoredChunk[], before: number): EventWindow {
  const items = [];
  const commandChunks: StoredChunk[] = [];
  for (const c of chunks) {
    if (c.stream === STREAM_EVENT) items.push(...itemsOfChunk(c));
    else if (c.stream === STREAM_COMMAND) commandChunks.push(c);
  }
  return { items, commandChunks, firstSeq: chunks[0]?.seq ?? before, lastSeq: Math.max(0, before - 1) };
}

/** Reads the event window before `before` (backwards, bounded). */
export async function readEventWindow(store: RunStore, runId: string, before: number): Promise<EventWindow> {
  return eventWindowOf(await store.readChunksBefore(runId, before, EVENT_WINDOW), before);
}

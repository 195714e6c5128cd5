import type { RunSummary } from '../../../protocol/run.js';
import type { TimelineItem } from '../../../protocol/timeline.js';
import type { Principal } from '../../auth/operator-auth.js';
import type { RunView } from '../../render/run-view.js';
import type { LiveChunk } from '../../live/bus.js';
import type { StoredChunk } from '../../store/types.js';
import type { SseEvent } from '../sse.js';
import type { ViewData } from '../views.js';

/**
 * Extension points of the run page (`/runs/:id`). Each feature fills one slot; the page lays the
 * slots out in a fixed order (views/pages/run.eta) around the output:
 *
 *   approvals   pending permission requests, Approve / Deny / Always allow   (above: urgent)
 *   session     a Claude session's mode and model, switches, Stop this turn (above)
 *   timeline    the readable Claude Code timeline                           (above)
 *   machine     where a machine-started run runs, previous/next, Continue  (below)
 *   input       the follow-up prompt box, or keys for a --pty run           (below)
 *   commands    the runner's allowlisted commands as buttons, their output (below)
 *   artifacts   logs, diffs, files; Collect                                 (below)
 *   assist      tmate assist session, operators only                        (below)
 *
 * A section renders `views/partials/run/<id>.eta` with the data it returns (null: nothing for
 * this run or this viewer). The page wraps each slot in `<div id="run-<id>">`, which takes the
 * SSE event `<id>-section` (the whole section again, when what it offers changes). Live updates
 * ride the run page's one SSE stream: `live()` is called once per open stream and may send its
 * own events (names prefixed with the section id, so sections never collide). Forms inside
 * sections post to their own routes (`pageRoute`: session, same-origin, CSRF) with the page's
 * CSRF token (`it.csrf`) and check roles of their own.
 */
export type RunSectionId = 'approvals' | 'session' | 'timeline' | 'machine' | 'input' | 'commands' | 'artifacts' | 'assist';

/** Which main view the page shows: Claude's timeline, the raw output as text, or a pty run's terminal (xterm.js). */
export type RunPageView = 'timeline' | 'raw' | 'terminal';

/** Runner events and command output (streams 3 and 2) of a window of a run, read once and shared by the sections. */
export interface EventWindow {
  items: TimelineItem[];
  /** Chunks of allowlisted-command output (stream 2), oldest first. */
  commandChunks: StoredChunk[];
  /** The first seq the window covers (1: the whole run). */
  firstSeq: number;
  /** The last seq covered. */
  lastSeq: number;
}

export interface SectionCtx {
  run: RunSummary;
  viewer: Principal;
  csrf: string;
  /** The viewer's address, for audit entries a section writes (showing assist links). */
  from: string | null;
  view: RunPageView;
  /** The window of events up to where the page (or the live stream) starts (read before the sections render). */
  events(): EventWindow;
}

export interface SectionLive {
  /** A committed chunk of the run (any stream, events parsed once), before the page hears of it as output. */
  onChunk?(chunk: LiveChunk): void;
  /** The run changed (coalesced: at most a few times a second). */
  onRun?(run: RunSummary): void;
  /** Send now whatever is held back (the stream is about to say `end`). */
  flush?(): void;
  /**
   * The first chunk seq whose changes this section holds back, if any: the stream's resume point
   * (its event id) stays below it, so a page that reconnects meanwhile gets that change again.
   */
  holding?(): number | null;
  close?(): void;
}

export interface RunSection {
  id: RunSectionId;
  /** Data for the section's partial, or null to leave it out. Called on every page render (may read the store). */
  data(c: SectionCtx): ViewData | null | Promise<ViewData | null>;
  /**
   * What the section's offer depends on (the runner connected, the run not final, the commands it
   * advertised…). When it changes on a live page, the section is rendered again and sent whole
   * (`<id>-section`). Without it the section is rendered once per page.
   */
  key?(run: RunSummary, viewer: Principal): string;
  /**
   * For one open live stream of the page: what the section sends as things happen. `send` writes
   * an SSE event without an id (ids are the output's resume points), so a section's events must
   * be safe to receive twice: the page merges them by element id.
   */
  live?(c: SectionCtx, send: (ev: SseEvent) => void): SectionLive | null;
}

/** The order of the slots on the page. */
export const SLOTS_ABOVE_OUTPUT: readonly RunSectionId[] = ['approvals', 'session', 'timeline'];
export const SLOTS_BELOW_OUTPUT: readonly RunSectionId[] = ['machine', 'input', 'commands', 'artifacts', 'assist'];

export interface RenderedSection {
  id: RunSectionId;
  /** Null: nothing to show yet (the slot is still there for live updates). */
  data: ViewData | null;
}

/** What every section partial gets besides its own data. */
export function partialData(data: ViewData, run: RunView, csrf: string): ViewData {
  return { ...data, run, csrf };
}

/** The sections of a run for a viewer, split by where they go. */
export async function sectionsFor(c: SectionCtx, sections: readonly RunSection[]): Promise<{ above: RenderedSection[]; below: RenderedSection[] }> {
  const pick = (slots: readonly RunSectionId[]) =>
    Promise.all(slots.flatMap((id) => sections.filter((s) => s.id === id).map(async (s) => ({ id, data: await s.data(c) }))));
  return { above: await pick(SLOTS_ABOVE_OUTPUT), below: await pick(SLOTS_BELOW_OUTPUT) };
}

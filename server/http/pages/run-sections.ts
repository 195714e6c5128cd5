import type { RunSummary } from '../../../protocol/run.js';
import type { Principal } from '../../auth/operator-auth.js';
import type { StoredChunk } from '../../store/types.js';
import type { SseEvent } from '../sse.js';

/**
 * Extension points of the run page (`/runs/:id`). Each later feature fills one slot; the page
 * lays the slots out in a fixed order (views/pages/run.eta) around the live output:
 *
 *   approvals   pending permission requests, Approve / Deny           (above the output: urgent)
 *   timeline    the readable Claude Code timeline                     (above the output)
 *   commands    the runner's allowlisted commands as buttons          (below the output)
 *   input       the follow-up prompt box                              (below the output)
 *   artifacts   logs, diff, files                                     (below the output)
 *   assist      tmate assist session                                  (below the output)
 *
 * A section renders `views/partials/run/<id>.eta` with the data it returns (null: nothing for
 * this run or this viewer). Live updates ride the run page's one SSE stream: a section may turn
 * committed chunks (e.g. runner events on stream 3) and run changes into SSE events, which its
 * partial receives with `sse-swap="<event name>"`. Event names must be prefixed with the section
 * id (`approvals-…`) so sections never collide. Forms inside sections post to their own routes
 * with the page's CSRF token (`it.csrf`) and role checks of their own.
 */
export type RunSectionId = 'approvals' | 'timeline' | 'commands' | 'input' | 'artifacts' | 'assist';

export interface RunSection {
  id: RunSectionId;
  /** Data for the section's partial, or null to leave it out. Called on every page render. */
  data(run: RunSummary, viewer: Principal): Record<string, unknown> | null;
  /** SSE events for a committed chunk of this run (any stream). */
  onChunk?(run: RunSummary, chunk: StoredChunk, viewer: Principal): SseEvent[];
  /** SSE events when the run's state changes. */
  onRun?(run: RunSummary, viewer: Principal): SseEvent[];
}

/** Registered sections. Empty until the features that fill them land. */
export const RUN_SECTIONS: RunSection[] = [];

/** The order of the slots on the page. */
export const SLOTS_ABOVE_OUTPUT: readonly RunSectionId[] = ['approvals', 'timeline'];
export const SLOTS_BELOW_OUTPUT: readonly RunSectionId[] = ['commands', 'input', 'artifacts', 'assist'];

export interface RenderedSection {
  id: RunSectionId;
  data: Record<string, unknown>;
}

/** The sections that have something to show, split by where they go. */
export function sectionsFor(run: RunSummary, viewer: Principal, sections: readonly RunSection[] = RUN_SECTIONS): { above: RenderedSection[]; below: RenderedSection[] } {
  const pick = (slots: readonly RunSectionId[]) =>
    slots.flatMap((id) => sections.filter((s) => s.id === id).flatMap((s) => {
      const data = s.data(run, viewer);
      return data ? [{ id, data }] : [];
    }));
  return { above: pick(SLOTS_ABOVE_OUTPUT), below: pick(SLOTS_BELOW_OUTPUT) };
}

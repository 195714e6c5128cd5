import { createHash } from 'node:crypto';
import { LiveTextView, type OperatorLiveText } from '../../../../protocol/claude-live.js';
import { renderLiveHtml } from '../../../render/timeline-html.js';
import type { SseEvent } from '../../sse.js';
import type { BrowserDeps } from '../browser.js';
import type { SectionCtx } from '../run-sections.js';

/** The growing entry is sent at most this often per page (the runner already gathers deltas for 100 ms). */
const LIVE_PAGE_MS = 250;

/** The element key of a live entry: a hash, so nothing the runner sent ends up in an id. */
function liveKey(messageId: string, block: number): string {
  return createHash('sha256').update(`${messageId}\u0000${block}`).digest('hex').slice(0, 16);
}

/**
 * Live text on the run page (protocol/claude-live.ts): the reply Claude is writing, as one growing
 * timeline entry (`timeline-entries`, merged by id like every entry), sent at most every
 * LIVE_PAGE_MS, hidden once the stored message (or the turn's end) supersedes it. Returns the
 * stop function.
 */
export function followLiveText(d: BrowserDeps, c: SectionCtx, send: (ev: SseEvent) => void): () => void {
  const runId = c.run.id;
  const view = new LiveTextView();
  let timer: NodeJS.Timeout | null = null;
  const flush = () => {
    timer = null;
    if (view.messageId === null) return;
    send({ event: 'timeline-entries', data: renderLiveHtml(liveKey(view.messageId, view.block), view.text).toString() });
  };
  const onLive = (m: OperatorLiveText) => {
    if (m.runId !== runId) return;
    if (m.done) {
      if (m.messageId !== view.messageId || m.block !== view.block) return;
      if (timer) clearTimeout(timer);
      timer = null;
      const key = liveKey(m.messageId, m.block);
      view.clear();
      send({ event: 'timeline-entries', data: renderLiveHtml(key, null).toString() });
      return;
    }
    view.apply(m);
    timer ??= setTimeout(flush, LIVE_PAGE_MS);
  };
  const off = d.bus.on('live', onLive, { run: runId });
  const now = d.powers.liveText.snapshot(runId);
  if (now) onLive(now);
  return () => {
    off();
    if (timer) clearTimeout(timer);
  };
}

import { MAX_LIVE_TEXT, type OperatorLiveText, type RunnerLiveText } from '../../protocol/claude-live.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import type { EventBus } from '../live/bus.js';

interface Current {
  messageId: string;
  block: number;
  text: string;
}

/**
 * The reply Claude is writing in each run (protocol/claude-live.ts): in memory only, one text per
 * run, at most MAX_LIVE_TEXT characters. Runners report it in pieces; viewers hear each piece on
 * the bus (`live`), and a viewer that starts watching mid-reply asks for `current`. The stored
 * `claude_text` (or the turn's result, or the run's end) supersedes it: it is dropped, and
 * viewers hear `done`.
 */
export class LiveTextService {
  private readonly current = new Map<string, Current>();

  constructor(private readonly o: { bus: EventBus }) {}

  /** A piece from the runner. Out-of-order or overflowing pieces are ignored (the stored message follows anyway). */
  report(runId: string, m: RunnerLiveText): void {
    let cur = this.current.get(runId);
    if (m.offset === 0) {
      if (cur && (cur.messageId !== m.messageId || cur.block !== m.block)) this.finish(runId);
      cur = { messageId: m.messageId, block: m.block, text: '' };
      this.current.set(runId, cur);
    } else if (!cur || cur.messageId !== m.messageId || cur.block !== m.block || cur.text.length !== m.offset) {
      return;
    }
    const room = MAX_LIVE_TEXT - cur.text.length;
    if (room <= 0 || !m.text) return;
    const piece = m.text.slice(0, room);
    const offset = cur.text.length;
    cur.text += piece;
    this.o.bus.publish('live', { type: 'live_text', runId, messageId: cur.messageId, block: cur.block, offset, text: piece, done: false });
  }

  /** The whole current text of a run, as one message from offset 0 (for a viewer that starts watching), or null. */
  snapshot(runId: string): OperatorLiveText | null {
    const cur = this.current.get(runId);
    return cur ? { type: 'live_text', runId, messageId: cur.messageId, block: cur.block, offset: 0, text: cur.text, done: false } : null;
  }

  /** Committed events: a complete message, a result or the run's end supersede the live text. */
  onEvents(runId: string, events: readonly RunnerEvent[]): void {
    if (!this.current.has(runId)) return;
    if (events.some((e) => e.type === 'claude_text' || e.type === 'claude_result' || e.type === 'claude_ended' || e.type === 'input_closed')) this.finish(runId);
  }

  /** The run ended or its runner left: nothing more will follow. */
  onRunGone(runId: string): void {
    if (this.current.has(runId)) this.finish(runId);
  }

  private finish(runId: string): void {
    const cur = this.current.get(runId);
    if (!cur) return;
    this.current.delete(runId);
    this.o.bus.publish('live', { type: 'live_text', runId, messageId: cur.messageId, block: cur.block, offset: cur.text.length, text: '', done: true });
  }
}

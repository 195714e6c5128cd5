import { MAX_LIVE_CHUNK, MAX_LIVE_TEXT, type LiveDelta, type RunnerLiveText } from '../../protocol/claude-live.js';

/** Pieces go out at most this often: a fast model's many small deltas become a few messages. */
export const LIVE_FLUSH_MS = 100;

/**
 * Forwards Claude's reply text as it is written (protocol/claude-live.ts): deltas of one block
 * are gathered for up to LIVE_FLUSH_MS and sent as one `live_text` piece. Memory is bounded: only
 * the current block's length and unsent text are kept, and nothing past MAX_LIVE_TEXT is sent.
 */
export class LiveForwarder {
  private messageId: string | null = null;
  private block = -1;
  /** Characters of the current block sent so far. */
  private sent = 0;
  private pending = '';
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly send: (m: RunnerLiveText) => void) {}

  delta(d: LiveDelta): void {
    if (d.messageId !== this.messageId || d.block !== this.block) {
      this.flush();
      this.messageId = d.messageId;
      this.block = d.block;
      this.sent = 0;
      this.pending = '';
    }
    const room = MAX_LIVE_TEXT - this.sent - this.pending.length;
    if (room <= 0) return;
    this.pending += d.text.slice(0, room);
    if (this.pending.length >= MAX_LIVE_CHUNK) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), LIVE_FLUSH_MS);
  }

  /** Sends what is pending now (also when the complete message arrives, so nothing lags behind it). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.pending && this.messageId !== null) {
      const text = this.pending.slice(0, MAX_LIVE_CHUNK);
      this.pending = this.pending.slice(text.length);
      this.send({ type: 'live_text', messageId: this.messageId, block: this.block, offset: this.sent, text });
      this.sent += text.length;
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = '';
  }
}

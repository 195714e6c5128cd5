import { LiveTextView, type OperatorLiveText } from '../../protocol/claude-live.js';
import { visibleText } from '../../protocol/terminal-escapes.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';

/**
 * Live text in a terminal stream (`ccg runs events --follow`): Claude's reply printed as it is
 * written, in the very format TextTimeline prints the complete message ("◆ Claude: " and two
 * spaces before every further line), so that when the stored message arrives and matches, nothing
 * is printed twice; when it differs (a piece was missed, the text was cut), the stored message is
 * printed in full after it.
 *
 * Every piece goes through the one escape reader (visibleText): an escape sequence split across
 * two pieces loses its ESC in the first and prints the rest as plain text.
 */
export class LiveTextPrinter {
  private readonly view = new LiveTextView();
  /** Characters of the current live text already printed, and whether a line is open. */
  private printed = 0;
  private open = false;
  /**
   * The live text last printed in full and ended (its `done` came, or another message began):
   * the stored message may still arrive after that (a viewer catching up from the store gets
   * the chunk later than the `done`), and is then not printed a second time.
   */
  private shown: { messageId: string; text: string } | null = null;

  constructor(private readonly write: (s: string) => void) {}

  onLive(m: OperatorLiveText): void {
    const before = this.view.messageId === null ? null : `${this.view.messageId}\u0000${this.view.block}`;
    const was = this.open && this.view.messageId !== null ? { messageId: this.view.messageId, text: this.view.text } : null;
    const text = this.view.apply(m);
    const now = this.view.messageId === null ? null : `${this.view.messageId}\u0000${this.view.block}`;
    if (now !== before) {
      if (was) this.shown = was;
      this.end();
    }
    if (text === null) return;
    if (!this.open) {
      this.write('◆ Claude: ');
      this.open = true;
      this.printed = 0;
    }
    if (text.length > this.printed) {
      this.write(visibleText(text.slice(this.printed), { tab: '    ', cr: 'newline' }).replace(/\n/g, '\n  '));
      this.printed = text.length;
    }
  }

  /**
   * Before a stored event is printed: ends the live line. True when the event is the message the
   * live text already showed in full (print nothing more for it).
   */
  beforeEvent(ev: RunnerEvent): boolean {
    const whole = ev.type === 'claude_text' && ev.parentToolUseId === null && ev.error === null && !ev.truncated;
    const shown = this.shown;
    this.shown = null; // only the next event can be the one it showed
    if (!this.open) return whole && shown !== null && ev.messageId === shown.messageId && ev.text === shown.text;
    const same = whole && ev.messageId === this.view.messageId && ev.text === this.view.text;
    // Any other line ends the live one (printed again in full if more of it comes).
    this.end();
    if (ev.type === 'claude_text' || ev.type === 'claude_result' || ev.type === 'claude_ended') this.view.clear();
    return same;
  }

  private end(): void {
    if (!this.open) return;
    this.write('\n');
    this.open = false;
    this.printed = 0;
  }
}

import { z } from 'zod';
import { MAX_TEXT } from './claude-events.js';

/**
 * Live text: Claude's reply as it is written (`claude --include-partial-messages`).
 *
 * Claude Code 2.1.331 prints each Messages API server-sent event as a stdout line
 * `{"type":"stream_event","event":{…},"parent_tool_use_id":…,"api_message_id":"msg_…"}`; the text
 * of a reply arrives as `content_block_delta` events with `delta.type` `text_delta`. The whole
 * message follows as an `assistant` line once the block is complete.
 *
 * Partial text is not a timeline event. It never goes into the run's spooled, stored event stream
 * (stream 3): the `claude_text` event that follows carries the same text, so storing the deltas
 * would double every reply in the store and in every replay, and a reader that missed them loses
 * nothing. Instead the runner sends them as `live_text` messages on its socket (dropped while it
 * is disconnected), the gateway keeps the current one in memory per run (so a viewer that opens
 * the page mid-reply sees it) and fans it out; viewers replace it with the stored message when
 * that arrives. Sizes are bounded everywhere: one growing text per run, at most MAX_TEXT
 * characters (the same cap as the stored message); the runner stops forwarding past it.
 */

/** One `live_text` message carries at most this many characters: even escaped as \\uXXXX each, it stays well under the runner socket's 64 KiB text frame limit. */
export const MAX_LIVE_CHUNK = 8 * 1024;
/** The live text of one block is shown up to this many characters (as the stored message). */
export const MAX_LIVE_TEXT = MAX_TEXT;

const MessageId = z.string().min(1).max(200);

/**
 * Runner → gateway: `text` continues the live text of block `block` of message `messageId` at
 * character `offset` (0 starts a new one). Strict: nothing else rides along.
 */
export const RunnerLiveText = z
  .object({
    type: z.literal('live_text'),
    messageId: MessageId,
    block: z.number().int().min(0).max(10_000),
    offset: z.number().int().min(0).max(MAX_LIVE_TEXT),
    text: z.string().max(MAX_LIVE_CHUNK),
  })
  .strict();
export type RunnerLiveText = z.infer<typeof RunnerLiveText>;

/**
 * Gateway → operator (socket) and the bus: the same, for one run. A subscriber first gets the
 * whole current text (offset 0), then what follows. `done`: the block ended or the stored
 * message superseded it; drop it.
 */
export const OperatorLiveText = z.object({
  type: z.literal('live_text'),
  runId: z.string(),
  messageId: MessageId,
  block: z.number().int().min(0),
  offset: z.number().int().min(0),
  text: z.string().max(MAX_LIVE_TEXT),
  done: z.boolean(),
});
export type OperatorLiveText = z.infer<typeof OperatorLiveText>;

/** A text delta read from one `stream_event` line of the main conversation. */
export interface LiveDelta {
  messageId: string;
  block: number;
  text: string;
}

const StreamEventLine = z.looseObject({
  type: z.literal('stream_event'),
  event: z.looseObject({ type: z.string() }),
  parent_tool_use_id: z.string().nullable().optional(),
  api_message_id: z.string().optional(),
});
const TextDelta = z.looseObject({
  type: z.literal('content_block_delta'),
  index: z.number().int().min(0).max(10_000),
  delta: z.looseObject({ type: z.literal('text_delta'), text: z.string() }),
});

/**
 * Reads a parsed `stream_event` line: a text delta of the main conversation, or null (other
 * events, thinking and tool input deltas, and subagents' deltas, whose messages show in their
 * group once complete). Never throws.
 */
export function liveDeltaOf(value: unknown): LiveDelta | null {
  const line = StreamEventLine.safeParse(value);
  if (!line.success || line.data.parent_tool_use_id || !line.data.api_message_id) return null;
  const d = TextDelta.safeParse(line.data.event);
  if (!d.success || !d.data.delta.text) return null;
  return { messageId: line.data.api_message_id.slice(0, 200), block: d.data.index, text: d.data.delta.text };
}

/**
 * The live text of one run as a viewer keeps it: `apply` each message in order; it returns the
 * text to show (null: none now). Appends only at the exact offset, so a lost piece never garbles
 * the text (it waits for the stored message instead).
 */
export class LiveTextView {
  messageId: string | null = null;
  block = -1;
  text = '';

  apply(m: Pick<OperatorLiveText, 'messageId' | 'block' | 'offset' | 'text' | 'done'>): string | null {
    if (m.done) {
      if (m.messageId === this.messageId && m.block === this.block) this.clear();
      return this.messageId ? this.text : null;
    }
    if (m.offset === 0) {
      this.messageId = m.messageId;
      this.block = m.block;
      this.text = m.text.slice(0, MAX_LIVE_TEXT);
    } else if (m.messageId === this.messageId && m.block === this.block && m.offset === this.text.length) {
      this.text = (this.text + m.text).slice(0, MAX_LIVE_TEXT);
    }
    return this.messageId ? this.text : null;
  }

  clear(): void {
    this.messageId = null;
    this.block = -1;
    this.text = '';
  }
}

/**
 * Lines Claude Code prints only because of --include-partial-messages: its `stream_event` lines
 * and the per-request `{"type":"system","subtype":"status","status":"requesting"}`. The runner
 * keeps them out of the run's stored output (stream 0) and timeline: they are live text, or say
 * nothing the stored message does not. Claude Code writes `type` first; a line that does not is
 * kept, as before.
 */
export function isPartialOnlyLine(line: string): boolean {
  if (line.startsWith('{"type":"stream_event"')) return true;
  return line.startsWith('{"type":"system","subtype":"status","status":"requesting"') && !line.includes('"permissionMode"');
}

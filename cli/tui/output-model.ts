import { StringDecoder } from 'node:string_decoder';
import { STREAM_COMMAND, STREAM_EVENT } from '../../protocol/frames.js';
import { displayWidth, plainText, sanitizeLine, type Segment, type Style } from './sanitize.js';

/** One chunk of a run's output, as the operator socket or the chunks API delivers it. */
export interface ModelChunk {
  seq: number;
  stream: number;
  data: Uint8Array;
  /** Gateway time (ms) when it was received; 0 when unknown. */
  time?: number;
}

/** A display line: sanitized segments, never raw runner bytes. */
export interface OutputLine {
  /** Unique within a model (for React keys). */
  id: number;
  stream: number;
  /** The chunk the line started in. */
  seq: number;
  segments: Segment[];
  width: number;
}

/** Turns one runner event (a JSON line of stream 3) into a line for people, or null to skip it. */
export type EventDescriber = (event: Record<string, unknown>) => string | null;

/** A line an event renderer produced: plain text (it is sanitized again) and a style. */
export interface EventLine {
  text: string;
  style?: Style;
}

/**
 * Turns runner events into lines. It may keep state between events (a tool result printed under
 * its call's name), so a lens makes a fresh one whenever the lines are rebuilt from the chunks.
 */
export type EventRenderer = (event: Record<string, unknown>, at: { seq: number; time: number; index: number }) => readonly EventLine[];

/**
 * How a run's output reads: which streams are left out and how runner events are shown. The
 * Claude timeline is a lens (stream-json hidden, events as the readable timeline); the raw view
 * is the default lens. Switching lenses rebuilds the lines from the loaded chunks.
 */
export interface OutputLens {
  /** A name for the title bar ("timeline", "raw"). */
  name: string;
  /** Streams not shown at all. */
  hide?: readonly number[];
  /**
   * A fresh event renderer (called at every rebuild), given the model's describer for events it
   * does not know; default: one dim line per event by `describe`.
   */
  events?: (describe: EventDescriber) => EventRenderer;
}

export const RAW_LENS: OutputLens = { name: 'raw' };

/** The default: the allowlisted-command events of protocol/runner-events.ts; unknown types by name. */
export const describeEvent: EventDescriber = (ev) => {
  const name = typeof ev['name'] === 'string' ? ev['name'] : '?';
  switch (ev['type']) {
    case 'exec_started':
      return `» ${name} started`;
    case 'exec_refused':
      return `» ${name} refused by the runner: ${String(ev['reason'] ?? '')}`;
    case 'exec_exit': {
      const how = ev['timedOut'] ? 'timed out' : ev['signal'] ? `killed by ${String(ev['signal'])}` : `exited ${String(ev['code'])}`;
      const ms = typeof ev['durationMs'] === 'number' ? ` in ${(ev['durationMs'] / 1000).toFixed(1)}s` : '';
      return `» ${name} ${how}${ms}${ev['truncated'] ? ' (output truncated)' : ''}`;
    }
    default:
      return typeof ev['type'] === 'string' ? `» ${ev['type'].slice(0, 40)}` : null;
  }
};

/** Characters after which an unfinished line is cut into a line of its own. */
export const MAX_LINE = 16 * 1024;

export interface OutputModelOptions {
  /** Past this many bytes of loaded chunks, the oldest are dropped (they page back in on scroll). */
  maxBytes?: number;
  describe?: EventDescriber;
  lens?: OutputLens;
}

/**
 * The loaded window of one run's output: contiguous chunks (the truth) and the display lines
 * derived from them. New chunks append incrementally; older pages prepend (scroll back) and
 * trimming the front rebuild the lines from the chunks. Lines break where the stream changes, so
 * a command's output never glues onto the child's half-written line.
 */
export class OutputModel {
  private chunks: ModelChunk[] = [];
  private bytes = 0;
  private lineList: OutputLine[] = [];
  private partial: { stream: number; seq: number; raw: string } | null = null;
  private partialLine: OutputLine | null = null;
  private decoders = new Map<number, StringDecoder>();
  private style: Style = {};
  private nextId = 1;
  private readonly maxBytes: number;
  private readonly describe: EventDescriber;
  private lensValue: OutputLens;
  private hidden: ReadonlySet<number>;
  private renderEvent: EventRenderer;
  /** Bumped on every change: a cheap way for React to notice. */
  version = 0;
  /**
   * Lines ever started at the end (not counting rebuilds): the difference between two readings is
   * how many lines arrived below, which keeps a scrolled-back view still while output flows.
   */
  appended = 0;
  /** Chunks that arrived after a gap in the sequence (should stay 0; shown when not). */
  gaps = 0;
  private rebuilding = false;

  constructor(opts: OutputModelOptions = {}) {
    this.maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
    this.describe = opts.describe ?? describeEvent;
    this.lensValue = opts.lens ?? RAW_LENS;
    this.hidden = new Set(this.lensValue.hide ?? []);
    this.renderEvent = this.freshRenderer();
  }

  get lens(): OutputLens {
    return this.lensValue;
  }

  /** Shows the loaded output through another lens (the lines are rebuilt from the chunks). */
  setLens(lens: OutputLens): void {
    if (lens === this.lensValue) return;
    this.lensValue = lens;
    this.hidden = new Set(lens.hide ?? []);
    this.rebuild();
    this.version++;
  }

  private freshRenderer(): EventRenderer {
    if (this.lensValue.events) return this.lensValue.events(this.describe);
    const describe = this.describe;
    return (ev) => {
      const text = describe(ev);
      return text === null ? [] : [{ text, style: { dim: true } }];
    };
  }

  /** Seq of the oldest loaded chunk (undefined when empty). */
  get firstSeq(): number | undefined {
    return this.chunks[0]?.seq;
  }

  get lastSeq(): number | undefined {
    return this.chunks.at(-1)?.seq;
  }

  get lines(): readonly OutputLine[] {
    return this.partialLine ? [...this.lineList, this.partialLine] : this.lineList;
  }

  get lineCount(): number {
    return this.lineList.length + (this.partialLine ? 1 : 0);
  }

  /** Line `i` counted from the end (0 = the newest, possibly unfinished, line). */
  fromEnd(i: number): OutputLine | undefined {
    if (this.partialLine) {
      if (i === 0) return this.partialLine;
      i--;
    }
    return this.lineList[this.lineList.length - 1 - i];
  }

  /** Appends newer chunks. A chunk that does not continue the loaded range is ignored (the client de-duplicates). */
  append(chunks: readonly ModelChunk[]): void {
    for (const c of chunks) {
      const last = this.lastSeq;
      if (last !== undefined && c.seq <= last) continue; // already have it
      if (last !== undefined && c.seq !== last + 1) this.gaps++;
      this.chunks.push(c);
      this.bytes += c.data.length;
      this.feed(c);
    }
    if (this.bytes > this.maxBytes) this.trim();
    this.version++;
  }

  /** Prepends an older page that ends right before the loaded range; returns false if it does not fit. */
  prepend(older: readonly ModelChunk[]): boolean {
    if (older.length === 0) return false;
    const first = this.firstSeq;
    if (first !== undefined && older.at(-1)!.seq !== first - 1) return false;
    for (let i = 1; i < older.length; i++) if (older[i]!.seq !== older[i - 1]!.seq + 1) return false;
    this.chunks = [...older, ...this.chunks];
    this.bytes += older.reduce((n, c) => n + c.data.length, 0);
    this.rebuild();
    this.version++;
    return true;
  }

  clear(): void {
    this.chunks = [];
    this.bytes = 0;
    this.reset();
    this.version++;
  }

  private reset(): void {
    this.lineList = [];
    this.partial = null;
    this.partialLine = null;
    this.decoders.clear();
    this.style = {};
    this.renderEvent = this.freshRenderer();
  }

  private rebuild(): void {
    this.reset();
    this.rebuilding = true;
    try {
      for (const c of this.chunks) this.feed(c);
    } finally {
      this.rebuilding = false;
    }
  }

  private started(): void {
    if (!this.rebuilding) this.appended++;
  }

  /** Keeps the newest half of the byte budget. */
  private trim(): void {
    let drop = 0;
    let bytes = this.bytes;
    while (drop < this.chunks.length - 1 && bytes > this.maxBytes / 2) bytes -= this.chunks[drop++]!.data.length;
    this.chunks = this.chunks.slice(drop);
    this.bytes = bytes;
    this.rebuild();
  }

  private decoder(stream: number): StringDecoder {
    let d = this.decoders.get(stream);
    if (!d) this.decoders.set(stream, (d = new StringDecoder('utf8')));
    return d;
  }

  private line(stream: number, seq: number, raw: string): { line: OutputLine; end: Style } {
    const s = sanitizeLine(raw, this.style);
    const prefix = prefixFor(stream);
    const segments = prefix ? [prefix, ...s.segments] : s.segments;
    return { line: { id: this.nextId++, stream, seq, segments, width: s.width + (prefix ? prefix.text.length : 0) }, end: s.end };
  }

  private finishPartial(): void {
    if (!this.partial) return;
    const p = this.partial;
    const { line, end } = this.line(p.stream, p.seq, p.raw);
    this.style = end;
    this.lineList.push(line);
    this.partial = null;
    this.partialLine = null;
  }

  private feed(c: ModelChunk): void {
    if (this.hidden.has(c.stream)) return;
    if (c.stream === STREAM_EVENT) {
      this.finishPartial();
      const text = this.decoder(c.stream).write(Buffer.from(c.data));
      let index = 0;
      for (const raw of text.split('\n')) {
        if (!raw.trim()) continue;
        let ev: unknown;
        try {
          ev = JSON.parse(raw);
        } catch {
          continue;
        }
        if (!ev || typeof ev !== 'object' || Array.isArray(ev)) continue;
        for (const out of this.renderEvent(ev as Record<string, unknown>, { seq: c.seq, time: c.time ?? 0, index: index++ })) {
          // Renderers sanitize; this is the second pass that nothing bypasses.
          const shown = plainText(out.text);
          this.started();
          this.lineList.push({ id: this.nextId++, stream: c.stream, seq: c.seq, segments: [{ text: shown, ...out.style }], width: displayWidth(shown) });
        }
      }
      return;
    }
    if (this.partial && this.partial.stream !== c.stream) this.finishPartial();
    const text = this.decoder(c.stream).write(Buffer.from(c.data));
    const parts = text.split('\n');
    for (let i = 0; i < parts.length; i++) {
      const piece = parts[i]!;
      if (i < parts.length - 1) {
        if (!this.partial) this.started();
        // A finished line is cut too: a hostile runner must not make the console parse megabytes.
        const raw = ((this.partial?.raw ?? '') + piece).slice(0, MAX_LINE);
        const seq = this.partial?.seq ?? c.seq;
        this.partial = { stream: c.stream, seq, raw };
        this.finishPartial();
      } else if (piece.length > 0) {
        if (!this.partial) this.started();
        this.partial = { stream: c.stream, seq: this.partial?.seq ?? c.seq, raw: (this.partial?.raw ?? '') + piece };
        // A line that never ends (a progress bar, a minified file) is cut, so it is not parsed
        // again in full on every chunk.
        if (this.partial.raw.length >= MAX_LINE) this.finishPartial();
      }
    }
    this.partialLine = this.partial ? this.line(this.partial.stream, this.partial.seq, this.partial.raw).line : null;
  }
}

function prefixFor(stream: number): Segment | undefined {
  return stream === STREAM_COMMAND ? { text: '│ ', dim: true } : undefined;
}

/**
 * Cuts a line into rows of at most `width` columns.
 *
 * @example
 * wrapLine({ segments: [{ text: 'abcdef' }], width: 6, … }, 4) // [[{text:'abcd'}], [{text:'ef'}]]
 */
export function wrapLine(line: OutputLine, width: number, measure: (s: string) => number): Segment[][] {
  if (line.width <= width) return [line.segments];
  const rows: Segment[][] = [];
  let row: Segment[] = [];
  let used = 0;
  for (const seg of line.segments) {
    let text = '';
    for (const ch of seg.text) {
      const w = measure(ch);
      if (used + w > width && used > 0) {
        if (text) row.push({ ...seg, text });
        rows.push(row);
        row = [];
        used = 0;
        text = '';
      }
      text += ch;
      used += w;
    }
    if (text) row.push({ ...seg, text });
  }
  if (row.length > 0) rows.push(row);
  return rows;
}

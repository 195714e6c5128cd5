import { CHILD_STREAMS } from '../../protocol/frames.js';
import { isFinal, type RunSummary } from '../../protocol/run.js';
import { showInvisible } from '../../protocol/terminal-escapes.js';
import type { RunStore, StoredChunk } from '../store/types.js';
import { AnsiHtml, ansiToText } from './ansi.js';
import { runNarrativeView, type RunNarrativeView } from './run-narrative-view.js';
import { joinHtml, type SafeHtml } from './html.js';

/** What the templates get for a run: display strings only, computed here, escaped by eta. */
export interface RunView {
  id: string;
  name: string;
  status: string;
  badge: { text: string; tone: 'neutral' | 'live' | 'wait' | 'away' | 'ok' | 'bad' | 'muted' };
  final: boolean;
  away: boolean;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  createdBy: string;
  created: { iso: string; ago: string };
  started: { iso: string; ago: string } | null;
  ended: { iso: string; ago: string } | null;
  updated: { iso: string; ago: string };
  duration: string | null;
  /** One line under the badge: when, where, how long. */
  summary: string;
  bytes: string;
  lastSeq: number;
  runner: { hostname: string; mode: string; cwd: string; command: string; version: string } | null;
  /** Cost, limit, retries, budget stop, a lost runner (run-narrative-view.ts). */
  narrative: RunNarrativeView;
}

/** Runner-supplied text shown in the header: control characters dropped, bidi controls made visible. */
function plain(s: string): string {
  return showInvisible(s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' '));
}

export function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function stamp(ms: number | null, now: number): { iso: string; ago: string } | null {
  return ms === null ? null : { iso: new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'), ago: ago(ms, now) };
}

export function badge(run: RunSummary): RunView['badge'] {
  const away = !run.runnerConnected && (run.status === 'connected' || run.status === 'running' || run.status === 'waiting');
  if (away) return { text: `${run.status} · runner ${run.runnerLostAt != null ? 'lost' : 'away'}`, tone: 'away' };
  if (run.claude?.retrying && !isFinal(run.status)) return { text: 'Claude is retrying', tone: 'wait' };
  switch (run.status) {
    case 'created':
      return { text: 'created', tone: 'neutral' };
    case 'connected':
      return { text: 'connected', tone: 'live' };
    case 'running':
      return { text: 'running', tone: 'live' };
    case 'waiting':
      return { text: 'waiting for you', tone: 'wait' };
    case 'exited':
      return { text: `exited ${run.exitCode ?? '?'}`, tone: run.exitCode === 0 ? 'ok' : 'bad' };
    case 'failed':
      return { text: 'failed', tone: 'bad' };
    case 'cancelled':
      return { text: 'cancelled', tone: 'muted' };
    case 'revoked':
      return { text: 'revoked', tone: 'bad' };
    default: {
      const never: never = run.status;
      return { text: String(never), tone: 'neutral' };
    }
  }
}

function summaryLine(run: RunSummary, now: number): string {
  const host = run.runner ? ` on ${plain(run.runner.hostname)}` : '';
  if (run.status === 'created') return `waiting for a runner · created ${ago(run.createdAt, now)}`;
  if (isFinal(run.status)) {
    const ended = run.endedAt ?? run.updatedAt;
    return `ended ${ago(ended, now)}${run.startedAt ? ` after ${duration(ended - run.startedAt)}` : ''}${host}`;
  }
  if (!run.runnerConnected) return `runner${host} disconnected; output resumes when it reconnects`;
  return `started ${ago(run.startedAt ?? run.createdAt, now)}${host}`;
}

export function runView(run: RunSummary, now: number): RunView {
  const b = badge(run);
  return {
    id: run.id,
    name: run.name,
    status: run.status,
    badge: b,
    final: isFinal(run.status),
    away: b.tone === 'away',
    exitCode: run.exitCode,
    signal: run.signal,
    reason: run.reason === null ? null : plain(run.reason),
    createdBy: run.createdBy,
    created: stamp(run.createdAt, now)!,
    started: stamp(run.startedAt, now),
    ended: stamp(run.endedAt, now),
    updated: stamp(run.updatedAt, now)!,
    duration: run.startedAt ? duration((run.endedAt ?? now) - run.startedAt) : null,
    summary: summaryLine(run, now),
    bytes: bytesText(run.bytes),
    lastSeq: run.lastSeq,
    runner: run.runner
      ? {
          hostname: plain(run.runner.hostname),
          mode: run.runner.mode,
          cwd: plain(run.runner.cwd),
          command: plain(run.runner.command.join(' ')).slice(0, 500),
          version: run.runner.version,
        }
      : null,
    narrative: runNarrativeView(run, run.runner ? plain(run.runner.hostname) : null),
  };
}

/** The last non-empty line of the child's output, as plain text (for the runs list). */
export async function lastLine(store: RunStore, run: RunSummary): Promise<string> {
  if (run.lastSeq === 0) return '';
  const chunks = (await store.readChunksBefore(run.id, run.lastSeq + 1, { limit: 16, maxBytes: 8 * 1024 })).filter((c) => CHILD_STREAMS.has(c.stream));
  const tail = Buffer.concat(chunks.map((c) => c.data)).subarray(-8 * 1024);
  const lines = ansiToText(tail).split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.at(-1) ?? '';
  return line.length > 160 ? `${line.slice(0, 159)}…` : line;
}

/** A window of output as HTML: the chunks before `before`, newest last. */
export interface OutputWindow {
  html: SafeHtml;
  /** Seq of the first chunk shown (the "earlier output" link asks for what is before it). */
  firstSeq: number;
  /** Seq of the last chunk covered (the live stream resumes after it). */
  lastSeq: number;
  hasEarlier: boolean;
  /** The chunks read (every stream), for the page's sections to reuse instead of reading again. */
  chunks: StoredChunk[];
}

/** Up to this much output is put on a page at once (about 1,500 lines of 60 characters). */
export const WINDOW_BYTES = 96 * 1024;
export const WINDOW_CHUNKS = 600;

/**
 * Streaming renderers for the child's streams, primed with the output just before where
 * rendering starts so colours that were switched on earlier carry over.
 */
export class OutputRenderer {
  private readonly renderers = new Map<number, AnsiHtml>();

  /** A renderer for output from `startSeq` on, primed with the few chunks before it. */
  static async at(store: RunStore, runId: string, startSeq: number): Promise<OutputRenderer> {
    const r = new OutputRenderer();
    if (startSeq > 1) for (const c of await store.readChunksBefore(runId, startSeq, { limit: 8, maxBytes: 16 * 1024 })) if (CHILD_STREAMS.has(c.stream)) r.of(c.stream).prime(c.data);
    return r;
  }

  private of(stream: number): AnsiHtml {
    let r = this.renderers.get(stream);
    if (!r) this.renderers.set(stream, (r = new AnsiHtml()));
    return r;
  }

  /** HTML of the child's output in these chunks (other streams are skipped). */
  render(chunks: readonly StoredChunk[]): SafeHtml {
    const out: SafeHtml[] = [];
    for (const c of chunks) if (CHILD_STREAMS.has(c.stream)) out.push(this.of(c.stream).render(c.data));
    return joinHtml(out);
  }
}

/**
 * Reads only the output window before `before` (backwards from there, so a run with a million
 * chunks costs what a run with ten does) and renders it.
 */
export async function outputWindow(store: RunStore, runId: string, before: number): Promise<OutputWindow> {
  const chunks = await store.readChunksBefore(runId, before, { limit: WINDOW_CHUNKS, maxBytes: WINDOW_BYTES });
  const firstSeq = chunks[0]?.seq ?? before;
  const html = (await OutputRenderer.at(store, runId, firstSeq)).render(chunks);
  return { html, firstSeq, lastSeq: Math.max(0, before - 1), hasEarlier: firstSeq > 1, chunks };
}

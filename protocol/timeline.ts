import type { ApprovalInfo, ApprovalResolved, ClaudeInit, ClaudeResult, ClaudeToolResult } from './claude-events.js';
import { RunnerEvent, type RunnerEvent as RunnerEventT } from './runner-events.js';
import { modeLabel } from './claude-steer.js';
import { agentLabel, claudeEndedText, MAX_GROUP_CHILDREN, systemFold, type AgentGroup } from './timeline-narrative.js';

/** How deep subagent groups nest in a timeline: deeper steps are shown in the deepest group. */
export const MAX_AGENT_DEPTH = 8;
/**
 * How many steps one top-level call's groups gather in all before later ones go into its own
 * group only (bounded like every group): a page re-renders the whole top-level entry when a step
 * changes, and 200 subagents of 200 steps each were 11 MB of HTML and 1.5 s a render.
 */
export const MAX_TREE_STEPS = 400;

/**
 * The readable timeline of a run, built from its runner events (stream 3): pure data, shared by
 * the phone's HTML renderer (server/render/timeline-html.ts), the terminal renderer
 * (cli/render/timeline-text.ts), the TUI and `ccg runs events`.
 *
 * A tool call, its approval and its result become one entry, so a viewer sees "Bash: npm test —
 * approved by alice — exit 0" in one place.
 */

/** One event with where it sits in the run's output. */
export interface TimelineItem {
  seq: number;
  time: number;
  /** Position among the events of the same chunk (0 for the first; usually the only one). */
  index?: number;
  event: RunnerEventT;
}

export interface ApprovalState {
  info: ApprovalInfo;
  resolved: Omit<ApprovalResolved, 'type'> | null;
}

interface Base {
  /** Stable and unique within the run: the seq of the event that opened the entry (plus `-index` when a chunk held several). Use as `id="tl-<id>"`. */
  id: string;
  /** The seq of the event that opened the entry. */
  seq: number;
  time: number;
}

export type TimelineEntry =
  | (Base & { kind: 'session'; init: ClaudeInit })
  | (Base & { kind: 'text'; text: string; truncated: boolean; error: string | null; sub: boolean })
  | (Base & { kind: 'thinking'; text: string; truncated: boolean; sub: boolean })
  | (Base & {
      kind: 'tool';
      toolUseId: string;
      name: string;
      input: unknown;
      inputTruncated: boolean;
      sub: boolean;
      result: (ClaudeToolResult & { seq: number; time: number }) | null;
      approval: ApprovalState | null;
      /** Set once the call turned out to start a subagent (a Task): its label and what it did (grouping.ts). */
      agent?: AgentGroup;
    })
  | (Base & { kind: 'prompt'; by: string; text: string | null; bytes: number; initial: boolean })
  | (Base & { kind: 'user'; text: string })
  | (Base & { kind: 'result'; result: ClaudeResult; /** This turn's share of the session total, when the window saw the previous total. */ turnCostUsd: number | null })
  | (Base & { kind: 'system'; subtype: string; summary: string; raw: string })
  | (Base & { kind: 'raw'; label: string; raw: string; truncated: boolean })
  | (Base & { kind: 'approval'; approval: ApprovalState })
  | (Base & { kind: 'notice'; level: 'info' | 'warn'; text: string });

export type TimelineKind = TimelineEntry['kind'];

function fmtDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/**
 * Builds the timeline incrementally: `add` each item in seq order; it returns the entries that
 * appeared or changed (a tool entry changes when its approval or result arrives; a runner's
 * approvals_sync may bring several approvals at once).
 *
 * @example
 * const tl = new Timeline();
 * for (const item of items) tl.add(item);
 * render(tl.entries);
 */
const NO_ENTRIES: readonly TimelineEntry[] = Object.freeze([]);

export interface TimelineOptions {
  /**
   * Who resolved an approval, for a reader that can vouch for it (the gateway: only the answer
   * it holds from an operator credits that operator). Without it, the event's own `by`: what the
   * runner says.
   */
  creditFor?: (ev: Extract<RunnerEvent, { type: 'approval_resolved' }>) => string;
}

export class Timeline {
  constructor(private readonly o: TimelineOptions = {}) {}

  readonly entries: TimelineEntry[] = [];
  private readonly tools = new Map<string, Extract<TimelineEntry, { kind: 'tool' }>>();
  private readonly approvals = new Map<string, ApprovalState>();
  private readonly approvalEntries = new Map<string, TimelineEntry>();
  private lastSeq = 0;
  /** The top-level entry each subagent's group sits in (nested subagents share their outermost one). */
  private readonly roots = new Map<string, TimelineEntry>();
  /** For each call inside a subagent's group: that group's call, and how deep it sits (1: in a top-level call's group). */
  private readonly holders = new Map<string, { holder: Extract<TimelineEntry, { kind: 'tool' }>; depth: number }>();
  /** Steps put into each top-level call's groups so far. */
  private readonly treeSteps = new Map<TimelineEntry, number>();
  /** The session total seen last (null: not known in this window), for each result's per-turn cost. */
  private sessionCost: number | null = null;

  add(item: TimelineItem): readonly TimelineEntry[] {
    const changed = this.step(item);
    return changed === null ? NO_ENTRIES : Array.isArray(changed) ? changed : [changed as TimelineEntry];
  }

  private step(item: TimelineItem): TimelineEntry | readonly TimelineEntry[] | null {
    if (item.seq < this.lastSeq) return null;
    this.lastSeq = item.seq;
    const { seq, time, event: ev } = item;
    const id = item.index ? `${seq}-${item.index}` : String(seq);
    // An event from inside a subagent goes into the group of the call that started it.
    const parentId = 'parentToolUseId' in ev ? ev.parentToolUseId : null;
    let parent = parentId ? this.tools.get(parentId) : undefined;
    // Groups nest MAX_AGENT_DEPTH deep at most; a step deeper joins the deepest group shown. A
    // runner can nest subagent calls without end, and every reader of the timeline recursed once
    // per level (3,000 levels: a stack overflow on the page; 1,000: seconds a chunk re-rendered).
    const held = parent && this.holders.get(parent.toolUseId);
    if (held && held.depth >= MAX_AGENT_DEPTH) parent = held.holder;
    // A tree that has gathered its share of steps takes new ones in its top-level call's group.
    const top = parent && this.roots.get(parent.toolUseId);
    if (top?.kind === 'tool' && (this.treeSteps.get(top) ?? 0) >= MAX_TREE_STEPS) parent = top;
    const push = (e: TimelineEntry) => {
      if (parent) return this.intoGroup(parent, e);
      this.entries.push(e);
      return e;
    };
    switch (ev.type) {
      case 'claude_init':
        // Claude repeats init at the start of every turn; show the session once.
        if (this.entries.some((e) => e.kind === 'session' && e.init.sessionId === ev.sessionId)) return null;
        this.sessionCost = 0;
        return push({ kind: 'session', id, seq, time, init: ev });
      case 'claude_text':
        return push({ kind: 'text', id, seq, time, text: ev.text, truncated: ev.truncated, error: ev.error, sub: ev.parentToolUseId !== null });
      case 'claude_thinking':
        return push({ kind: 'thinking', id, seq, time, text: ev.text, truncated: ev.truncated, sub: ev.parentToolUseId !== null });
      case 'claude_tool_use': {
        const entry = { kind: 'tool' as const, id, seq, time, toolUseId: ev.toolUseId, name: ev.name, input: ev.input, inputTruncated: ev.inputTruncated, sub: ev.parentToolUseId !== null, result: null, approval: null };
        // An id seen before keeps its first call: steps, results and approvals that name it go
        // there. (Claude never reuses one; a runner re-announcing ids reset the nesting's
        // bookkeeping and nested past the cap: 3,600 levels, the stack overflow again.)
        if (!this.tools.has(ev.toolUseId)) this.tools.set(ev.toolUseId, entry);
        return push(entry);
      }
      case 'claude_tool_result': {
        const tool = this.tools.get(ev.toolUseId);
        if (tool) {
          tool.result = { ...ev, seq, time };
          return this.roots.get(tool.toolUseId) ?? tool;
        }
        // A result whose call is outside the window read: show it on its own.
        const entry = { kind: 'tool' as const, id, seq, time, toolUseId: ev.toolUseId, name: '(tool)', input: null, inputTruncated: false, sub: ev.parentToolUseId !== null, result: { ...ev, seq, time }, approval: null };
        this.tools.set(ev.toolUseId, entry);
        return push(entry);
      }
      case 'claude_user':
        return push({ kind: 'user', id, seq, time, text: ev.text });
      case 'input_sent':
        return push({ kind: 'prompt', id, seq, time, by: ev.by, text: ev.text, bytes: ev.bytes, initial: ev.inputId === 'initial-prompt' });
      case 'claude_result': {
        const turnCostUsd = ev.costUsd !== null && this.sessionCost !== null ? Math.max(0, ev.costUsd - this.sessionCost) : null;
        if (ev.costUsd !== null) this.sessionCost = ev.costUsd;
        return push({ kind: 'result', id, seq, time, result: ev, turnCostUsd });
      }
      case 'claude_system': {
        // Subagent starts and ends belong to their group; chatter that repeats them is left to the raw stream.
        const fold = systemFold(ev);
        if (fold === 'drop') return null;
        if (fold) {
          const tool = this.tools.get(fold.toolUseId);
          if (tool) {
            tool.agent = { ...(tool.agent ?? agentLabel(tool.name, tool.input)), ...fold.patch, children: tool.agent?.children ?? [], dropped: tool.agent?.dropped ?? 0 };
            return this.roots.get(tool.toolUseId) ?? tool;
          }
        }
        return push({ kind: 'system', id, seq, time, subtype: ev.subtype, summary: ev.summary, raw: ev.raw });
      }
      case 'claude_ended':
        return push({ kind: 'notice', id, seq, time, level: 'warn', text: claudeEndedText(ev) });
      case 'claude_raw':
        return push({ kind: 'raw', id, seq, time, label: ev.claudeType ?? 'not JSON', raw: ev.raw, truncated: ev.truncated });
      case 'approval_requested': {
        const { type: _t, ...info } = ev;
        return this.approval(info, id, seq, time);
      }
      case 'approvals_sync': {
        // Each approval it brings is an entry of its own, with an id of its own.
        const changed = new Set<TimelineEntry>();
        for (const [n, info] of ev.pending.entries()) if (!this.approvals.has(info.approvalId)) changed.add(this.approval(info, `${id}-a${n}`, seq, time));
        return [...changed];
      }
      case 'approval_resolved': {
        const state = this.approvals.get(ev.approvalId);
        if (!state) return null;
        const { type: _t, ...resolved } = ev;
        state.resolved = this.o.creditFor ? { ...resolved, by: this.o.creditFor(ev) } : resolved;
        return this.approvalEntries.get(ev.approvalId) ?? null;
      }
      case 'awaiting_input':
        return push({ kind: 'notice', id, seq, time, level: 'info', text: `Claude is waiting for a follow-up (until ${new Date(ev.until).toISOString().slice(11, 19)} UTC)` });
      case 'input_closed':
        return push({ kind: 'notice', id, seq, time, level: 'info', text: `input closed: ${ev.reason}` });
      case 'control_refused':
        return push({ kind: 'notice', id, seq, time, level: 'warn', text: `the runner refused a ${ev.kind} message${ev.id ? ` (${ev.id})` : ''}: ${ev.reason}` });
      case 'interrupt_sent':
        return push({ kind: 'notice', id, seq, time, level: 'warn', text: `interrupted by ${ev.by}` });
      case 'claude_settings':
        return push({ kind: 'notice', id, seq, time, level: 'info', text: settingsText(ev) });
      case 'pty_resized':
        return null;
      case 'pty_waiting':
        return ev.waiting ? push({ kind: 'notice', id, seq, time, level: 'info', text: `Claude is waiting for you${ev.message ? `: ${ev.message}` : ''}` }) : null;
      case 'exec_started':
        return push({ kind: 'notice', id, seq, time, level: 'info', text: `command ${ev.name} started` });
      case 'exec_refused':
        return push({ kind: 'notice', id, seq, time, level: 'warn', text: `command ${ev.name} refused: ${ev.reason}` });
      case 'exec_exit':
        return push({
          kind: 'notice',
          id,
          seq,
          time,
          level: ev.code === 0 ? 'info' : 'warn',
          text: `command ${ev.name} ${ev.timedOut ? 'timed out' : ev.signal ? `ended by ${ev.signal}` : `exited ${ev.code}`} after ${fmtDuration(ev.durationMs)}${ev.truncated ? ' (output truncated)' : ''}`,
        });
      case 'collect_started':
        return push({ kind: 'notice', id, seq, time, level: 'info', text: `collecting artifacts (${ev.trigger === 'exit' ? 'at exit' : 'on request'})` });
      case 'collect_done':
        return push({
          kind: 'notice',
          id,
          seq,
          time,
          level: ev.error ? 'warn' : 'info',
          text: ev.error ? `artifact collection failed: ${ev.error}` : `collected ${ev.uploaded.length} artifact${ev.uploaded.length === 1 ? '' : 's'}${ev.skipped.length ? `, skipped ${ev.skipped.length}` : ''}`,
        });
      case 'assist_started':
        return push({ kind: 'notice', id, seq, time, level: 'info', text: `assist session open until ${new Date(ev.expiresAt).toISOString().slice(11, 19)} UTC` });
      case 'assist_stopped':
        return push({ kind: 'notice', id, seq, time, level: 'info', text: `assist session closed: ${ev.reason}` });
      case 'assist_refused':
        return push({ kind: 'notice', id, seq, time, level: 'warn', text: `assist session refused: ${ev.reason}` });
      default: {
        const never: never = ev;
        return never;
      }
    }
  }

  /** Puts `e` into the subagent group of `parent` (bounded: the oldest steps go first) and returns the top-level entry that changed. */
  private intoGroup(parent: Extract<TimelineEntry, { kind: 'tool' }>, e: TimelineEntry): TimelineEntry {
    const group = (parent.agent ??= { ...agentLabel(parent.name, parent.input), children: [], dropped: 0 });
    group.children.push(e);
    if (group.children.length > MAX_GROUP_CHILDREN) {
      group.children.shift();
      group.dropped++;
    }
    const root = this.roots.get(parent.toolUseId) ?? parent;
    this.treeSteps.set(root, (this.treeSteps.get(root) ?? 0) + 1);
    // Only a call that owns its id (the first with it, see add) is looked up by it later.
    if (e.kind === 'tool' && this.tools.get(e.toolUseId) === e) {
      this.roots.set(e.toolUseId, root);
      this.holders.set(e.toolUseId, { holder: parent, depth: (this.holders.get(parent.toolUseId)?.depth ?? 0) + 1 });
    }
    return root;
  }

  private approval(info: ApprovalInfo, id: string, seq: number, time: number): TimelineEntry {
    const known = this.approvals.get(info.approvalId);
    if (known) return this.approvalEntries.get(info.approvalId)!;
    const state: ApprovalState = { info, resolved: null };
    this.approvals.set(info.approvalId, state);
    const tool = info.toolUseId ? this.tools.get(info.toolUseId) : undefined;
    if (tool && !tool.approval) {
      tool.approval = state;
      const root = this.roots.get(tool.toolUseId) ?? tool;
      this.approvalEntries.set(info.approvalId, root);
      return root;
    }
    const entry: TimelineEntry = { kind: 'approval', id, seq, time, approval: state };
    this.approvalEntries.set(info.approvalId, entry);
    this.entries.push(entry);
    return entry;
  }
}

/** The timeline of a list of items. */
export function buildTimeline(items: Iterable<TimelineItem>, opts: TimelineOptions = {}): TimelineEntry[] {
  const tl = new Timeline(opts);
  for (const item of items) tl.add(item);
  return tl.entries;
}

/**
 * Splits the data of one event-stream chunk into items. Lines that are not known events are
 * skipped (a newer runner may send more); a line never spans chunks (the runner writes each
 * event as one whole chunk).
 */
export function itemsOfChunk(chunk: { seq: number; time: number; data: Uint8Array }): TimelineItem[] {
  const out: TimelineItem[] = [];
  for (const line of Buffer.from(chunk.data).toString('utf8').split('\n')) {
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    const parsed = RunnerEvent.safeParse(value);
    if (parsed.success) out.push({ seq: chunk.seq, time: chunk.time, index: out.length, event: parsed.data });
  }
  return out;
}

export { fmtDuration };

/** A mode or model change as one sentence ("mode: allow all edits (acceptEdits), set by alice"). */
export function settingsText(ev: { permissionMode: string | null; model: string | null; by: string | null }): string {
  const parts: string[] = [];
  if (ev.permissionMode !== null) parts.push(`mode: ${modeLabel(ev.permissionMode)}${modeLabel(ev.permissionMode) === ev.permissionMode ? '' : ` (${ev.permissionMode})`}`);
  if (ev.model !== null) parts.push(`model: ${ev.model}`);
  return `${parts.join(' · ') || 'session settings'}${ev.by ? `, set by ${ev.by}` : ''}`;
}

// In their own module so that the CLI's approval commands and error lines load no event schema.
export { oneLine, sanitizeTerminal, toolSummary } from './one-line.js';


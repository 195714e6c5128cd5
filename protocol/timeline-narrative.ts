import type { ClaudeSystem } from './claude-events.js';
import type { ClaudeEnded } from './claude-narrative-events.js';
import type { TimelineEntry } from './timeline.js';

/**
 * The parts of the timeline (timeline.ts) that tell the story around Claude's messages: subagent
 * groups, the system lines that belong to them, Claude ending mid-turn, result headlines.
 */

/** A subagent group keeps at most this many steps (the oldest go first; the raw stream has all). */
export const MAX_GROUP_CHILDREN = 200;

/** A call that started a subagent (Task): who it is and what it did. */
export interface AgentGroup {
  /** The subagent's type ("general-purpose", "Explore"…) or the tool's name. */
  label: string;
  description: string | null;
  /** From Claude's task lines: running, completed, failed, killed… (null: not reported). */
  status: string | null;
  summary: string | null;
  /** Its steps (text, tool calls…), in order. */
  children: TimelineEntry[];
  /** Steps dropped to stay within MAX_GROUP_CHILDREN. */
  dropped: number;
}

const str = (v: unknown, max: number): string | null => (typeof v === 'string' && v.trim() ? v.slice(0, max) : null);

/** The label of a subagent from its call's input (`subagent_type`, `description`). */
export function agentLabel(toolName: string, input: unknown): Omit<AgentGroup, 'children' | 'dropped'> {
  const i = input && typeof input === 'object' && !Array.isArray(input) ? (input as Record<string, unknown>) : {};
  return { label: str(i['subagent_type'], 100) ?? toolName, description: str(i['description'], 200), status: null, summary: null };
}

/**
 * What a system line does to the timeline: `drop` (repeats what other entries show: the
 * per-request "requesting" status, background task bookkeeping), a patch for the subagent group
 * of `toolUseId` (task started / finished), or null (an entry of its own).
 */
export function systemFold(ev: ClaudeSystem): 'drop' | { toolUseId: string; patch: Partial<Pick<AgentGroup, 'label' | 'description' | 'status' | 'summary'>> } | null {
  if (ev.subtype === 'task_updated' || ev.subtype === 'background_tasks_changed') return 'drop';
  if (ev.subtype !== 'status' && ev.subtype !== 'task_started' && ev.subtype !== 'task_notification') return null;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(ev.raw) as Record<string, unknown>;
  } catch {
    return null; // cut (over MAX_RAW): shown as a sentence of its own
  }
  if (!o || typeof o !== 'object') return null;
  if (ev.subtype === 'status') return o['status'] === 'requesting' && !o['permissionMode'] ? 'drop' : null;
  const toolUseId = str(o['tool_use_id'], 200);
  if (!toolUseId) return null;
  if (ev.subtype === 'task_started') {
    const label = str(o['subagent_type'], 100);
    const description = str(o['description'], 200);
    return { toolUseId, patch: { status: 'running', ...(label ? { label } : {}), ...(description ? { description } : {}) } };
  }
  return { toolUseId, patch: { status: str(o['status'], 40) ?? 'finished', summary: str(o['summary'], 1000) } };
}

/** The notice for Claude ending in the middle of a turn. */
export function claudeEndedText(ev: ClaudeEnded): string {
  const how = ev.signal ? `was killed (${ev.signal})` : ev.code !== null ? `exited with code ${ev.code}` : 'ended';
  return `Claude ${how} in the middle of a turn: ${ev.unfinishedTurns === 1 ? 'the turn' : `${ev.unfinishedTurns} turns`} never finished, and the run ends here. Start a new run to continue.`;
}

/** The headline of a result: never "Ended with an error (success)". */
export function resultHeadline(r: { subtype: string; isError: boolean; apiErrorStatus: number | null; terminalReason: string | null }): string {
  const api = r.apiErrorStatus ? ` (API ${r.apiErrorStatus})` : '';
  switch (r.subtype) {
    case 'error_max_budget_usd':
      return "Stopped: the run's spending limit was reached";
    case 'error_max_turns':
      return 'Stopped: the maximum number of turns was reached';
    case 'error_during_execution':
      return `Ended with an error during the turn${api}`;
    case 'success':
      // Claude Code reports API failures (overloaded, auth) as subtype "success" with is_error.
      if (!r.isError) return 'Done';
      return `Ended with an error${api}${r.terminalReason && r.terminalReason !== 'completed' ? `: ${r.terminalReason.replace(/_/g, ' ')}` : ''}`;
    default:
      return r.isError ? `Ended with an error: ${r.subtype.replace(/^error_/, '').replace(/_/g, ' ')}${api}` : 'Done';
  }
}

/** A dollar amount as the timeline and run lists show it. */
export function money(usd: number): string {
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

import { z } from 'zod';

/**
 * Claude Code's `system` lines (other than `init`) as short sentences for people: retries,
 * compaction, permission mode changes, hooks, subagents and background tasks. Shapes as Claude
 * Code 2.1.331 prints them (read from its bundled source and seen against the model stand-in):
 *
 *   api_retry               {attempt, max_retries, retry_delay_ms, error_status, error}
 *   compact_boundary        {compact_metadata: {trigger, pre_tokens}}
 *   status                  {status: "requesting" | "compacting" | null, permissionMode?}
 *   hook_started / hook_response {hook_name, hook_event, outcome, exit_code, output}
 *   task_started            {task_id, tool_use_id, description, subagent_type, task_type}
 *   task_updated            {task_id, patch: {status}}
 *   task_notification       {task_id, tool_use_id, status, summary}
 *   background_tasks_changed {tasks: [...]}
 *
 * Pure and lenient: an unknown subtype or a field of the wrong type gives a plainer sentence,
 * never an error. Callers cap the result.
 */

/** What an `api_retry` line says, for the run's "retrying" state. */
export interface ApiRetry {
  attempt: number;
  maxRetries: number | null;
  delayMs: number | null;
  status: number | null;
  error: string;
}

const num = z.number().finite().optional().nullable();
const ApiRetryLine = z.looseObject({
  subtype: z.literal('api_retry'),
  attempt: z.number().int().min(0).max(1_000_000),
  max_retries: num,
  retry_delay_ms: num,
  error_status: num,
  error: z.unknown().optional(),
});

/** Reads an `api_retry` system line (the parsed JSON object, or its text), or null. */
export function apiRetryOf(value: unknown): ApiRetry | null {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return null;
    }
  }
  const p = ApiRetryLine.safeParse(v);
  if (!p.success) return null;
  const r = p.data;
  const int = (n: number | null | undefined) => (typeof n === 'number' && n >= 0 ? Math.round(n) : null);
  return {
    attempt: r.attempt,
    maxRetries: int(r.max_retries),
    delayMs: int(r.retry_delay_ms),
    status: int(r.error_status),
    error: (typeof r.error === 'string' ? r.error : r.error === undefined || r.error === null ? 'error' : JSON.stringify(r.error)).slice(0, 200),
  };
}

/** "API overloaded (529)", "rate limited (429)", "server error (500)"… */
export function apiErrorPhrase(r: Pick<ApiRetry, 'status' | 'error'>): string {
  const what = r.error === 'overloaded' || r.status === 529 ? 'API overloaded' : r.error === 'rate_limit' || r.status === 429 ? 'API rate limit' : `API error: ${r.error.replace(/_/g, ' ')}`;
  return r.status ? `${what} (${r.status})` : what;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** One system line (parsed JSON object) as a short sentence. */
export function systemSentence(o: Record<string, unknown>): string {
  const s = (k: string, from: Record<string, unknown> = o) => (typeof from[k] === 'string' ? (from[k] as string) : typeof from[k] === 'number' ? String(from[k]) : null);
  const sub = s('subtype') ?? '?';
  switch (sub) {
    case 'hook_started':
      return `hook ${s('hook_name') ?? s('hook_event') ?? '?'} started`;
    case 'hook_response': {
      const out = (s('output') ?? '').trim();
      return `hook ${s('hook_name') ?? s('hook_event') ?? '?'} ${s('outcome') ?? 'done'}${s('exit_code') !== null ? ` (exit ${s('exit_code')})` : ''}${out ? `: ${out.slice(0, 300)}` : ''}`;
    }
    case 'api_retry': {
      const r = apiRetryOf(o);
      if (!r) return 'Claude is retrying an API request';
      return `${apiErrorPhrase(r)}; Claude retries${r.delayMs !== null ? ` in ${seconds(r.delayMs)}` : ''} (attempt ${r.attempt}${r.maxRetries ? ` of ${r.maxRetries}` : ''})`;
    }
    case 'compact_boundary': {
      const m = (o['compact_metadata'] ?? o['compactMetadata']) as Record<string, unknown> | undefined;
      const trigger = m && typeof m === 'object' ? s('trigger', m) : null;
      const pre = m && typeof m === 'object' ? (m['pre_tokens'] ?? m['preTokens']) : null;
      return `Conversation compacted${trigger === 'auto' ? ' automatically' : trigger === 'manual' ? ' on request' : ''}${typeof pre === 'number' ? ` (${Math.round(pre).toLocaleString('en-US')} tokens before)` : ''}`;
    }
    case 'status': {
      const mode = s('permissionMode');
      const status = s('status');
      if (mode) return `Permission mode is now ${mode}`;
      if (status === 'compacting') return 'Compacting the conversation…';
      if (status === 'requesting') return 'Waiting for the model…';
      return status ? `Status: ${status}` : 'Status cleared';
    }
    case 'task_started': {
      const kind = s('subagent_type') ?? s('task_type') ?? 'task';
      const desc = s('description');
      return `Subagent ${kind} started${desc ? `: ${desc.slice(0, 200)}` : ''}${o['is_backgrounded'] === true ? ' (in the background)' : ''}`;
    }
    case 'task_updated': {
      const patch = o['patch'] as Record<string, unknown> | undefined;
      const status = patch && typeof patch === 'object' ? s('status', patch) : null;
      return `Background task ${status ? status : 'updated'}`;
    }
    case 'task_notification': {
      const status = s('status') ?? 'finished';
      const summary = s('summary');
      return `Subagent ${status}${summary ? `: ${summary.slice(0, 300)}` : ''}`;
    }
    case 'background_tasks_changed': {
      const n = Array.isArray(o['tasks']) ? (o['tasks'] as unknown[]).length : null;
      return n === null ? 'Background tasks changed' : n === 0 ? 'No background tasks running' : `${n} background task${n === 1 ? '' : 's'} running`;
    }
    default:
      return sub.slice(0, 64).replace(/_/g, ' ');
  }
}

import { z } from 'zod';
import {
  MAX_INPUT_JSON,
  MAX_RAW,
  MAX_TEXT,
  MAX_TOOL_RESULT,
  capJson,
  capText,
  type ClaudeEvent,
  type ClaudeResult,
  type PermissionRule,
} from './claude-events.js';
import { patchText } from './claude-steer.js';
import { isPartialOnlyLine, liveDeltaOf, type LiveDelta } from './claude-live.js';
import { systemSentence } from './claude-system.js';

/**
 * Claude Code's stream-json, both directions: the one module that knows its wire format
 * (verified against the pinned version, see docs/CLAUDE_CODE.md and test/fixtures/claude/).
 *
 * Out of `claude -p --output-format stream-json --verbose` come JSON lines of type `system`
 * (`init`, `hook_started`, `hook_response`, …), `assistant` (one content block per line),
 * `stream_event` (with `--include-partial-messages`: the API's events as they arrive),
 * `user` (tool results), `result`, and with `--permission-prompt-tool stdio` also
 * `control_request` (`can_use_tool`), `control_cancel_request` and `control_response`.
 * Into it (`--input-format stream-json`) go `user` lines and `control_response` /
 * `control_request` (`interrupt`) lines.
 *
 * Parsing is lenient: known types are read with loose schemas (extra fields are fine), and a
 * line that is unknown, changed beyond recognition or not JSON becomes a `claude_raw` event.
 * Nothing here throws on input.
 */

/** The Claude Code version this module was verified against (test/fixtures/claude/VERSION). */
export const TESTED_CLAUDE_VERSION = '2.1.331';

const Loose = z.looseObject({ type: z.string() });
const Block = z.looseObject({ type: z.string() });

const AssistantLine = z.looseObject({
  type: z.literal('assistant'),
  message: z.looseObject({ id: z.string().optional(), content: z.array(Block) }),
  parent_tool_use_id: z.string().nullable().optional(),
  error: z.string().optional(),
  api_error_status: z.number().nullable().optional(),
});

const UserLine = z.looseObject({
  type: z.literal('user'),
  message: z.looseObject({ content: z.union([z.string(), z.array(Block)]) }),
  parent_tool_use_id: z.string().nullable().optional(),
  /** What the tool returned to Claude Code (an edit's structuredPatch…), beside what the model sees. */
  tool_use_result: z.unknown().optional(),
});

const num = z.number().optional().nullable();
const ResultLine = z.looseObject({
  type: z.literal('result'),
  subtype: z.string(),
  is_error: z.boolean().optional(),
  result: z.string().optional().nullable(),
  total_cost_usd: num,
  usage: z
    .looseObject({ input_tokens: num, output_tokens: num, cache_read_input_tokens: num, cache_creation_input_tokens: num })
    .optional()
    .nullable(),
  num_turns: num,
  duration_ms: num,
  duration_api_ms: num,
  permission_denials: z.array(z.looseObject({ tool_name: z.string(), tool_use_id: z.string().optional().nullable(), tool_input: z.unknown() })).optional(),
  stop_reason: z.string().optional().nullable(),
  terminal_reason: z.string().optional().nullable(),
  errors: z.array(z.unknown()).optional(),
  api_error_status: num,
});

const SystemLine = z.looseObject({ type: z.literal('system'), subtype: z.string() });
const InitLine = z.looseObject({
  type: z.literal('system'),
  subtype: z.literal('init'),
  session_id: z.string().optional(),
  model: z.string().optional(),
  cwd: z.string().optional(),
  claude_code_version: z.string().optional(),
  permissionMode: z.string().optional(),
  tools: z.array(z.string()).optional(),
});

const ControlRequestLine = z.looseObject({
  type: z.literal('control_request'),
  request_id: z.string().min(1).max(200),
  request: z.looseObject({ subtype: z.string() }),
});

const CanUseToolRequest = z.looseObject({
  subtype: z.literal('can_use_tool'),
  tool_name: z.string().min(1),
  display_name: z.string().optional(),
  input: z.record(z.string(), z.unknown()),
  description: z.string().optional(),
  permission_suggestions: z.array(z.looseObject({ type: z.string() })).optional(),
  blocked_path: z.string().optional().nullable(),
  tool_use_id: z.string().optional(),
});

const ControlResponseLine = z.looseObject({
  type: z.literal('control_response'),
  response: z.looseObject({ subtype: z.string(), request_id: z.string().optional(), error: z.string().optional(), response: z.looseObject({}).optional() }),
});

const SetModeSuggestion = z.looseObject({ type: z.literal('setMode'), mode: z.string().min(1).max(64) });
/** A status line that reports the session's permission mode (after a switch). */
const StatusLine = z.looseObject({ type: z.literal('system'), subtype: z.literal('status'), permissionMode: z.string().min(1).max(64) });

const ControlCancelLine = z.looseObject({ type: z.literal('control_cancel_request'), request_id: z.string() });

const AddRulesSuggestion = z.looseObject({
  type: z.literal('addRules'),
  rules: z.array(z.looseObject({ toolName: z.string().min(1), ruleContent: z.string().optional() })).min(1),
  behavior: z.string().optional(),
  destination: z.string().optional(),
});

/** A permission request from Claude, as the runner needs it. */
export interface CanUseTool {
  requestId: string;
  toolName: string;
  displayName: string | null;
  toolUseId: string | null;
  /** Claude's input object, passed back unchanged as `updatedInput` on allow. */
  input: Record<string, unknown>;
  description: string | null;
  blockedPath: string | null;
  /** The first `addRules` suggestion: what "always allow" adds (for this session only). */
  rule: PermissionRule | null;
  /** That suggestion as Claude sent it, to hand back in `updatedPermissions`. */
  ruleSuggestion: Record<string, unknown> | null;
  /** Claude's first `setMode` suggestion ("acceptEdits" on an edit), used for "always" when it suggested no rule. */
  modeSuggestion: string | null;
}

/** Control traffic from Claude that the runner must act on. */
export type ClaudeControl =
  | { kind: 'can_use_tool'; request: CanUseTool }
  /** A control request the runner cannot serve (or a can_use_tool it cannot read): answer with an error. */
  | { kind: 'unsupported'; requestId: string; subtype: string }
  | { kind: 'response'; requestId: string | null; ok: boolean; error: string | null; response: Record<string, unknown> | null }
  /** Claude withdrew a pending request (e.g. after an interrupt). */
  | { kind: 'cancel'; requestId: string };

export interface ParsedLine {
  /** Timeline events for the line (empty for pure control traffic). */
  events: ClaudeEvent[];
  control: ClaudeControl | null;
  /** The line was a `result`: a turn ended. */
  result: ClaudeResult | null;
  /** The line reported the session's permission mode or model (init, status). */
  settings?: { permissionMode: string | null; model: string | null };
  /** A `stream_event` with reply text (`--include-partial-messages`): live text, never a timeline event (claude-live.ts). */
  live?: LiveDelta | null;
}

function raw(line: string, claudeType: string | null): ClaudeEvent {
  const { text, truncated } = capText(line, MAX_RAW);
  return { type: 'claude_raw', claudeType: claudeType ? claudeType.slice(0, 64) : null, raw: text, truncated };
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return content === undefined || content === null ? '' : JSON.stringify(content);
  return content
    .map((part: unknown) => {
      const p = part as { type?: unknown; text?: unknown };
      if (p && p.type === 'text' && typeof p.text === 'string') return p.text;
      if (p && typeof p.type === 'string') return `[${p.type}]`;
      return JSON.stringify(part);
    })
    .join('\n');
}

function cut(s: string | null | undefined, max: number): string | null {
  return s === null || s === undefined ? null : capText(s, max).text;
}

const nn = (v: number | null | undefined): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : 0);
const orNull = (v: number | null | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);

function fromAssistant(line: z.infer<typeof AssistantLine>): ClaudeEvent[] {
  const out: ClaudeEvent[] = [];
  const messageId = line.message.id ? line.message.id.slice(0, 200) : null;
  const parentToolUseId = line.parent_tool_use_id ? line.parent_tool_use_id.slice(0, 200) : null;
  const error = line.error ? `${line.error}${line.api_error_status ? ` (${line.api_error_status})` : ''}`.slice(0, 200) : null;
  for (const block of line.message.content) {
    const b = block as Record<string, unknown>;
    if (b['type'] === 'text' && typeof b['text'] === 'string') {
      out.push({ type: 'claude_text', messageId, ...capText(b['text'], MAX_TEXT), parentToolUseId, error });
    } else if (b['type'] === 'thinking' && typeof b['thinking'] === 'string') {
      out.push({ type: 'claude_thinking', messageId, ...capText(b['thinking'], MAX_TEXT), parentToolUseId });
    } else if (b['type'] === 'tool_use' && typeof b['id'] === 'string' && typeof b['name'] === 'string') {
      const input = capJson(b['input'] ?? {}, MAX_INPUT_JSON);
      out.push({ type: 'claude_tool_use', toolUseId: b['id'].slice(0, 200), name: b['name'].slice(0, 200), input: input.value, inputTruncated: input.truncated, parentToolUseId });
    } else {
      out.push(raw(JSON.stringify(block), `assistant.${String(b['type']).slice(0, 40)}`));
    }
  }
  return out;
}

function fromUser(line: z.infer<typeof UserLine>): ClaudeEvent[] {
  const parentToolUseId = line.parent_tool_use_id ? line.parent_tool_use_id.slice(0, 200) : null;
  const content = line.message.content;
  if (typeof content === 'string') return [{ type: 'claude_user', ...capText(content, MAX_TEXT) }];
  const out: ClaudeEvent[] = [];
  // One tool result per line in 2.1.331; its tool_use_result carries an edit's patch.
  const patch = content.length === 1 ? patchText(line.tool_use_result) : null;
  for (const block of content) {
    const b = block as Record<string, unknown>;
    if (b['type'] === 'tool_result' && typeof b['tool_use_id'] === 'string') {
      const full = textOf(b['content']);
      const { text, truncated } = capText(full, MAX_TOOL_RESULT);
      out.push({
        type: 'claude_tool_result', toolUseId: b['tool_use_id'].slice(0, 200), content: text, isError: b['is_error'] === true, chars: full.length, truncated, parentToolUseId,
        ...(patch ? { patch: patch.text, patchTruncated: patch.truncated } : {}),
      });
    } else if (b['type'] === 'text' && typeof b['text'] === 'string') {
      out.push({ type: 'claude_user', ...capText(b['text'], MAX_TEXT) });
    } else {
      out.push(raw(JSON.stringify(block), `user.${String(b['type']).slice(0, 40)}`));
    }
  }
  return out;
}

function fromResult(r: z.infer<typeof ResultLine>): ClaudeResult {
  return {
    type: 'claude_result',
    subtype: r.subtype.slice(0, 64),
    isError: r.is_error === true,
    result: cut(r.result, MAX_TEXT),
    costUsd: orNull(r.total_cost_usd),
    usage: {
      inputTokens: nn(r.usage?.input_tokens),
      outputTokens: nn(r.usage?.output_tokens),
      cacheReadTokens: nn(r.usage?.cache_read_input_tokens),
      cacheCreationTokens: nn(r.usage?.cache_creation_input_tokens),
    },
    numTurns: orNull(r.num_turns) === null ? null : Math.round(r.num_turns!),
    durationMs: orNull(r.duration_ms),
    durationApiMs: orNull(r.duration_api_ms),
    denials: (r.permission_denials ?? []).slice(0, 100).map((d) => ({
      toolName: d.tool_name.slice(0, 200),
      toolUseId: d.tool_use_id ? d.tool_use_id.slice(0, 200) : null,
      input: capJson(d.tool_input ?? null, MAX_RAW).value,
    })),
    stopReason: cut(r.stop_reason, 64),
    terminalReason: cut(r.terminal_reason, 64),
    errors: (r.errors ?? []).slice(0, 20).map((e) => capText(typeof e === 'string' ? e : JSON.stringify(e), 1000).text),
    apiErrorStatus: typeof r.api_error_status === 'number' && Number.isInteger(r.api_error_status) ? r.api_error_status : null,
  };
}

function canUseTool(requestId: string, request: Record<string, unknown>): CanUseTool | null {
  const p = CanUseToolRequest.safeParse(request);
  if (!p.success) return null;
  const r = p.data;
  const suggestion = (r.permission_suggestions ?? []).map((s) => AddRulesSuggestion.safeParse(s)).find((s) => s.success)?.data;
  const setMode = (r.permission_suggestions ?? []).map((s) => SetModeSuggestion.safeParse(s)).find((s) => s.success)?.data;
  const first = suggestion?.rules[0];
  return {
    requestId,
    toolName: r.tool_name.slice(0, 200),
    displayName: r.display_name ? r.display_name.slice(0, 200) : null,
    toolUseId: r.tool_use_id ? r.tool_use_id.slice(0, 200) : null,
    input: r.input,
    description: cut(r.description, 1000),
    blockedPath: cut(r.blocked_path ?? null, 4096),
    rule: first ? { toolName: first.toolName.slice(0, 200), ruleContent: first.ruleContent === undefined ? null : capText(first.ruleContent, 4096).text } : null,
    ruleSuggestion: suggestion ? (suggestion as Record<string, unknown>) : null,
    modeSuggestion: setMode ? setMode.mode : null,
  };
}

/**
 * Reads one line of Claude's stdout.
 *
 * @example
 * parseClaudeLine('{"type":"assistant","message":{"content":[{"type":"text","text":"hi"}]}}')
 * // { events: [{ type: 'claude_text', text: 'hi', … }], control: null, result: null }
 */
export function parseClaudeLine(line: string): ParsedLine {
  const none: ParsedLine = { events: [], control: null, result: null };
  if (!line.trim()) return none;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ...none, events: [raw(line, null)] };
  }
  const head = Loose.safeParse(value);
  if (!head.success) return { ...none, events: [raw(line, null)] };
  const type = head.data.type;
  switch (type) {
    case 'assistant': {
      const p = AssistantLine.safeParse(value);
      return p.success ? { ...none, events: fromAssistant(p.data) } : { ...none, events: [raw(line, type)] };
    }
    case 'user': {
      const p = UserLine.safeParse(value);
      return p.success ? { ...none, events: fromUser(p.data) } : { ...none, events: [raw(line, type)] };
    }
    case 'result': {
      const p = ResultLine.safeParse(value);
      if (!p.success) return { ...none, events: [raw(line, type)] };
      const result = fromResult(p.data);
      return { events: [result], control: null, result };
    }
    case 'system': {
      // The per-request "requesting" status comes with --include-partial-messages and says nothing the reply does not.
      if (isPartialOnlyLine(line)) return none;
      const init = InitLine.safeParse(value);
      if (init.success) {
        const i = init.data;
        return {
          ...none,
          settings: { permissionMode: cut(i.permissionMode, 64), model: cut(i.model, 200) },
          events: [{
            type: 'claude_init',
            sessionId: i.session_id ? i.session_id.slice(0, 200) : null,
            model: cut(i.model, 200),
            cwd: cut(i.cwd, 4096),
            version: cut(i.claude_code_version, 64),
            permissionMode: cut(i.permissionMode, 64),
            tools: (i.tools ?? []).slice(0, 500).map((t) => t.slice(0, 200)),
          }],
        };
      }
      const sys = SystemLine.safeParse(value);
      if (!sys.success) return { ...none, events: [raw(line, type)] };
      const status = StatusLine.safeParse(value);
      return { ...none, ...(status.success ? { settings: { permissionMode: status.data.permissionMode, model: null } } : {}), events: [{ type: 'claude_system', subtype: sys.data.subtype.slice(0, 64), summary: capText(systemSentence(sys.data), 1000).text, raw: capText(line, MAX_RAW).text }] };
    }
    case 'control_request': {
      const p = ControlRequestLine.safeParse(value);
      if (!p.success) return { ...none, events: [raw(line, type)] };
      const { request_id: requestId, request } = p.data;
      if (request.subtype === 'can_use_tool') {
        const req = canUseTool(requestId, request);
        if (req) return { ...none, control: { kind: 'can_use_tool', request: req } };
      }
      return { ...none, events: [raw(line, type)], control: { kind: 'unsupported', requestId, subtype: request.subtype.slice(0, 64) } };
    }
    case 'control_response': {
      const p = ControlResponseLine.safeParse(value);
      if (!p.success) return { ...none, events: [raw(line, type)] };
      const r = p.data.response;
      return { ...none, control: { kind: 'response', requestId: r.request_id ?? null, ok: r.subtype === 'success', error: r.error ? r.error.slice(0, 300) : null, response: r.response ?? null } };
    }
    case 'control_cancel_request': {
      const p = ControlCancelLine.safeParse(value);
      return p.success ? { ...none, control: { kind: 'cancel', requestId: p.data.request_id } } : { ...none, events: [raw(line, type)] };
    }
    case 'stream_event':
      // Partial messages: text deltas are live text; every other stream event is dropped (the complete message follows).
      return { ...none, live: liveDeltaOf(value) };
    default:
      return { ...none, events: [raw(line, type)] };
  }
}

// ---- what goes into Claude's stdin

/** A user turn: the first prompt or a follow-up. */
export function userMessageLine(text: string): string {
  return JSON.stringify({ type: 'user', message: { role: 'user', content: text } }) + '\n';
}

/**
 * Allows a pending can_use_tool request. With `always`, Claude's own suggested rule is added for
 * this session only (destination "session"), never written to the user's settings files; with
 * no rule suggested, its own `setMode` suggestion (an edit's "acceptEdits") is applied instead.
 * `answers` answer an AskUserQuestion (`updatedInput.answers`); `mode` switches the session's
 * mode as the tool is allowed (ExitPlanMode's "approve and allow edits").
 */
export function allowLine(req: CanUseTool, always: boolean, extra: { answers?: Record<string, unknown>; mode?: string } = {}): string {
  const updatedInput = extra.answers ? { ...req.input, answers: extra.answers } : req.input;
  const response: Record<string, unknown> = { behavior: 'allow', updatedInput };
  if (always && req.ruleSuggestion) response['updatedPermissions'] = [{ ...req.ruleSuggestion, destination: 'session' }];
  else if (always && req.modeSuggestion) response['updatedPermissions'] = [{ type: 'setMode', mode: req.modeSuggestion, destination: 'session' }];
  else if (extra.mode) response['updatedPermissions'] = [{ type: 'setMode', mode: extra.mode, destination: 'session' }];
  return JSON.stringify({ type: 'control_response', response: { subtype: 'success', request_id: req.requestId, response } }) + '\n';
}

/** Denies a pending can_use_tool request; Claude sees `message` as the tool's error result. */
export function denyLine(requestId: string, message: string): string {
  return JSON.stringify({ type: 'control_response', response: { subtype: 'success', request_id: requestId, response: { behavior: 'deny', message } } }) + '\n';
}

/** Answers a control request ccg does not serve, so Claude never waits on it. */
export function controlErrorLine(requestId: string, error: string): string {
  return JSON.stringify({ type: 'control_response', response: { subtype: 'error', request_id: requestId, error } }) + '\n';
}

/** Stops the current turn cleanly (Claude answers with a control_response and ends the turn). */
export function interruptLine(requestId: string): string {
  return JSON.stringify({ type: 'control_request', request_id: requestId, request: { subtype: 'interrupt' } }) + '\n';
}

/** The flags the runner passes for `--cmd`; the prompt itself goes to stdin as the first user turn. */
export const CLAUDE_STREAM_FLAGS = [
  '-p',
  '--output-format', 'stream-json',
  '--verbose',
  '--input-format', 'stream-json',
  '--permission-prompt-tool', 'stdio',
  '--include-hook-events',
  // Reply text as it is written (stream_event lines): shown live, never stored (claude-live.ts).
  '--include-partial-messages',
] as const;

import type { ClaudeResult } from '../../protocol/claude-events.js';
import { visibleText } from '../../protocol/terminal-escapes.js';
import type { TimelineItem } from '../../protocol/timeline.js';
import { fmtDuration, oneLine, sanitizeTerminal, settingsText, toolSummary } from '../../protocol/timeline.js';
import { approvalKind } from '../../protocol/claude-steer.js';
import { approvalDetail, diffLines, type SteerKind } from './steer-text.js';
import { agentLabel, claudeEndedText, money, resultHeadline, systemFold } from '../../protocol/timeline-narrative.js';

export { sanitizeTerminal, toolSummary };

/**
 * The timeline as plain terminal lines, for the TUI, `ccg runs events` and the runner's own
 * terminal. Append-only: each event yields the lines it adds (a tool result is printed under its
 * call when it arrives). Pure, apart from remembering tool names between events.
 *
 * Everything Claude, a tool or a file produced is hostile: escape sequences (colours, titles,
 * clipboard writes, screen clears), other control characters and bidirectional overrides are
 * removed, so no byte from the model reaches the terminal as a control sequence.
 */

export type TextKind = 'session' | 'assistant' | 'thinking' | 'tool' | 'result-ok' | 'result-error' | 'approval' | 'prompt' | 'notice' | 'warn' | 'raw' | 'diff-add' | 'diff-del' | 'diff-hunk';

/** A steer-text line's kind as a timeline kind (diff lines keep their colour). */
function steerKind(k: SteerKind): TextKind {
  return k === 'diff-add' || k === 'diff-del' || k === 'diff-hunk' ? k : k === 'question' || k === 'option' || k === 'plan' ? 'approval' : 'notice';
}

export interface TextLine {
  kind: TextKind;
  text: string;
}

export interface TextOptions {
  /** Lines of a tool result shown before "… N more lines" (default 8). */
  resultLines?: number;
  /** Characters of a tool input summary (default 160). */
  inputChars?: number;
  /** How to tell people to answer an approval (default: the ccg commands). */
  approvalHint?: (approvalId: string, kind: 'questions' | 'plan' | 'tool') => string;
}

function lines(s: string): string[] {
  return visibleText(s, { tab: '    ', cr: 'newline' }).split('\n');
}

const int = (n: number) => n.toLocaleString('en-US');

/**
 * The final line of a turn: outcome, cost (this turn's, when known, and the session's total:
 * Claude Code reports the total so far, not the turn's), tokens, turns, duration, denials.
 */
export function resultSummary(r: ClaudeResult, turnCostUsd: number | null = null): string {
  const parts = [r.isError ? resultHeadline(r) : r.subtype];
  if (turnCostUsd !== null) parts.push(`${money(turnCostUsd)} this turn`);
  if (r.costUsd !== null) parts.push(`${money(r.costUsd)} session total`);
  parts.push(`${int(r.usage.inputTokens + r.usage.cacheReadTokens + r.usage.cacheCreationTokens)} in / ${int(r.usage.outputTokens)} out tokens`);
  if (r.numTurns !== null) parts.push(`${r.numTurns} turn${r.numTurns === 1 ? '' : 's'}`);
  if (r.durationMs !== null) parts.push(fmtDuration(r.durationMs));
  if (r.denials.length) parts.push(`${r.denials.length} denial${r.denials.length === 1 ? '' : 's'} (${[...new Set(r.denials.map((d) => d.toolName))].join(', ')})`);
  return sanitizeTerminal(parts.join(' · '));
}

/** Before each further line of a multi-line text (Claude's, a tool's, a prompt's): no line of ccg's own starts so. */
const CONTINUED = '  │ ';

/**
 * Renders events one at a time into terminal lines.
 *
 * @example
 * const r = new TextTimeline();
 * for (const item of items) for (const l of r.push(item)) console.log(l.text);
 */
export class TextTimeline {
  private readonly toolNames = new Map<string, string>();
  private readonly approvals = new Map<string, string>();
  private readonly sessions = new Set<string | null>();
  /** Subagent labels by the id of the call that started them. */
  private readonly agents = new Map<string, string>();
  private sessionCost: number | null = null;
  private readonly o: Required<TextOptions>;

  constructor(opts: TextOptions = {}) {
    this.o = {
      resultLines: opts.resultLines ?? 8,
      inputChars: opts.inputChars ?? 160,
      approvalHint:
        opts.approvalHint ??
        ((id, kind) => (kind === 'questions' ? `answer: ccg runs answer RUN ${id} --choose N=OPTION` : kind === 'plan' ? `answer: ccg runs plan RUN ${id} --approve [--allow-edits] | --keep-planning` : `answer: ccg runs approve RUN ${id} | ccg runs deny RUN ${id}`)),
    };
  }

  push(item: TimelineItem): TextLine[] {
    const ev = item.event;
    const out: TextLine[] = [];
    const add = (kind: TextKind, text: string) => out.push({ kind, text });
    // Inside a subagent: its label instead of "Claude", indented under the call that started it.
    const parentId = 'parentToolUseId' in ev ? ev.parentToolUseId : null;
    const agent = parentId ? `[${oneLine(this.agents.get(parentId) ?? 'subagent', 60)}] ` : '';
    const indent = parentId ? '    ' : '';
    switch (ev.type) {
      case 'claude_init':
        if (this.sessions.has(ev.sessionId)) break;
        this.sessions.add(ev.sessionId);
        this.sessionCost = 0;
        add('session', oneLine(`● session ${ev.sessionId?.slice(0, 8) ?? '?'} · ${ev.model ?? 'model ?'} · Claude Code ${ev.version ?? '?'} · ${ev.permissionMode ?? ''} · ${ev.cwd ?? ''}`, 300));
        break;
      case 'claude_text': {
        const ls = lines(ev.text);
        const who = agent ? `◇ ${agent.trimEnd()}` : 'Claude';
        // Continuation lines carry a bar: Claude's text cannot pass for a line of ccg's own ("  ✔ Bash allowed by admin").
        ls.forEach((l, i) => add(ev.error ? 'warn' : 'assistant', `${indent}${i === 0 ? (ev.error ? `✖ ${who} (${sanitizeTerminal(ev.error)}): ` : agent ? `${who}: ` : '◆ Claude: ') : CONTINUED}${l}`));
        if (ev.truncated) add('notice', '  … (truncated; the raw stream has it all)');
        break;
      }
      case 'claude_thinking':
        add('thinking', `${indent}  (thinking) ${agent}${oneLine(ev.text, 200)}`);
        break;
      case 'claude_tool_use':
        this.toolNames.set(ev.toolUseId, ev.name);
        if (ev.input && typeof ev.input === 'object' && !Array.isArray(ev.input) && 'subagent_type' in ev.input) this.agents.set(ev.toolUseId, agentLabel(ev.name, ev.input).label);
        add('tool', `${indent}⚙ ${agent}${oneLine(ev.name, 60)}: ${toolSummary(ev.name, ev.input, this.o.inputChars)}`);
        break;
      case 'claude_tool_result': {
        const name = this.toolNames.get(ev.toolUseId) ?? 'tool';
        const ls = lines(ev.content.replace(/\n+$/, ''));
        const shown = ls.slice(0, this.o.resultLines);
        shown.forEach((l, i) => add(ev.isError ? 'warn' : 'tool', `${indent}  ${i === 0 ? (ev.isError ? `↳ ${oneLine(name, 60)} failed: ` : '↳ ') : CONTINUED}${l}`));
        const more = ls.length - shown.length;
        if (more > 0 || ev.truncated) add('notice', `    … ${more > 0 ? `${more} more line${more === 1 ? '' : 's'}` : ''}${ev.truncated ? ` (${int(ev.chars)} characters in all)` : ''}`);
        // An edit's patch, as Claude reported it.
        if (ev.patch) for (const l of diffLines(ev.patch, { width: 200, maxLines: 20 })) add(steerKind(l.kind), `    ${l.text}`);
        break;
      }
      case 'claude_user':
        add('notice', `· ${oneLine(ev.text, 300)}`);
        break;
      case 'input_sent':
        if (ev.text === null) add('prompt', `▸ ${oneLine(ev.by, 60)} typed ${ev.bytes} byte${ev.bytes === 1 ? '' : 's'}`);
        else lines(ev.text).forEach((l, i) => add('prompt', `${i === 0 ? `▸ ${oneLine(ev.by, 60)}: ` : CONTINUED}${l}`));
        break;
      case 'claude_result': {
        const turn = ev.costUsd !== null && this.sessionCost !== null ? Math.max(0, ev.costUsd - this.sessionCost) : null;
        if (ev.costUsd !== null) this.sessionCost = ev.costUsd;
        add(ev.isError ? 'result-error' : 'result-ok', `${ev.isError ? '✖' : '✔'} result: ${resultSummary(ev, turn)}`);
        for (const e of ev.errors.slice(0, 3)) add('warn', `  ${oneLine(e, 300)}`);
        break;
      }
      case 'claude_system': {
        const fold = systemFold(ev);
        if (fold === 'drop') break;
        const label = fold ? this.agents.get(fold.toolUseId) : undefined;
        add(ev.subtype === 'api_retry' ? 'warn' : 'notice', `· ${label ? `[${oneLine(label, 60)}] ` : ''}${oneLine(ev.summary, 300)}`);
        break;
      }
      case 'claude_ended':
        add('warn', `! ${oneLine(claudeEndedText(ev), 300)}`);
        break;
      case 'claude_raw':
        add('raw', `? [${oneLine(ev.claudeType ?? 'not JSON', 40)}] ${oneLine(ev.raw, 300)}`);
        break;
      case 'approval_requested':
      case 'approvals_sync': {
        const infos = ev.type === 'approval_requested' ? [ev] : ev.pending;
        for (const info of infos) {
          if (this.approvals.has(info.approvalId)) continue;
          this.approvals.set(info.approvalId, info.toolName);
          const rule = info.rule ? ` (always would allow ${oneLine(info.rule.toolName, 60)}${info.rule.ruleContent ? `(${oneLine(info.rule.ruleContent, 80)})` : ''})` : '';
          const kind = approvalKind(info.toolName);
          add('approval', `  ⏳ ${kind === 'questions' ? 'Claude asks' : kind === 'plan' ? 'Claude asks to approve its plan' : `approval needed for ${oneLine(info.toolName, 60)}`}: ${toolSummary(info.toolName, info.input, this.o.inputChars)}${rule}`);
          for (const l of approvalDetail(info, { width: 200, maxLines: 20 })) add(steerKind(l.kind), `     ${l.text}`);
          add('approval', `     ${oneLine(this.o.approvalHint(info.approvalId, kind), 200)}`);
        }
        break;
      }
      case 'approval_resolved': {
        const verb = ev.decision === 'allow' ? (ev.always ? 'always allowed' : 'allowed') : 'denied';
        const why = ev.reason === 'operator' ? `by ${ev.by}` : ev.reason === 'timeout' ? 'because nobody answered in time' : `(${ev.reason})`;
        add(ev.decision === 'allow' ? 'approval' : 'warn', `  ${ev.decision === 'allow' ? '✔' : '✖'} ${oneLine(this.approvals.get(ev.approvalId) ?? 'tool use', 60)} ${verb} ${oneLine(why, 120)}${ev.message && ev.decision === 'deny' ? `: ${oneLine(ev.message, 200)}` : ''}`);
        break;
      }
      case 'awaiting_input':
        add('notice', `· waiting for a follow-up prompt until ${new Date(ev.until).toISOString().slice(11, 19)} UTC`);
        break;
      case 'input_closed':
        add('notice', `· input closed: ${oneLine(ev.reason, 200)}`);
        break;
      case 'control_refused':
        add('warn', `! runner refused a ${ev.kind} message${ev.id ? ` (${oneLine(ev.id, 64)})` : ''}: ${oneLine(ev.reason, 200)}`);
        break;
      case 'interrupt_sent':
        add('warn', `! interrupted by ${oneLine(ev.by, 120)}`);
        break;
      case 'claude_settings':
        add('notice', `· ${oneLine(settingsText(ev), 300)}`);
        break;
      case 'pty_resized':
        break;
      case 'pty_waiting':
        if (ev.waiting) add('notice', `· Claude is waiting for you${ev.message ? `: ${oneLine(ev.message, 200)}` : ''}`);
        break;
      case 'exec_started':
        add('notice', `· command ${oneLine(ev.name, 64)} started`);
        break;
      case 'exec_refused':
        add('warn', `! command ${oneLine(ev.name, 64)} refused: ${oneLine(ev.reason, 200)}`);
        break;
      case 'exec_exit':
        add(ev.code === 0 ? 'notice' : 'warn', `· command ${oneLine(ev.name, 64)} ${ev.timedOut ? 'timed out' : ev.signal ? `ended by ${oneLine(ev.signal, 32)}` : `exited ${ev.code}`} after ${fmtDuration(ev.durationMs)}`);
        break;
      case 'collect_started':
        add('notice', `· collecting artifacts (${ev.trigger === 'exit' ? 'at exit' : 'on request'})`);
        break;
      case 'collect_done':
        if (ev.error) add('warn', `! artifact collection failed: ${oneLine(ev.error, 200)}`);
        else add('notice', `· collected ${ev.uploaded.length} artifact${ev.uploaded.length === 1 ? '' : 's'}${ev.skipped.length ? `, skipped ${ev.skipped.length}` : ''}`);
        break;
      case 'assist_started':
        add('notice', `· assist session open until ${new Date(ev.expiresAt).toISOString().slice(11, 19)} UTC`);
        break;
      case 'assist_stopped':
        add('notice', `· assist session closed: ${oneLine(ev.reason, 200)}`);
        break;
      case 'assist_refused':
        add('warn', `! assist session refused: ${oneLine(ev.reason, 200)}`);
        break;
      default: {
        const never: never = ev;
        return never;
      }
    }
    return out;
  }
}

/** All lines of a list of items. */
export function renderTimelineText(items: Iterable<TimelineItem>, opts?: TextOptions): TextLine[] {
  const r = new TextTimeline(opts);
  const out: TextLine[] = [];
  for (const item of items) out.push(...r.push(item));
  return out;
}

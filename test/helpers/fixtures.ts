import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseClaudeLine } from '../../protocol/claude-stream.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import type { TimelineItem } from '../../protocol/timeline.js';

export const CLAUDE_FIXTURES = fileURLToPath(new URL('../../../test/fixtures/claude/', import.meta.url));

export interface FixtureLine {
  dir: 'in' | 'out';
  line: unknown;
}

/** A captured session (test/fixtures/claude/NAME.jsonl): what claude printed and what it was sent. */
export function fixture(name: string): FixtureLine[] {
  return readFileSync(`${CLAUDE_FIXTURES}${name}.jsonl`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FixtureLine);
}

export function fixtureNames(): string[] {
  return readdirSync(CLAUDE_FIXTURES).filter((f) => f.endsWith('.jsonl')).map((f) => f.slice(0, -6)).sort();
}

/** Claude's stdout lines of a fixture, as the exact text it printed. */
export function stdoutLines(name: string): string[] {
  return fixture(name)
    .filter((l) => l.dir === 'out' && !(l.line as { ccgCaptureExit?: unknown }).ccgCaptureExit)
    .map((l) => ((l.line as { nonJson?: string }).nonJson !== undefined ? (l.line as { nonJson: string }).nonJson : JSON.stringify(l.line)));
}

/**
 * The timeline events the runner would emit for a fixture: Claude's output through the real
 * parser, plus what the driver adds (input_sent for what went to stdin, approval_requested /
 * approval_resolved around each permission request and its recorded answer).
 */
export function fixtureItems(name: string): TimelineItem[] {
  const items: TimelineItem[] = [];
  let seq = 0;
  const push = (event: RunnerEvent) => items.push({ seq: ++seq, time: 1_795_000_000_000 + seq * 1000, event });
  const approvals = new Map<string, string>();
  let inputs = 0;
  for (const { dir, line } of fixture(name)) {
    const l = line as Record<string, unknown>;
    if (l['ccgCaptureExit']) continue;
    if (dir === 'in') {
      if (l['type'] === 'user') {
        const text = String((l['message'] as { content: unknown }).content);
        push({ type: 'input_sent', inputId: inputs++ === 0 ? 'initial-prompt' : `followup-${inputs}`, by: inputs === 1 ? 'runner' : 'alice', text, bytes: Buffer.byteLength(text) });
      } else if (l['type'] === 'control_response') {
        const r = l['response'] as { request_id: string; response: { behavior: string; message?: string; updatedPermissions?: unknown[] } };
        const approvalId = approvals.get(r.request_id);
        if (approvalId) {
          push({
            type: 'approval_resolved',
            approvalId,
            decision: r.response.behavior === 'allow' ? 'allow' : 'deny',
            always: Array.isArray(r.response.updatedPermissions),
            message: r.response.message ?? null,
            by: 'alice',
            reason: 'operator',
          });
        }
      }
      continue;
    }
    const text = (l as { nonJson?: string }).nonJson !== undefined ? String(l['nonJson']) : JSON.stringify(line);
    const parsed = parseClaudeLine(text);
    for (const ev of parsed.events) push(ev);
    if (parsed.control?.kind === 'can_use_tool') {
      const req = parsed.control.request;
      const approvalId = `approval-${String(approvals.size + 1).padStart(8, '0')}`;
      approvals.set(req.requestId, approvalId);
      push({
        type: 'approval_requested',
        approvalId,
        toolName: req.toolName,
        displayName: req.displayName,
        toolUseId: req.toolUseId,
        input: req.input as never,
        inputTruncated: false,
        description: req.description,
        blockedPath: req.blockedPath,
        rule: req.rule,
        expiresAt: 1_795_000_600_000,
      });
    }
  }
  return items;
}

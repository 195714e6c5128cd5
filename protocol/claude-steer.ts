import { z } from 'zod';
import { planCheck } from './schema-plan.js';

/**
 * Steering Claude Code beyond allow/deny: its questions (AskUserQuestion), its plan
 * (ExitPlanMode), the diff an edit tool would make, its permission mode and model, and "stop this
 * turn". The schemas of what the runner reports, and the stdin lines that carry the answers, as
 * verified against Claude Code 2.1.331 (docs/CLAUDE_CODE.md, "Steering a session"):
 *
 *   allow + updatedInput.answers {question: label | [labels] | free text}   answers AskUserQuestion
 *   allow + updatedPermissions [{type:"setMode", mode, destination:"session"}] leaves plan mode / allows all edits
 *   control_request {subtype:"set_permission_mode", mode}  → control_response {mode}
 *   control_request {subtype:"set_model", model}           → control_response {model}
 *   control_request {subtype:"interrupt"}                   → the turn ends, stdin stays open
 */

/** Permission modes an operator may switch to. `bypassPermissions` only where the runner's owner allowed it. */
export const PERMISSION_MODES = ['default', 'acceptEdits', 'plan', 'bypassPermissions'] as const;
export const PermissionMode = z.enum(PERMISSION_MODES);
export type PermissionMode = z.infer<typeof PermissionMode>;
/** What leaving plan mode may switch to (ExitPlanMode's "approve and keep asking" / "approve and allow edits"). */
export const PLAN_EXIT_MODES = ['default', 'acceptEdits'] as const;
export const PlanExitMode = z.enum(PLAN_EXIT_MODES);
export type PlanExitMode = z.infer<typeof PlanExitMode>;

/** Words for a mode, the same on every screen. */
export function modeLabel(mode: string | null | undefined): string {
  switch (mode) {
    case 'default':
      return 'ask before edits';
    case 'acceptEdits':
      return 'allow all edits';
    case 'plan':
      return 'plan only';
    case 'bypassPermissions':
      return 'bypass permissions';
    case null:
    case undefined:
      return 'unknown';
    default:
      return mode;
  }
}

/** Model names as `claude --model` takes them: an alias (`sonnet`) or a full id. */
export const MODEL_RE = /^[A-Za-z0-9][A-Za-z0-9._:\[\]@/-]{0,99}$/;
export const ModelName = z.string().regex(MODEL_RE, 'a model name: letters, digits and . _ : - / @ [ ]');

export const MAX_QUESTIONS = 4;
export const MAX_OPTIONS = 8;
export const MAX_ANSWER = 2000;
export const MAX_PLAN = 48 * 1024;
export const MAX_DIFF = 48 * 1024;
export const MAX_PATCH = 24 * 1024;

export const QuestionOption = z.object({
  label: z.string().min(1).max(200),
  description: z.string().max(1000),
});
/** One of Claude's questions (AskUserQuestion), as operators see it. */
export const ClaudeQuestion = z.object({
  question: z.string().min(1).max(1000),
  header: z.string().max(100),
  multiSelect: z.boolean(),
  options: z.array(QuestionOption).max(MAX_OPTIONS),
});
export type ClaudeQuestion = z.infer<typeof ClaudeQuestion>;

/** One question's answer: an option's label, several (multi-select), or free text. */
export const QuestionAnswer = z.union([z.string().min(1).max(MAX_ANSWER), z.array(z.string().min(1).max(200)).min(1).max(MAX_OPTIONS)]);
/** Answers keyed by the question's text, as Claude reads them. */
export const QuestionAnswers = z
  .record(z.string().min(1).max(1000), QuestionAnswer)
  .refine((r) => Object.keys(r).length >= 1 && Object.keys(r).length <= MAX_QUESTIONS, { message: `answer 1 to ${MAX_QUESTIONS} questions`, params: planCheck(['keys', 1, MAX_QUESTIONS]) });
export type QuestionAnswers = z.infer<typeof QuestionAnswers>;

/**
 * The unified diff an edit tool would make, computed by the runner against the file on disk
 * (`git diff` form, one file), or why there is none (`note`).
 */
export const ToolDiff = z.object({
  path: z.string().max(4096),
  text: z.string().max(MAX_DIFF),
  truncated: z.boolean(),
  /** "new file", "file not found: the edit will fail", "too large to preview"… */
  note: z.string().max(300).nullable(),
});
export type ToolDiff = z.infer<typeof ToolDiff>;

/** Tools whose approval carries a diff. */
export const EDIT_TOOLS: ReadonlySet<string> = new Set(['Edit', 'Write', 'MultiEdit', 'NotebookEdit']);
export const ASK_TOOL = 'AskUserQuestion';
export const PLAN_TOOL = 'ExitPlanMode';

/** What kind of answer an approval takes, from its tool. */
export function approvalKind(toolName: string): 'questions' | 'plan' | 'tool' {
  return toolName === ASK_TOOL ? 'questions' : toolName === PLAN_TOOL ? 'plan' : 'tool';
}

/** Checks answers against the questions: every key is a question, every multi-select label an option. Returns a problem or null. */
export function answersProblem(questions: readonly ClaudeQuestion[], answers: QuestionAnswers): string | null {
  for (const [q, a] of Object.entries(answers)) {
    const question = questions.find((x) => x.question === q);
    if (!question) return `Claude did not ask "${q.slice(0, 80)}"`;
    if (Array.isArray(a)) {
      if (!question.multiSelect) return `"${q.slice(0, 80)}" takes one answer`;
      const bad = a.find((l) => !question.options.some((o) => o.label === l));
      if (bad !== undefined) return `"${bad.slice(0, 80)}" is not an option of "${q.slice(0, 80)}"`;
    }
  }
  return null;
}

// ---- Claude's structuredPatch (Edit/Write/MultiEdit results)

const Hunk = z.looseObject({
  oldStart: z.number(),
  oldLines: z.number(),
  newStart: z.number(),
  newLines: z.number(),
  lines: z.array(z.string()),
});
const ToolUseResultPatch = z.looseObject({ filePath: z.string().optional(), structuredPatch: z.array(Hunk) });

/**
 * The patch Claude reports for an edit (`tool_use_result.structuredPatch` on the user line) as
 * unified diff text in `git diff` form, capped; null when the line carries none (or an empty one).
 */
export function patchText(toolUseResult: unknown, max = MAX_PATCH): { text: string; truncated: boolean } | null {
  const p = ToolUseResultPatch.safeParse(toolUseResult);
  if (!p.success || p.data.structuredPatch.length === 0) return null;
  const path = (p.data.filePath ?? 'file').slice(0, 4096);
  const out = [`diff --git a/${path} b/${path}`, `--- a/${path}`, `+++ b/${path}`];
  let size = out.join('\n').length;
  for (const h of p.data.structuredPatch.slice(0, 1000)) {
    for (const line of [`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, ...h.lines]) {
      size += line.length + 1;
      if (size > max) return { text: out.join('\n') + '\n', truncated: true };
      out.push(line);
    }
  }
  return { text: out.join('\n') + '\n', truncated: false };
}

// ---- what goes into Claude's stdin

/** Asks Claude to switch its permission mode; it answers with a control_response `{mode}`. */
export function setModeLine(requestId: string, mode: PermissionMode): string {
  return JSON.stringify({ type: 'control_request', request_id: requestId, request: { subtype: 'set_permission_mode', mode } }) + '\n';
}

/** Asks Claude to use another model from the next request on; it answers with `{model}` (the resolved id). */
export function setModelLine(requestId: string, model: string): string {
  return JSON.stringify({ type: 'control_request', request_id: requestId, request: { subtype: 'set_model', model } }) + '\n';
}


/** Whether Claude would read a prompt as a slash command (`/model haiku`), which can change what a runner's `--modes` and `--models` bound. */
export function isSlashCommand(text: string): boolean {
  return text.trimStart().startsWith('/');
}

import { STREAM_STDOUT } from '../../protocol/frames.js';
import type { RunSummary } from '../../protocol/run.js';
import { RunnerEvent } from '../../protocol/runner-events.js';
import { TextTimeline, type TextKind } from '../render/timeline-text.js';
import { RAW_LENS, type EventDescriber, type EventRenderer, type OutputLens } from './output-model.js';
import type { Style } from './sanitize.js';

/** How each kind of timeline line looks. Colour is dropped by the view under NO_COLOR; the marks (◆ ⚙ ✔ ✖ ⏳) carry the meaning. */
const KIND_STYLE: Record<TextKind, Style> = {
  session: { dim: true },
  assistant: {},
  thinking: { dim: true, italic: true },
  tool: { color: 'cyan' },
  'result-ok': { color: 'green', bold: true },
  'result-error': { color: 'red', bold: true },
  approval: { color: 'yellow', bold: true },
  prompt: { color: 'magenta', bold: true },
  notice: { dim: true },
  warn: { color: 'yellow' },
  raw: { dim: true },
  'diff-add': { color: 'green' },
  'diff-del': { color: 'red' },
  'diff-hunk': { color: 'cyan' },
};

function timelineRenderer(describe: EventDescriber): EventRenderer {
  const text = new TextTimeline({ approvalHint: () => 'press a to answer it' });
  return (ev, at) => {
    const parsed = RunnerEvent.safeParse(ev);
    if (!parsed.success) {
      // A newer runner's event, or one a feature describes: as the raw view shows it.
      const line = describe(ev);
      return line === null ? [] : [{ text: line, style: { dim: true } }];
    }
    return text.push({ seq: at.seq, time: at.time, index: at.index, event: parsed.data }).map((l) => ({ text: l.text, style: KIND_STYLE[l.kind] }));
  };
}

/**
 * Claude runs: the readable timeline. Claude's raw stream-json (stdout) is left out; its stderr,
 * allowlisted-command output and every runner event (as the timeline) are shown. Text from the
 * model is hostile: TextTimeline removes every control sequence, and the output model sanitizes
 * each line once more.
 */
export const TIMELINE_LENS: OutputLens = { name: 'timeline', hide: [STREAM_STDOUT], events: timelineRenderer };

/** A Claude run in stream-json mode (not `--pty`): its output reads best as the timeline. */
export function isClaudeRun(run: RunSummary | null | undefined): boolean {
  return run?.runner?.mode === 'claude' && run.runner.pty !== true;
}

/** The lens for a run: the timeline for Claude runs unless raw output was asked for; everything else raw. */
export function lensFor(run: RunSummary | null | undefined, raw: boolean): OutputLens {
  return isClaudeRun(run) && !raw ? TIMELINE_LENS : RAW_LENS;
}

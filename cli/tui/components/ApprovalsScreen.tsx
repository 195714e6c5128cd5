import { Box, Text } from 'ink';
import { useLayoutEffect, useRef, useState } from 'react';
import type { Approval } from '../../../protocol/claude-control.js';
import { MAX_MESSAGE } from '../../../protocol/claude-events.js';
import { atLeast } from '../../../protocol/roles.js';
import { toolSummary } from '../../../protocol/timeline.js';
import { ESC_BACK, usePanelHelp } from '../hooks/use-panel-help.js';
import type { PanelProps } from '../panels.js';
import { clean, fit } from '../theme.js';
import { approvalKind, type ClaudeQuestion, type QuestionAnswers } from '../../../protocol/claude-steer.js';
import { approvalDetail, inputLines, type SteerKind } from '../../render/steer-text.js';

const STEER_COLOR: Partial<Record<SteerKind, string>> = { 'diff-add': 'green', 'diff-del': 'red', 'diff-hunk': 'cyan', question: 'yellow' };

/**
 * What an operator typed as answers: an option's number (one question), `N=OPTIONS` per question
 * (`1=2 2=1+3`: options 1 and 3 of a multi-select), or their own words (one question). Throws
 * with what to type instead.
 */
export function parseAnswers(questions: readonly ClaudeQuestion[], text: string): QuestionAnswers {
  const t = text.trim();
  if (!t) throw new Error('nothing typed');
  const answers: QuestionAnswers = {};
  const pick = (q: ClaudeQuestion, nums: string) => {
    const labels = nums.split('+').map((n) => {
      const o = q.options[Number(n) - 1];
      if (!o) throw new Error(`"${q.question.slice(0, 40)}" has no option ${n}`);
      return o.label;
    });
    if (labels.length > 1 && !q.multiSelect) throw new Error(`"${q.question.slice(0, 40)}" takes one option`);
    answers[q.question] = q.multiSelect ? [...new Set(labels)] : labels[0]!;
  };
  if (/^\d{1,2}(\+\d{1,2})*$/.test(t) && questions.length === 1) {
    pick(questions[0]!, t);
    return answers;
  }
  const parts = t.split(/\s+/);
  if (parts.every((p) => /^\d{1,2}=\d{1,2}(\+\d{1,2})*$/.test(p))) {
    for (const p of parts) {
      const [n, nums] = p.split('=') as [string, string];
      const q = questions[Number(n) - 1];
      if (!q) throw new Error(`there is no question ${n}`);
      pick(q, nums);
    }
    return answers;
  }
  if (questions.length !== 1) throw new Error('several questions: type N=OPTION for each, e.g. 1=2 2=1+3');
  answers[questions[0]!.question] = t.slice(0, 2000);
  return answers;
}


/** "allowed by alice", "denied (timeout)": what became of an approval, or null while it is open. */
export function approvalOutcome(a: Approval): string | null {
  const verb = (d: 'allow' | 'deny', always: boolean) => (d === 'allow' ? (always ? 'always allowed' : 'allowed') : 'denied');
  if (a.resolution) {
    const r = a.resolution;
    return `${verb(r.decision, r.always)} ${r.reason === 'operator' ? `by ${r.by}` : r.reason === 'timeout' ? '(nobody answered in time)' : `(${r.reason})`}`;
  }
  if (a.answer) return `${verb(a.answer.decision, a.answer.always)} by ${a.answer.by}`;
  return null;
}

function mark(a: Approval): string {
  if (a.state === 'pending') return '⏳';
  const d = a.resolution?.decision ?? a.answer?.decision;
  return d === 'allow' ? '✔' : '✖';
}

function mmss(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** After the approval under the cursor changed by itself, this long (ms) before a key answers it (a setting: tests lengthen it). */
export const APPROVAL_SETTLE = { ms: 1500 };

/**
 * The approvals of the selected run: the open ones first, then the recently resolved; the chosen
 * one in full (tool, description, input, the rule "always" would add, time left). Operators and
 * admins answer; viewers see the same screen without the keys.
 */
export function ApprovalsScreen({ ctx, api, close, keys, setHelp, height, width, theme }: PanelProps) {
  const { live } = ctx;
  const list = [...live.approvals].sort((a, b) => Number(b.state !== 'resolved') - Number(a.state !== 'resolved') || a.requestedAt - b.requestedAt);
  // The cursor is on an approval, not a row: rows move as approvals open and close. A new open
  // one takes it from a resolved one (it is what needs an answer).
  type Choice = { id: string; seen: ReadonlySet<string> } | null;
  const [choice, setChoiceState] = useState<Choice>(null);
  const choiceRef = useRef<Choice>(null);
  const choose = (all: readonly Approval[], id: string | null) => {
    ownMove.current = shown.current?.id ?? null; // set before the render that shows the move
    const c = id === null ? null : { id, seen: new Set(all.filter((a) => a.state !== 'resolved').map((a) => a.approvalId)) };
    choiceRef.current = c;
    setChoiceState(c);
  };
  const pick = (all: readonly Approval[], c: Choice): number => {
    const at = c ? all.findIndex((a) => a.approvalId === c.id) : -1;
    const firstOpen = all.findIndex((a) => a.state !== 'resolved');
    if (at < 0) return firstOpen >= 0 ? firstOpen : Math.max(0, all.length - 1);
    if (all[at]!.state !== 'resolved') return at;
    const fresh = all.findIndex((a) => a.state !== 'resolved' && !c!.seen.has(a.approvalId));
    return fresh >= 0 ? fresh : at;
  };
  const cursor = pick(list, choice);
  const selected = list[cursor] ?? null;
  // The approval under the cursor changed without the operator (the one they were reading was
  // answered elsewhere, or withdrawn, and the next took its place): an answer key in the next
  // moment was meant for the one that went, so the first press only says so. Moving the cursor,
  // or answering the one before from here, is the operator's own doing.
  const shown = useRef<{ id: string | null; changedAt: number } | null>(null);
  /** The approval the operator moved the cursor from (until the render that shows the move). */
  const ownMove = useRef<string | null>(null);
  /** Approvals answered from this screen: the next one taking the cursor is expected. */
  const answeredHere = useRef(new Set<string>());
  const shownId = selected?.approvalId ?? null;
  if (shown.current === null) shown.current = { id: shownId, changedAt: 0 };
  else if (shown.current.id !== shownId) {
    const from = shown.current.id;
    const own = from !== null && (ownMove.current === from || answeredHere.current.has(from));
    shown.current = { id: shownId, changedAt: own ? 0 : Date.now() };
  }
  ownMove.current = null;
  const mayAnswer = atLeast(ctx.role, 'operator');
  const listRef = useRef(list);
  listRef.current = list;

  useLayoutEffect(() => {
    keys.current = (name) => {
      const all = listRef.current;
      const at = pick(all, choiceRef.current);
      const chosen = all[at] ?? null;
      if (name === 'escape' || name === 'q' || name === 'a') return close();
      if (name === 'up' || name === 'k') return choose(all, all[Math.max(0, at - 1)]?.approvalId ?? null);
      if (name === 'down' || name === 'j') return choose(all, all[Math.min(all.length - 1, at + 1)]?.approvalId ?? null);
      if (name !== 'y' && name !== 'n' && name !== 'A' && name !== 'e') return;
      if (!chosen) return ctx.notify('no approval to answer', 'error');
      const came = shown.current;
      if (came && came.id === chosen.approvalId && came.changedAt > 0 && Date.now() - came.changedAt < APPROVAL_SETTLE.ms) {
        came.changedAt = 0;
        return ctx.notify(`the approval changed just now: ${clean(chosen.toolName, 30)} is new here; read it, then press ${name} again`, 'error');
      }
      choose(all, chosen.approvalId);
      if (!mayAnswer) return ctx.notify(`viewers see approvals but cannot answer them (you are ${ctx.role ?? 'not connected yet'})`, 'error');
      const kind = approvalKind(chosen.toolName);
      if (kind !== 'tool' && chosen.state !== 'pending') return ctx.answerApproval(chosen, 'deny'); // says who answered first
      // Answered from here: the approval that takes its place next is expected (see `shown`).
      const answering = () => {
        if (chosen.state === 'pending') answeredHere.current.add(chosen.approvalId);
      };
      const sent = (p: Promise<unknown>, what: string) => {
        answering();
        return p.then(() => ctx.notify(what)).catch((err: Error) => ctx.notify(`not sent: ${clean(err.message, 200)}`, 'error'));
      };
      if (kind === 'questions' && name === 'y') {
        const qs = chosen.questions ?? [];
        return ctx.prompt({
          label: qs.length === 1 ? 'Answer: an option number (2, or 1+3 where several are allowed), or your own words:' : 'Answers, N=OPTION each (1=2 2=1+3):',
          placeholder: qs.length === 1 ? '1' : '1=1 2=2',
          onSubmit: (value) => {
            try {
              sent(api.answerQuestions(chosen.runId, chosen.approvalId, parseAnswers(qs, value)), 'answer sent to Claude');
            } catch (err) {
              ctx.notify((err as Error).message, 'error');
            }
          },
        });
      }
      if (kind === 'plan' && (name === 'y' || name === 'e')) {
        const mode = name === 'e' ? 'acceptEdits' : 'default';
        return sent(api.answerPlan(chosen.runId, chosen.approvalId, { decision: 'approve', mode }), `plan approved${mode === 'acceptEdits' ? '; edits allowed' : ''}`);
      }
      if (kind === 'plan' && name === 'n') {
        return ctx.prompt({
          label: 'Keep planning; what should Claude change? (optional)',
          placeholder: 'e.g. also cover the migration',
          onSubmit: (message) => {
            const m = message.trim().slice(0, MAX_MESSAGE);
            sent(api.answerPlan(chosen.runId, chosen.approvalId, { decision: 'keep_planning', ...(m ? { message: m } : {}) }), 'Claude keeps planning');
          },
        });
      }
      if (name === 'e' || (kind !== 'tool' && name === 'A')) return;
      if (name === 'y') {
        answering();
        return ctx.answerApproval(chosen, 'allow');
      }
      if (name === 'A') {
        if (chosen.rule || chosen.modeSuggestion) answering();
        return ctx.answerApproval(chosen, 'allow', { always: true });
      }
      if (chosen.state !== 'pending') return ctx.answerApproval(chosen, 'deny'); // says who answered first
      ctx.prompt({
        label: `Deny ${clean(chosen.toolName, 20)}; message for Claude (optional):`,
        placeholder: 'why, or what to do instead',
        onSubmit: (message) => {
          const m = message.trim().slice(0, MAX_MESSAGE);
          answering();
          ctx.answerApproval(chosen, 'deny', m ? { message: m } : {});
        },
      });
    };
    return () => {
      keys.current = null;
    };
  });

  const open = list.filter((a) => a.state !== 'resolved').length;
  const run = ctx.selectedRun;
  const head = `${open === 0 ? 'No approval waiting' : `${open} approval${open === 1 ? '' : 's'} open`} for ${run ? `${clean(run.name, 30)} (${run.id})` : 'no run'}`;
  const listHeight = Math.max(1, Math.min(list.length || 1, 5, height - 8));
  const top = Math.max(0, Math.min(cursor - listHeight + 1, list.length - listHeight));
  const detailHeight = Math.max(1, height - (mayAnswer ? 2 : 3) - listHeight);
  const details: { text: string; bold?: boolean; dim?: boolean; color?: string }[] = [];
  if (selected) {
    const a = selected;
    const outcome = approvalOutcome(a);
    details.push({ text: `${clean(a.toolName, 60)}${a.displayName && a.displayName !== a.toolName ? ` (${clean(a.displayName, 60)})` : ''}${a.description ? ` — ${clean(a.description, 200)}` : ''}`, bold: true });
    if (a.blockedPath) details.push({ text: `path: ${clean(a.blockedPath, 300)}` });
    const kind = approvalKind(a.toolName);
    if (a.state === 'pending' && kind === 'questions') details.push({ text: 'y answers (option numbers or your own words), n denies', dim: true });
    else if (a.state === 'pending' && kind === 'plan') details.push({ text: 'y approves (Claude still asks before edits), e approves and allows edits, n keeps planning', dim: true });
    else if (a.state === 'pending') {
      details.push({ text: a.rule ? `A would always allow ${clean(a.rule.toolName, 60)}${a.rule.ruleContent ? `(${clean(a.rule.ruleContent, 120)})` : ''} for this run` : a.modeSuggestion === 'acceptEdits' ? 'A allows all edits this session (acceptEdits)' : 'Claude suggested no rule: it can be allowed once only', dim: true });
      details.push({ text: `denied by the runner in ${mmss(a.expiresAt - Date.now())} if nobody answers`, dim: true });
    } else {
      details.push({ text: outcome ?? '', color: 'yellow' });
      if (a.state === 'answered') details.push({ text: 'on its way to the runner…', dim: true });
      const message = a.resolution?.message ?? a.answer?.message;
      if (message) details.push({ text: `message: ${clean(message, 300)}` });
    }
    const extra = approvalDetail(a, { width: Math.max(20, width - 2), maxLines: Math.max(1, detailHeight - details.length - 1) });
    const room = detailHeight - details.length - (extra.length ? extra.length : 1);
    // A diff, questions or a plan say it better than the raw input; the input follows if there is room.
    for (const l of extra) details.push({ text: l.text, ...(STEER_COLOR[l.kind] ? { color: STEER_COLOR[l.kind]! } : {}), ...(l.kind === 'note' ? { dim: true } : {}) });
    if (extra.length === 0) details.push({ text: 'input:' });
    // Wrapped, never cut at the edge: the whole command is what is approved.
    const lines = extra.length ? [] : inputLines(a.input, a.inputTruncated, { width: Math.max(10, width - 2), maxLines: Math.max(1, room - (a.inputTruncated ? 2 : 1)) });
    for (const l of lines) details.push({ text: `  ${l.text}`, ...(l.kind === 'note' ? { dim: true } : {}) });
  }
  usePanelHelp(setHelp, [
    ...(mayAnswer
      ? [
          { key: 'y', help: 'approve', rank: 1 },
          { key: 'n', help: 'deny', rank: 1 },
          { key: 'A', help: selected?.modeSuggestion && !selected.rule ? 'allow all edits' : 'always allow', rank: 2 },
          ...(selected && approvalKind(selected.toolName) === 'plan' ? [{ key: 'e', help: 'approve + edits', rank: 1 }] : []),
        ]
      : []),
    { key: '↑↓', help: 'choose', rank: 3 },
    ESC_BACK,
  ]);
  return (
    <Box height={height} flexDirection="column" overflow="hidden">
      <Text bold wrap="truncate-end">
        {head}
      </Text>
      <Box height={listHeight} flexDirection="column">
        {list.length === 0 ? (
          <Text dimColor>  Nothing has asked for approval in this run since it was opened here.</Text>
        ) : (
          list.slice(top, top + listHeight).map((a, i) => {
            const here = top + i === cursor;
            const outcome = approvalOutcome(a);
            const age = mmss(Date.now() - a.requestedAt);
            return (
              <Text key={a.approvalId} wrap="truncate-end" bold={here} inverse={here} dimColor={a.state === 'resolved' && !here}>
                {here ? '› ' : '  '}
                {mark(a)} {fit(`${clean(a.toolName, 30)}: ${toolSummary(a.toolName, a.input, 200)}`, Math.max(10, width - 8 - (outcome ? Math.min(outcome.length, 36) + 2 : age.length + 2)))}
                {'  '}
                {outcome ? fit(clean(outcome, 36), Math.min(outcome.length, 36)) : age}
              </Text>
            );
          })
        )}
      </Box>
      <Text dimColor>{'─'.repeat(Math.max(1, width))}</Text>
      <Box height={detailHeight} flexDirection="column" overflow="hidden">
        {details.map((d, i) => (
          <Text key={i} wrap="truncate-end" bold={d.bold} dimColor={d.dim} color={theme.color ? d.color : undefined}>
            {d.text || ' '}
          </Text>
        ))}
      </Box>
      {mayAnswer ? null : (
        <Text dimColor wrap="truncate-end">
          read only: answering needs the operator or admin role (you are {clean(ctx.role ?? '?', 20)})
        </Text>
      )}
    </Box>
  );
}

import type { TemplatedApp } from 'uWebSockets.js';
import { MAX_INPUT } from '../../../../protocol/claude-events.js';
import { CcgError } from '../../../../protocol/errors.js';
import { isFinal, type RunSummary } from '../../../../protocol/run.js';
import { canOperate, type Principal } from '../../../auth/operator-auth.js';
import { fragment, pageRoute, redirect, runIdOf, type BrowserDeps, type PageCtx } from '../browser.js';
import type { RunSection } from '../run-sections.js';
import { isClaudeRun } from './timeline.js';

/**
 * Keys a phone keyboard cannot type, for `--pty` runs, as the bytes a terminal sends. A fixed
 * list: the form names a key, never bytes.
 */
export const PTY_KEYS: Record<string, { label: string; bytes: string }> = {
  enter: { label: 'Enter', bytes: '\r' },
  'ctrl-c': { label: 'Ctrl-C', bytes: '\u0003' },
  esc: { label: 'Esc', bytes: '\u001b' },
  tab: { label: 'Tab', bytes: '\t' },
  up: { label: '↑', bytes: '\u001b[A' },
  down: { label: '↓', bytes: '\u001b[B' },
  'ctrl-d': { label: 'Ctrl-D', bytes: '\u0004' },
};

function inputKind(run: RunSummary, viewer: Principal): 'claude' | 'pty' | 'off' | null {
  if (!canOperate(viewer) || isFinal(run.status) || !run.runner) return null;
  const kind = run.runner.pty ? 'pty' : isClaudeRun(run) ? 'claude' : null;
  // The runner's owner turned remote input off (--no-remote-input): say so instead of a box
  // whose every send would be refused.
  if (kind && run.runner.remote?.input === false) return 'off';
  return kind;
}

function inputData(run: RunSummary, viewer: Principal, extra: { sent?: string | null; problem?: string | null; text?: string } = {}): Record<string, unknown> | null {
  const kind = inputKind(run, viewer);
  if (!kind) return null;
  return { kind, runId: run.id, keys: Object.entries(PTY_KEYS).map(([name, k]) => ({ name, label: k.label })), maxInput: MAX_INPUT, sent: null, problem: null, text: '', ...extra };
}

/**
 * The follow-up box of a Claude run (a new user turn for Claude), or a keys box for a `--pty` run
 * (typed text, optionally Enter, and the keys a phone keyboard lacks). Operators and admins only.
 * Through SteeringService: audited, nothing queued while the runner is away.
 */
export function inputSection(_d: BrowserDeps): RunSection {
  return {
    id: 'input',
    // The terminal view has its own key bar (terminal.js); the form is the raw view's, for no JavaScript.
    data: (c) => (c.view === 'terminal' ? null : inputData(c.run, c.viewer)),
    key: (run, viewer) => String(inputKind(run, viewer)),
  };
}

const SENDABLE = ['ERR_RUNNER_AWAY', 'ERR_RUN_FINISHED', 'ERR_INPUT_UNSUPPORTED', 'ERR_TOO_LARGE', 'ERR_BAD_REQUEST'];

async function send(pc: PageCtx, id: string, build: (f: URLSearchParams) => { text?: string; data?: string; echo: string }): Promise<ReturnType<typeof redirect>> {
  const d = pc.d;
  const f = await pc.form();
  const run = d.runs.summary(d.runs.mustGet(id));
  let sent: string | null = null;
  let problem: string | null = null;
  try {
    const body = build(f);
    await d.powers.steering.input(id, body.text !== undefined ? { text: body.text } : { data: body.data }, pc.principal!, pc.ip);
    sent = body.echo;
  } catch (err) {
    if (!(err instanceof CcgError) || !SENDABLE.includes(err.code)) throw err;
    if (!pc.htmx) throw err;
    problem = err.message.charAt(0).toUpperCase() + err.message.slice(1) + '.';
  }
  if (!pc.htmx) return redirect(pc, `/runs/${id}?notice=input-sent#run-input`);
  const text = problem ? (f.get('text') ?? '').slice(0, MAX_INPUT) : '';
  const data = inputData(run, pc.principal!, { sent, problem, text });
  // No box any more (the run ended meanwhile): the refusal and the typed text still show, so
  // nothing typed is lost without a word.
  return fragment(pc, 200, 'run/input', { ...(data ?? { kind: null, problem, text }), csrf: pc.csrf });
}

/** `POST /runs/:id/input` (a follow-up for Claude) and `POST /runs/:id/keys` (a --pty run). */
export function mountInputActions(app: TemplatedApp, d: BrowserDeps): void {
  pageRoute(app, d, 'post', '/runs/:id/input', { auth: 'user', role: 'operator' }, (pc) =>
    send(pc, runIdOf(pc), (f) => {
      const text = (f.get('text') ?? '').replace(/\r\n/g, '\n');
      if (!text.trim()) throw new CcgError('ERR_BAD_REQUEST', 'type a message for Claude first');
      return { text, echo: text.length > 120 ? `${text.slice(0, 119)}…` : text };
    }),
  );

  pageRoute(app, d, 'post', '/runs/:id/keys', { auth: 'user', role: 'operator' }, (pc) =>
    send(pc, runIdOf(pc), (f) => {
      const key = f.get('key');
      if (key !== null && key !== '') {
        const k = Object.hasOwn(PTY_KEYS, key) ? PTY_KEYS[key]! : null;
        if (!k) throw new CcgError('ERR_BAD_REQUEST', 'unknown key');
        return { data: Buffer.from(k.bytes).toString('base64'), echo: k.label };
      }
      const text = f.get('text') ?? '';
      const enter = f.get('enter') === '1';
      if (!text && !enter) throw new CcgError('ERR_BAD_REQUEST', 'type something to send first');
      return { data: Buffer.from(text + (enter ? '\r' : '')).toString('base64'), echo: `${text.length} character${text.length === 1 ? '' : 's'}${enter ? ' and Enter' : ''}` };
    }),
  );
}

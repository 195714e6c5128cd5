import http from 'node:http';
import https from 'node:https';
import { isFinal, type RunSummary } from '../../protocol/run.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { visibleText } from '../../protocol/terminal-escapes.js';
import { toolSummary } from '../../protocol/timeline.js';
import { apiErrorPhrase, type ApiRetry } from '../../protocol/claude-system.js';
import type { ApprovalChange } from '../live/bus.js';
import type { Logger } from '../log.js';
import type { PushPayload, WebPush } from './web-push.js';

export interface NotifierOptions {
  /** A webhook or ntfy topic URL (CCG_NOTIFY_URL). */
  url?: string | undefined;
  /** `json` (default; ntfy when the host looks like ntfy) or `ntfy`. */
  format?: 'json' | 'ntfy' | undefined;
  push: WebPush | null;
  /** Base of links in notifications (the gateway's public URL). */
  baseUrl: () => string;
  runName: (runId: string) => string;
  log: Logger;
  /** Tests: an agent that trusts the local webhook stand-in. */
  agent?: https.Agent;
}

/** Delivery to one URL takes at most this long; it is never retried (a notification is a nudge, not a record). */
const WEBHOOK_TIMEOUT_MS = 10_000;
/** Per run and minute: a runner cannot turn the gateway into a pager spammer. */
const PER_RUN_PER_MINUTE = 10;

/** Runner and Claude text as one plain line for a notification: escape sequences dropped, bidi controls shown (protocol/terminal-escapes.ts). */
function clip(s: string, n: number): string {
  const flat = visibleText(s, { tab: ' ' }).replace(/\s+/g, ' ').trim();
  return flat.length > n ? `${flat.slice(0, n - 1)}…` : flat;
}

/**
 * Tells people when a run needs them or is done: a tool use waits for approval, Claude finished
 * a turn and waits for a follow-up, or the run ended. Sent to the optional webhook / ntfy URL
 * and by Web Push to every subscribed phone. Failures are logged, never retried, never fatal.
 */
export class Notifier {
  private readonly lastResult = new Map<string, string | null>();
  private readonly notifiedFinal = new Set<string>();
  private readonly format: 'json' | 'ntfy';
  private readonly sent = new Map<string, number[]>();

  constructor(private readonly o: NotifierOptions) {
    this.format = o.format ?? (o.url && /ntfy/i.test(new URL(o.url).host) ? 'ntfy' : 'json');
  }

  private link(runId: string): string {
    return `${this.o.baseUrl().replace(/\/$/, '')}/runs/${runId}`;
  }

  onApproval(s: ApprovalChange): void {
    if (!s.created) return;
    const a = s.approval;
    const name = this.o.runName(a.runId);
    void this.notify(
      {
        kind: 'approval',
        runId: a.runId,
        // Claude's questions and plans wait for an answer, not a yes: say so.
        title: clip(`${a.toolName === 'AskUserQuestion' ? 'Claude asks you' : a.toolName === 'ExitPlanMode' ? 'Plan to approve' : `Approval needed: ${a.toolName}`} (${name})`, 120),
        body: clip(a.toolName === 'ExitPlanMode' ? (a.plan ?? '').trim().split('\n')[0] || 'Claude wants to leave plan mode' : `${toolSummary(a.toolName, a.input, 200)}${a.description ? ` — ${a.description}` : ''}`, 300),
        url: this.link(a.runId),
        tag: `approval-${a.runId}`,
      },
      true,
    );
  }

  onEvents(runId: string, events: readonly RunnerEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'claude_result') this.lastResult.set(runId, ev.result);
      if (ev.type === 'awaiting_input') {
        const result = this.lastResult.get(runId);
        void this.notify(
          {
            kind: 'input',
            runId,
            title: clip(`Claude is done and waits for you (${this.o.runName(runId)})`, 120),
            body: clip(`${result ?? 'The turn ended.'} — send a follow-up before ${new Date(ev.until).toISOString().slice(11, 16)} UTC`, 300),
            url: this.link(runId),
            tag: `run-${runId}`,
          },
          false,
        );
      }
    }
  }

  /** Claude keeps failing to reach its API (claude-state.ts): once per streak of retries. */
  onRetrying(runId: string, r: ApiRetry): void {
    void this.notify(
      {
        kind: 'retrying',
        runId,
        title: clip(`Claude is retrying: ${apiErrorPhrase(r)} (${this.o.runName(runId)})`, 120),
        body: clip(`Attempt ${r.attempt}${r.maxRetries ? ` of ${r.maxRetries}` : ''}. Claude keeps retrying by itself; the run continues when the API answers, or ends with the error.`, 300),
        url: this.link(runId),
        tag: `run-${runId}`,
      },
      false,
    );
  }

  onRun(run: RunSummary): void {
    if (!isFinal(run.status) || this.notifiedFinal.has(run.id)) return;
    this.notifiedFinal.add(run.id);
    if (this.notifiedFinal.size > 10_000) this.notifiedFinal.clear();
    const result = this.lastResult.get(run.id);
    this.lastResult.delete(run.id);
    const outcome = run.status === 'exited' ? `exited with code ${run.exitCode}` : run.status === 'cancelled' ? 'was cancelled' : run.status === 'revoked' ? 'was revoked' : `failed${run.reason ? `: ${run.reason}` : ''}`;
    void this.notify(
      {
        kind: 'finished',
        runId: run.id,
        title: clip(`Run ${run.name} ${outcome}`, 120),
        body: clip(result ?? outcome, 300),
        url: this.link(run.id),
        tag: `run-${run.id}`,
      },
      false,
    );
  }

  private async notify(p: PushPayload, urgent: boolean): Promise<void> {
    const now = Date.now();
    const recent = (this.sent.get(p.runId) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= PER_RUN_PER_MINUTE && p.kind !== 'finished') {
      this.o.log.warn('notify.rate_limited', { run: p.runId, kind: p.kind });
      return;
    }
    recent.push(now);
    this.sent.set(p.runId, recent);
    if (p.kind === 'finished') this.sent.delete(p.runId);
    await Promise.allSettled([this.webhook(p), this.o.push ? this.o.push.send(p, { urgent }) : Promise.resolve(0)]);
  }

  private webhook(p: PushPayload): Promise<void> {
    if (!this.o.url) return Promise.resolve();
    const url = new URL(this.o.url);
    const ntfy = this.format === 'ntfy';
    const body = Buffer.from(ntfy ? p.body : JSON.stringify({ event: p.kind, runId: p.runId, runName: this.o.runName(p.runId), title: p.title, message: p.body, url: p.url }));
    const headers: Record<string, string> = ntfy
      ? {
          'content-type': 'text/plain; charset=utf-8',
          // ntfy headers are latin-1: keep titles ASCII.
          title: p.title.replace(/[^\x20-\x7e]/g, '?'),
          tags: p.kind === 'approval' || p.kind === 'retrying' ? 'warning' : p.kind === 'finished' ? 'checkered_flag' : 'speech_balloon',
          priority: p.kind === 'approval' ? 'high' : 'default',
          click: p.url,
        }
      : { 'content-type': 'application/json' };
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<void>((resolve) => {
      const req = mod.request(url, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, timeout: WEBHOOK_TIMEOUT_MS, ...(this.o.agent && url.protocol === 'https:' ? { agent: this.o.agent } : {}) });
      req.on('response', (res) => {
        res.resume();
        if ((res.statusCode ?? 0) >= 300) this.o.log.warn('notify.webhook_failed', { host: url.host, status: res.statusCode ?? 0 });
        resolve();
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => {
        this.o.log.warn('notify.webhook_failed', { host: url.host, err: err.message.slice(0, 200) });
        resolve();
      });
      req.end(body);
    });
  }
}

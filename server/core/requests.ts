import type { ArtifactInfo, CollectResponse } from '../../protocol/artifacts.js';
import { isArtifactName } from '../../protocol/artifacts.js';
import type { ExecRequest, ExecResponse } from '../../protocol/api.js';
import type { AssistInfo } from '../../protocol/assist.js';
import { CcgError } from '../../protocol/errors.js';
import { requireRole, type Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { AuditEntry, AuthStore, RunRecord } from '../store/types.js';
import type { ArtifactService } from './artifacts.js';
import type { AssistService } from './assist.js';
import type { PolicyService } from './policy.js';
import type { RunService } from './runs.js';

/** Who asks, from where, and through which door (the API is the default). */
export interface Actor {
  principal: Principal;
  /** The client's address, for the audit log. */
  from: string | null;
  /**
   * `page`: the run page. Noted (`via: page`) in the entries of run creation, cancel and shown
   * assist links, as they always were; and there a failed audit write is logged rather than
   * failing a request whose work is done (the run's one-time token must still be shown).
   */
  via?: 'page';
}

export interface RequestsOptions {
  runs: RunService;
  store: Pick<AuthStore, 'appendAudit'>;
  policy: PolicyService;
  artifacts: ArtifactService;
  assist: AssistService;
  log: Logger;
  now: () => number;
}

type Detail = NonNullable<AuditEntry['detail']>;

/** `{via: 'page'}` for what came through the pages, nothing for the API. */
function via(a: Actor): Detail {
  return a.via ? { via: a.via } : {};
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What the runner starts: Claude Code with a prompt (`--cmd`), or any command (`-- COMMAND`). */
export type RunnerStart = { prompt: string } | { command: string };

/**
 * A command line typed as one string, as shell words: plain words stay as they are (`npm test`),
 * anything a shell would read differently (`&&`, `|`, quotes, `$`) runs through `sh -c`, so all
 * of it runs under the runner rather than half of it beside.
 */
function commandWords(line: string): string {
  const words = line.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return 'your-command';
  return words.every((w) => /^[\w@%+=:,./-]+$/.test(w)) ? words.join(' ') : `sh -c ${shellQuote(line.trim())}`;
}

/**
 * The command to paste on the Claude machine; the token goes through the environment, not argv.
 * Without `start` it ends with `--cmd 'your prompt'`, a placeholder to replace.
 *
 * @example
 * runnerCommand({ url, runId, token, fingerprint, start: { command: 'npm test' } }) // '… --run-id 7k2m… -- npm test'
 */
export function runnerCommand(opts: { url: string; runId: string; token: string; fingerprint: string | null; start?: RunnerStart }): string {
  const parts = [`CCG_RUN_TOKEN=${shellQuote(opts.token)}`, 'ccg', 'runner', 'start', '--gateway', shellQuote(opts.url)];
  if (opts.fingerprint) parts.push('--fingerprint', opts.fingerprint);
  parts.push('--run-id', opts.runId);
  const start = opts.start ?? { prompt: '' };
  if ('command' in start) parts.push('--', commandWords(start.command));
  else parts.push('--cmd', shellQuote(start.prompt.trim() || 'your prompt'));
  return parts.join(' ');
}

/**
 * The operations an operator asks for, whatever the door: the JSON API (`http/api-*.ts`) and the
 * phone pages (`http/pages/`) both call these, so a role check, a policy check or an audit entry
 * is written once. Each checks the caller's role, does the work through the services, and audits
 * it (`via: page` marks what came through the pages).
 */
export class Requests {
  constructor(private readonly o: RequestsOptions) {}

  private async audit(a: Actor, action: string, target: string | null, detail?: Detail): Promise<void> {
    await this.o.store.appendAudit({ at: this.o.now(), actor: a.principal.name, action, target, from: a.from, ...(detail ? { detail } : {}) });
  }

  /** An entry written after the work is done: through the pages a failed write is logged, through the API it fails the request. */
  private async auditAfter(a: Actor, action: string, target: string, detail: Detail): Promise<void> {
    const written = this.audit(a, action, target, { ...detail, ...via(a) });
    if (!a.via) return written;
    await written.catch((err: unknown) => this.o.log.warn('audit.write_failed', { err: String(err) }));
  }

  /** A new run and its token (shown once). Operators and admins. */
  async createRun(a: Actor, name: string | undefined, opts: { maxBudgetUsd?: number | undefined } = {}): Promise<{ run: RunRecord; token: string }> {
    requireRole(a.principal, 'operator');
    const out = await this.o.runs.create(name, a.principal.name, opts);
    await this.auditAfter(a, 'run.create', out.run.id, { name: out.run.name, ...(opts.maxBudgetUsd !== undefined ? { maxBudgetUsd: opts.maxBudgetUsd } : {}) });
    return out;
  }

  /**
   * Revokes the run's token: the runner is cut off at once and can never reconnect; a run still
   * going ends `revoked`. Operators and admins; audited as `run.revoke`.
   */
  async revokeRun(a: Actor, id: string): Promise<{ run: RunRecord; connected: boolean }> {
    requireRole(a.principal, 'operator');
    const out = await this.o.runs.revoke(id, a.principal.name);
    await this.auditAfter(a, 'run.revoke', id, { status: out.run.status, connected: out.connected });
    return out;
  }

  /** Asks the run's runner to cancel (now, or when it reconnects). Operators and admins. */
  async cancelRun(a: Actor, id: string): Promise<{ run: RunRecord; delivered: boolean }> {
    requireRole(a.principal, 'operator');
    const out = await this.o.runs.cancel(id, a.principal.name);
    await this.auditAfter(a, 'run.cancel', id, { delivered: out.delivered });
    return out;
  }

  /** Whether the gateway's command policy lets this caller ask for the command `name`. */
  mayRun(p: Principal, name: string): boolean {
    return this.o.policy.mayRun(p.role, name);
  }

  /**
   * Asks a run's runner to run one of its advertised commands: the command policy decides
   * whether the caller's role may ask (a refusal is audited as `command.denied`), the request is
   * audited as `command.request`, and the runner decides the rest.
   */
  async exec(a: Actor, id: string, body: ExecRequest): Promise<ExecResponse> {
    const p = a.principal;
    if (!this.mayRun(p, body.name)) {
      await this.audit(a, 'command.denied', id, { name: body.name, role: p.role });
      throw new CcgError('ERR_FORBIDDEN', `the gateway's policy does not let the ${p.role} role run "${body.name}"`);
    }
    const out: ExecResponse = await this.o.runs.exec(id, body.name, body.params);
    await this.audit(a, 'command.request', id, { name: body.name, requestId: out.requestId, params: JSON.stringify(body.params).slice(0, 500) });
    return out;
  }

  /** Asks the run's runner to collect its artifacts now (operators and admins), audited as `artifacts.collect`. */
  async collect(a: Actor, id: string): Promise<CollectResponse> {
    requireRole(a.principal, 'operator');
    const out: CollectResponse = await this.o.runs.request(id, (requestId) => ({ type: 'collect', requestId }));
    await this.audit(a, 'artifacts.collect', id, { requestId: out.requestId });
    return out;
  }

  /**
   * One stored artifact, to download (`artifact.download`) or to view on a page (`artifact.view`):
   * audited before a byte is sent. Unknown names are a 404; `accept` may refuse one before the audit.
   */
  async openArtifact(a: Actor, id: string, name: string, purpose: 'download' | 'view', accept?: (info: ArtifactInfo) => void): Promise<{ info: ArtifactInfo; path: string }> {
    this.o.runs.mustGet(id);
    const info = isArtifactName(name) ? this.o.artifacts.get(id, name) : undefined;
    if (!info) throw new CcgError('ERR_NOT_FOUND', `run ${id} has no artifact named ${JSON.stringify(name.slice(0, 100))}`);
    accept?.(info);
    await this.audit(a, `artifact.${purpose}`, id, { name: info.name, sha256: info.sha256 });
    return { info, path: await this.o.artifacts.localBlob(info.sha256) };
  }

  /**
   * Asks the run's runner to start or stop its assist session (operators and admins), audited as
   * `assist.start` / `assist.stop`. Starting is refused up front when the runner's hello did not
   * allow assist sessions; the runner checks again.
   */
  async assist(a: Actor, id: string, action: 'start' | 'stop'): Promise<{ requestId: string; fromSeq: number }> {
    requireRole(a.principal, 'operator');
    const run = this.o.runs.mustGet(id);
    if (action === 'start' && !run.runner?.assist) {
      throw new CcgError('ERR_NOT_ENABLED', 'the runner does not allow assist sessions (start it with --assist)');
    }
    const out = await this.o.runs.request(id, (requestId) => ({ type: 'assist', requestId, action }));
    await this.audit(a, `assist.${action}`, id, { requestId: out.requestId });
    return out;
  }

  /**
   * The run's assist session, links included (operators and admins). Reading the links is as
   * sensitive as opening the session: every time they are handed out it is audited (`assist.show`).
   */
  showAssist(a: Actor, id: string): { info: AssistInfo | null; audited: Promise<void> } {
    requireRole(a.principal, 'operator');
    this.o.runs.mustGet(id);
    const info = this.o.assist.get(id);
    const audited = info?.links ? this.audit(a, 'assist.show', id, a.via ? via(a) : undefined) : Promise.resolve();
    // A page renders synchronously and does not wait for the entry: a failed write is logged there.
    audited.catch((err: unknown) => this.o.log.warn('audit.write_failed', { err: String(err) }));
    return { info, audited };
  }
}

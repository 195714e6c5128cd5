import { CcgError } from '../../protocol/errors.js';
import { STREAM_EVENT } from '../../protocol/frames.js';
import {
  MACHINE_NAME_RE, SESSION_ID_RE, machineKey, newMachineToken,
  type GatewayToMachine, type MachineInfo, type MachineStart, type MachineSummary, type StartRunRequest,
} from '../../protocol/machine.js';
import { isFinal, type RunOrigin, type RunSummary } from '../../protocol/run.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { itemsOfChunk } from '../../protocol/timeline.js';
import { requireRole } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { AuditEntry, AuthStore, RunRecord, RunStore } from '../store/types.js';
import type { Actor } from './requests.js';
import type { RunService } from './runs.js';
import type { RunnerRouter } from './runner-router.js';

/** A machine as the gateway keeps it: the token only as its SHA-256. */
export interface MachineRecord {
  name: string;
  /** machineKey(token): the HMAC key of its signed upgrade. */
  key: string;
  createdAt: number;
  createdBy: string;
  revokedAt: number | null;
  lastSeenAt: number | null;
  /** What it said in its last hello (workspaces, limits, host). */
  info: MachineInfo | null;
  /** Clustered gateway: the node that holds its socket (absent or null: none, or one gateway). */
  node?: string | null;
}

/** What the machine service needs of a connected machine socket. */
export interface MachineLink {
  send(msg: GatewayToMachine): void;
  /** Ends the socket with an error (revoked, replaced). */
  kick(err: CcgError): void;
}

export interface MachineServiceOptions {
  store: Pick<AuthStore, 'getMeta' | 'putMeta' | 'appendAudit'> & Pick<RunStore, 'listRuns' | 'readChunks'>;
  runs: RunService;
  log: Logger;
  now: () => number;
  /** How long an API call waits for the machine's answer before reporting the start as pending. */
  answerTimeoutMs?: number;
  /** How long a run the machine said it started may wait for its runner to connect before it is failed (default 2 min). */
  runnerConnectMs?: number;
  /** Clustered gateway: reaches a machine whose socket another node holds. */
  router?: RunnerRouter;
}

const META_KEY = 'machines:v1';

/** A start the machine has not answered yet: what it needs besides the run record. */
interface PendingStart {
  prompt: string;
  resume: string | null;
}

function pendingKey(runId: string): string {
  return `machine-start:${runId}`;
}

/** What a start (or continue) came to. */
export interface StartOutcome {
  run: RunRecord;
  /** started, or pending (the machine did not answer in time; it gets the start again when it reconnects). */
  state: 'started' | 'pending';
}

/**
 * Machines: their records (token hashes), their live sockets, and starting runs on them. The
 * gateway creates the run and its token and hands both to the machine; the machine's own config
 * decides whether it starts (it answers `start_result`). Every start, continue and refusal is
 * audited with who asked.
 */
export class MachineService {
  private readonly records = new Map<string, MachineRecord>();
  private readonly links = new Map<string, MachineLink>();
  private readonly waiting = new Map<string, (r: { ok: boolean; reason?: string | undefined }) => void>();
  /** Runs a continue is under way for (on this node). */
  private readonly continuing = new Set<string>();
  /** Runs a machine said it started, until their runner connects or the wait runs out (see `answered`). */
  private readonly connectWatch = new Map<string, NodeJS.Timeout>();
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly o: MachineServiceOptions) {
    this.reload();
    o.router?.onMachineTakeover((name) => {
      const link = this.links.get(name);
      if (!link) return;
      this.links.delete(name);
      link.kick(new CcgError('ERR_REPLACED', 'another connection of this machine took over'));
    });
    // A machine on another node answered a start an operator asked for here.
    o.router?.onMachineAnswer((runId, ok, reason) => {
      const wait = this.waiting.get(runId);
      this.waiting.delete(runId);
      wait?.({ ok, reason });
    });
  }

  /**
   * Reads the records from the store. On one gateway, once (this service is their only writer);
   * on a cluster before every use, as other nodes add, revoke and connect machines (the store
   * keeps its key-value buckets in memory, so this is a map lookup).
   */
  private reload(): void {
    const saved = this.o.store.getMeta<Record<string, MachineRecord>>(META_KEY) ?? {};
    this.records.clear();
    for (const [name, rec] of Object.entries(saved)) this.records.set(name, rec);
  }

  private fresh(): void {
    if (this.o.router) this.reload();
  }

  /** The machine's socket: on this node, or through the node that holds it. */
  private linkOf(name: string): MachineLink | undefined {
    return this.links.get(name) ?? this.o.router?.remoteMachine(name, this.records.get(name)?.node);
  }

  private save(): Promise<void> {
    const snapshot = Object.fromEntries(this.records);
    this.writes = this.writes.catch(() => undefined).then(() => this.o.store.putMeta(META_KEY, snapshot));
    return this.writes;
  }

  private async audit(a: Actor, action: string, target: string | null, detail?: NonNullable<AuditEntry['detail']>): Promise<void> {
    await this.o.store.appendAudit({ at: this.o.now(), actor: a.principal.name, action, target, from: a.from, ...(detail ? { detail } : {}) });
  }

  /** A machine record by name (undefined when unknown). */
  get(name: string): MachineRecord | undefined {
    this.fresh();
    return this.records.get(name);
  }

  online(name: string): boolean {
    this.fresh();
    return Boolean(this.linkOf(name));
  }

  summary(rec: MachineRecord): MachineSummary {
    const online = Boolean(this.linkOf(rec.name));
    const { node: _n, ...pub } = rec;
    return { name: pub.name, online, lastSeenAt: online ? this.o.now() : pub.lastSeenAt, createdAt: pub.createdAt, createdBy: pub.createdBy, revokedAt: pub.revokedAt, info: pub.info };
  }

  list(): MachineSummary[] {
    this.fresh();
    return [...this.records.values()].sort((a, b) => a.name.localeCompare(b.name)).map((r) => this.summary(r));
  }

  mustGet(name: string): MachineRecord {
    this.fresh();
    const rec = MACHINE_NAME_RE.test(name) ? this.records.get(name) : undefined;
    if (!rec) throw new CcgError('ERR_MACHINE_NOT_FOUND', `no machine named ${JSON.stringify(name.slice(0, 40))}`);
    return rec;
  }

  /** The runs a machine started, newest first (from the newest `limit` runs of the gateway). */
  runsOf(name: string, limit = 500): RunSummary[] {
    return this.o.runs.list({ limit }).filter((r) => r.origin?.machine === name);
  }

  /** A new machine and its token (shown once). Admins. */
  async add(a: Actor, name: string): Promise<{ machine: MachineRecord; token: string }> {
    requireRole(a.principal, 'admin');
    this.fresh();
    if (!MACHINE_NAME_RE.test(name)) throw new CcgError('ERR_BAD_REQUEST', 'a machine name is 1-32 of a-z, 0-9 and -, starting with a letter');
    const existing = this.records.get(name);
    if (existing && existing.revokedAt === null) throw new CcgError('ERR_CONFLICT', `a machine named ${name} exists; revoke it first to issue a new token`);
    const token = newMachineToken();
    const rec: MachineRecord = { name, key: machineKey(token), createdAt: this.o.now(), createdBy: a.principal.name, revokedAt: null, lastSeenAt: null, info: existing?.info ?? null };
    this.records.set(name, rec);
    await this.save();
    await this.audit(a, 'machine.add', name, existing ? { replaced: true } : undefined);
    return { machine: rec, token };
  }

  /** Revokes the machine's token: its socket closes at once and it cannot connect again. Admins. */
  async revoke(a: Actor, name: string): Promise<MachineRecord> {
    requireRole(a.principal, 'admin');
    const rec = this.mustGet(name);
    if (rec.revokedAt === null) {
      rec.revokedAt = this.o.now();
      await this.save();
    }
    this.linkOf(name)?.kick(new CcgError('ERR_MACHINE_REVOKED'));
    await this.audit(a, 'machine.revoke', name);
    return rec;
  }

  /** Forgets a machine altogether (its runs stay). Admins. */
  async remove(a: Actor, name: string): Promise<void> {
    requireRole(a.principal, 'admin');
    this.mustGet(name);
    this.linkOf(name)?.kick(new CcgError('ERR_MACHINE_REVOKED'));
    this.records.delete(name);
    await this.save();
    await this.audit(a, 'machine.remove', name);
  }

  /** Registers a connected machine (a second connection replaces the first) and hands it the starts it has not answered. */
  async attach(name: string, link: MachineLink, info: MachineInfo): Promise<void> {
    const rec = this.mustGet(name);
    const previous = this.links.get(name);
    if (previous && previous !== link) previous.kick(new CcgError('ERR_REPLACED', 'another connection of this machine took over'));
    this.links.set(name, link);
    this.o.router?.attachedMachine(name, link);
    rec.info = info;
    rec.lastSeenAt = this.o.now();
    if (this.o.router) rec.node = this.o.router.node;
    await this.save();
    for (const run of this.o.store.listRuns({ limit: 500, status: 'created' })) {
      const current = this.o.runs.get(run.id) ?? run;
      if (current.origin?.machine === name && current.origin.start === 'pending') this.sendStart(current, link);
    }
  }

  detach(name: string, link: MachineLink): void {
    if (this.links.get(name) !== link) return;
    this.links.delete(name);
    this.o.router?.detachedMachine(name, link);
    this.fresh();
    const rec = this.records.get(name);
    if (rec) {
      rec.lastSeenAt = this.o.now();
      if (rec.node === this.o.router?.node) rec.node = null;
      void this.save().catch((err: unknown) => this.o.log.warn('machine.save_failed', { err: String(err) }));
    }
  }

  /** The machine said what it runs now. */
  running(name: string, running: string[]): void {
    const rec = this.records.get(name);
    if (rec?.info) rec.info = { ...rec.info, running };
  }

  /** The machine answered a start. */
  async answered(name: string, runId: string, ok: boolean, reason: string | undefined): Promise<void> {
    const run = this.o.runs.get(runId);
    if (!run?.origin || run.origin.machine !== name) return; // not its run: ignored
    const wait = this.waiting.get(runId);
    this.waiting.delete(runId);
    if (run.origin.start === 'pending') {
      await this.o.store.putMeta(pendingKey(runId), null);
      await this.o.runs.setOrigin(runId, { ...run.origin, start: ok ? 'started' : 'refused' });
      if (ok) this.watchConnect(runId, name);
      if (!ok) {
        await this.o.runs.fail(runId, `machine ${name} refused: ${reason ?? 'no reason given'}`);
        await this.o.store.appendAudit({ at: this.o.now(), actor: `machine:${name}`, action: 'machine.refused', target: runId, from: null, detail: { reason: (reason ?? '').slice(0, 300) } });
      }
    }
    wait?.({ ok, reason });
    if (!wait) this.o.router?.broadcastMachineAnswer(runId, ok, reason);
  }

  /**
   * The machine answers `ok` once it has spawned the runner. A runner that dies before it
   * connects (a bad `runnerArgs` in machine.json, a prompt it could not take) would leave the run
   * `created` for ever, saying nothing: after a while it is failed, with where to look.
   */
  private watchConnect(runId: string, machine: string): void {
    clearTimeout(this.connectWatch.get(runId));
    const ms = this.o.runnerConnectMs ?? 120_000;
    const timer = setTimeout(() => {
      this.connectWatch.delete(runId);
      if (this.o.runs.get(runId)?.status !== 'created') return;
      const reason = `machine ${machine} started the runner, but it did not connect within ${Math.round(ms / 1000)} s (its log on the machine: <state dir>/logs/${runId}.log)`;
      this.o.runs.fail(runId, reason).catch((err: unknown) => this.o.log.warn('machine.connect_watch_failed', { run: runId, err: String(err) }));
    }, ms);
    timer.unref();
    this.connectWatch.set(runId, timer);
  }

  /** Stops the waits for runners (the gateway is closing). */
  close(): void {
    for (const timer of this.connectWatch.values()) clearTimeout(timer);
    this.connectWatch.clear();
  }

  /** Claude's session id, noted from the run's init event (what Continue resumes). */
  onEvents(runId: string, events: readonly RunnerEvent[]): void {
    const init = events.find((e) => e.type === 'claude_init');
    if (!init || init.type !== 'claude_init' || !init.sessionId) return;
    const run = this.o.runs.get(runId);
    if (!run?.origin || run.origin.sessionId === init.sessionId) return;
    void this.o.runs.setOrigin(runId, { ...run.origin, sessionId: init.sessionId }).catch((err: unknown) => this.o.log.warn('machine.session_note_failed', { err: String(err) }));
  }

  private sendStart(run: RunRecord, link: MachineLink): void {
    const token = this.o.runs.tokenOf(run);
    const origin = run.origin!;
    const pending = this.o.store.getMeta<PendingStart | null>(pendingKey(run.id));
    if (!token || !pending) return;
    const msg: MachineStart = {
      type: 'start', runId: run.id, token, workspace: origin.workspace, prompt: pending.prompt,
      ...(origin.mode ? { mode: origin.mode as MachineStart['mode'] } : {}),
      ...(origin.model ? { model: origin.model } : {}),
      ...(pending.resume ? { resume: pending.resume } : {}),
      ...(origin.previous ? { previousRunId: origin.previous } : {}),
    };
    link.send(msg);
  }

  /**
   * Starts Claude on a machine: checks what the machine advertised (it checks again itself),
   * creates the run and its token, hands both over the machine's socket and waits for its answer.
   * Operators and admins; audited as `machine.start` (or `machine.continue`), a refusal as `machine.refused`.
   */
  async start(a: Actor, machine: string, req: StartRunRequest, cont?: { previous: RunRecord; sessionId: string }): Promise<StartOutcome> {
    requireRole(a.principal, 'operator');
    const rec = this.mustGet(machine);
    if (rec.revokedAt !== null) throw new CcgError('ERR_MACHINE_REVOKED', `machine ${machine} was revoked`);
    const link = this.linkOf(machine);
    if (!link) throw new CcgError('ERR_MACHINE_OFFLINE', `machine ${machine} is not connected (last seen ${rec.lastSeenAt ? new Date(rec.lastSeenAt).toISOString() : 'never'})`);
    const ws = rec.info?.workspaces.find((w) => w.name === req.workspace);
    const refuse = async (why: string): Promise<never> => {
      await this.audit(a, 'machine.refused', machine, { workspace: req.workspace, reason: why, by: 'gateway' });
      throw new CcgError('ERR_MACHINE_REFUSED', why);
    };
    if (!ws) await refuse(`machine ${machine} has no workspace named ${req.workspace}`);
    if (!ws!.claude) await refuse(`workspace ${req.workspace} on ${machine} does not allow starting Claude`);
    if (req.mode && !ws!.modes.includes(req.mode)) await refuse(`workspace ${req.workspace} on ${machine} does not allow the permission mode ${req.mode} (allowed: ${ws!.modes.join(', ') || 'none'})`);
    if (req.model && !ws!.models.includes(req.model)) await refuse(`workspace ${req.workspace} on ${machine} does not allow the model ${req.model} (allowed: ${ws!.models.join(', ') || "Claude's default only"})`);

    // A name from the prompt: on one line, without its control characters (the prompt may have any).
    const { run } = await this.o.runs.create(req.name ?? `${machine}/${req.workspace}: ${req.prompt.replace(/[\s\u0000-\u001f\u007f-\u009f]+/g, ' ').slice(0, 60)}`, a.principal.name);
    const origin: RunOrigin = {
      machine, workspace: req.workspace, mode: req.mode ?? null, model: req.model ?? null,
      previous: cont?.previous.id ?? null, next: null, sessionId: null, start: 'pending',
    };
    const withOrigin = await this.o.runs.setOrigin(run.id, origin);
    await this.audit(a, cont ? 'machine.continue' : 'machine.start', run.id, {
      machine, workspace: req.workspace, mode: req.mode ?? null, model: req.model ?? null, previous: cont?.previous.id ?? null, prompt: req.prompt.slice(0, 200),
    });
    if (cont) await this.o.runs.setOrigin(cont.previous.id, { ...cont.previous.origin!, next: run.id });
    // Kept until the machine answers, so a start survives a gateway restart or a machine away for a while.
    await this.o.store.putMeta(pendingKey(run.id), { prompt: req.prompt, resume: cont?.sessionId ?? null } satisfies PendingStart);
    const answer = new Promise<{ ok: boolean; reason?: string | undefined } | null>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(run.id);
        resolve(null);
      }, this.o.answerTimeoutMs ?? 20_000);
      this.waiting.set(run.id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
    this.sendStart(withOrigin, link);
    const got = await answer;
    if (got && !got.ok) throw new CcgError('ERR_MACHINE_REFUSED', `machine ${machine} refused: ${got.reason ?? 'no reason given'}`);
    return { run: this.o.runs.mustGet(run.id), state: got ? 'started' : 'pending' };
  }

  /**
   * Continues a finished Claude run that a machine started: a new run on the same machine and
   * workspace that resumes Claude's session with a new prompt, linked both ways.
   */
  async continueRun(a: Actor, runId: string, prompt: string): Promise<StartOutcome> {
    requireRole(a.principal, 'operator');
    const prev = this.o.runs.mustGet(runId);
    if (!prev.origin) throw new CcgError('ERR_BAD_REQUEST', `run ${runId} was not started by a machine: only those can be continued`);
    if (!isFinal(prev.status)) throw new CcgError('ERR_CONFLICT', `run ${runId} is still ${prev.status}: send it a follow-up instead, or wait until it ends`);
    if (prev.origin.next) throw new CcgError('ERR_CONFLICT', `run ${runId} was already continued by run ${prev.origin.next}`);
    // One continue at a time: the next run is recorded only after several writes, and two taps
    // on Continue started two Claudes resuming the same session.
    if (this.continuing.has(runId)) throw new CcgError('ERR_CONFLICT', `run ${runId} is being continued already`);
    this.continuing.add(runId);
    try {
      const sessionId = prev.origin.sessionId ?? (await this.sessionOf(runId));
      if (!sessionId || !SESSION_ID_RE.test(sessionId)) throw new CcgError('ERR_CONFLICT', `run ${runId} has no Claude session to resume (Claude never started)`);
      return await this.start(a, prev.origin.machine, {
        workspace: prev.origin.workspace, prompt,
        ...(prev.origin.mode ? { mode: prev.origin.mode as StartRunRequest['mode'] } : {}),
        ...(prev.origin.model ? { model: prev.origin.model } : {}),
      }, { previous: prev, sessionId });
    } finally {
      this.continuing.delete(runId);
    }
  }

  /** Claude's session id from the run's stored events (its init is among the first). */
  private async sessionOf(runId: string): Promise<string | null> {
    let from = 1;
    for (let pages = 0; pages < 20; pages++) {
      const chunks = await this.o.store.readChunks(runId, from, { limit: 200, maxBytes: 1024 * 1024 });
      if (chunks.length === 0) return null;
      for (const c of chunks) {
        if (c.stream !== STREAM_EVENT) continue;
        for (const item of itemsOfChunk(c)) if (item.event.type === 'claude_init' && item.event.sessionId) return item.event.sessionId;
      }
      from = chunks.at(-1)!.seq + 1;
    }
    return null;
  }
}

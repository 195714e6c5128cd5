import { RequestError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { CcgError, ERRORS, type ErrorCode } from '../../protocol/errors.js';
import { GatewayToMachine } from '../../protocol/machine.js';
import { GatewayToRunner } from '../../protocol/runner-messages.js';
import type { Logger } from '../log.js';
import type { MachineLink } from './machines.js';
import type { RunnerLink } from './runs.js';

/**
 * Which node of a cluster holds a run's runner socket (or a machine daemon's), and a way to reach
 * it from any other.
 * The run service asks it whenever it has no socket of its own for a run: what an operator on
 * node B sends (a command, an approval decision, input, cancel, revoke) reaches the runner on A.
 */
export interface RunnerRouter {
  /** This node's id (stored in the run record while it holds the runner). */
  readonly node: string;
  /** This node now holds the run's runner: an older holder on another node drops its socket. */
  attached(runId: string, link: RunnerLink): void;
  /** The socket went away (only if it is still the one attached). */
  detached(runId: string, link: RunnerLink): void;
  /**
   * A link to the runner through the node that holds it, if that node is alive; else undefined.
   * Its `send` and `sendExec` resolve once that node handed the message to the runner's socket,
   * and reject with ERR_RUNNER_AWAY when no node holds it any more (it died, or the runner left)
   * or the node does not answer within `REMOTE_SEND_MS`.
   */
  remote(runId: string, holder: string | null | undefined): RunnerLink | undefined;
  /** Called when another node took a run's runner over: this node drops its own socket. */
  onTakeover(fn: (runId: string) => void): void;
  /** Tells every node a run's token was revoked (they close its sockets that have not said hello). */
  broadcastRevoke(runId: string): void;
  onRevoke(fn: (runId: string) => void): void;

  /** The same for machine daemons: this node holds the machine's socket now. */
  attachedMachine(name: string, link: MachineLink): void;
  detachedMachine(name: string, link: MachineLink): void;
  /** A link to the machine through the node that holds it, if that node is alive. */
  remoteMachine(name: string, holder: string | null | undefined): MachineLink | undefined;
  onMachineTakeover(fn: (name: string) => void): void;
  /** A machine answered a start (on this node): the node whose operator asked is waiting for it. */
  broadcastMachineAnswer(runId: string, ok: boolean, reason: string | undefined): void;
  onMachineAnswer(fn: (runId: string, ok: boolean, reason: string | undefined) => void): void;
  close(): void;
}

/** How often a node says it is alive, and how long without it before it counts as gone. */
export const HEARTBEAT_MS = 2000;
export const NODE_GONE_MS = 3 * HEARTBEAT_MS + 500;
/** How long a message for a runner on another node waits for that node to say its socket took it. */
export const REMOTE_SEND_MS = 3000;

const subject = {
  runner: (runId: string) => `ccg.runner.${runId}`,
  machine: (name: string) => `ccg.machine.${name}`,
  machineAnswer: 'ccg.machine-answer',
  alive: 'ccg.node.alive',
  hello: 'ccg.node.hello',
  revoke: 'ccg.run.revoked',
};

/** What travels to the holder of a runner. */
type Op =
  | { op: 'send'; n: string; msg: unknown }
  | { op: 'cancel'; n: string; by: string; controlId?: string }
  | { op: 'kick'; n: string; code: string; message: string }
  | { op: 'takeover'; n: string };

export interface NatsRunnerRouterOptions {
  nc: NatsConnection;
  node: string;
  log: Logger;
  now?: () => number;
}

/** RunnerRouter over NATS core: a subject per held runner, heartbeats for liveness. */
export class NatsRunnerRouter implements RunnerRouter {
  readonly node: string;
  private readonly held = new Map<string, { link: RunnerLink; sub: Subscription }>();
  private readonly heldMachines = new Map<string, { link: MachineLink; sub: Subscription }>();
  private readonly machineTakeoverHooks = new Set<(name: string) => void>();
  private readonly machineAnswerHooks = new Set<(runId: string, ok: boolean, reason: string | undefined) => void>();
  private readonly seen = new Map<string, number>();
  private readonly takeoverHooks = new Set<(runId: string) => void>();
  private readonly revokeHooks = new Set<(runId: string) => void>();
  private readonly subs: Subscription[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly o: NatsRunnerRouterOptions) {
    this.node = o.node;
    this.now = o.now ?? Date.now;
    const nc = o.nc;
    this.subs.push(
      nc.subscribe(subject.alive, { callback: (err, m) => void (!err && this.heard(m.string())) }),
      // A node that just started asks; everyone answers with a heartbeat at once.
      nc.subscribe(subject.hello, { callback: (err, m) => void (!err && m.string() !== this.node && this.beat()) }),
      nc.subscribe(subject.revoke, {
        callback: (err, m) => {
          if (err) return;
          const { n, runId } = parseJson(m.string()) as { n?: unknown; runId?: unknown };
          if (n === this.node || typeof runId !== 'string') return;
          for (const fn of this.revokeHooks) fn(runId);
        },
      }),
    );
    this.subs.push(
      nc.subscribe(subject.machineAnswer, {
        callback: (err, m) => {
          if (err) return;
          const { n, runId, ok, reason } = parseJson(m.string()) as { n?: unknown; runId?: unknown; ok?: unknown; reason?: unknown };
          if (n === this.node || typeof runId !== 'string' || typeof ok !== 'boolean') return;
          for (const fn of this.machineAnswerHooks) fn(runId, ok, typeof reason === 'string' ? reason.slice(0, 500) : undefined);
        },
      }),
    );
    nc.publish(subject.hello, this.node);
    this.beat();
    this.timer = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  /** The nodes heard from recently (this one included). */
  aliveNodes(): string[] {
    const t = this.now();
    return [this.node, ...[...this.seen].filter(([n, at]) => n !== this.node && t - at < NODE_GONE_MS).map(([n]) => n)];
  }

  isAlive(node: string): boolean {
    if (node === this.node) return true;
    const at = this.seen.get(node);
    return at !== undefined && this.now() - at < NODE_GONE_MS;
  }

  attached(runId: string, link: RunnerLink): void {
    this.held.get(runId)?.sub.unsubscribe();
    this.o.nc.publish(subject.runner(runId), JSON.stringify({ op: 'takeover', n: this.node } satisfies Op));
    const sub = this.o.nc.subscribe(subject.runner(runId), { callback: (err, m) => void (!err && this.onOp(runId, m)) });
    this.held.set(runId, { link, sub });
  }

  detached(runId: string, link: RunnerLink): void {
    const h = this.held.get(runId);
    if (!h || h.link !== link) return;
    h.sub.unsubscribe();
    this.held.delete(runId);
  }

  remote(runId: string, holder: string | null | undefined): RunnerLink | undefined {
    if (!holder || holder === this.node || !this.isAlive(holder)) return undefined;
    const post = (op: Op) => this.o.nc.publish(subject.runner(runId), JSON.stringify(op));
    const n = this.node;
    // The holder answers once its socket took the message. A node that died (or lost NATS) has no
    // subscription left: "no responders" at once, where a publish would vanish unnoticed while its
    // heartbeats still count for NODE_GONE_MS, and the operator would be told it was sent. A
    // holder that is slow to answer (or runs a ccg before this, which never answers) most likely
    // got it: after REMOTE_SEND_MS it counts as sent (logged), so that no retry sends it twice.
    const deliver = async (msg: unknown): Promise<void> => {
      let answer: string;
      try {
        answer = (await this.o.nc.request(subject.runner(runId), JSON.stringify({ op: 'send', n, msg } satisfies Op), { timeout: REMOTE_SEND_MS })).string();
      } catch (err) {
        const none = err instanceof RequestError && err.isNoResponders();
        this.o.log.warn('router.not_confirmed', { run: runId, holder, why: none ? 'no responders' : String(err) });
        if (none) throw new CcgError('ERR_RUNNER_AWAY', 'the runner of this run is not connected: the gateway node it was on no longer holds it (the node stopped, or the runner left); try again when it is back');
        return;
      }
      if (answer !== 'ok') throw new CcgError('ERR_INTERNAL', 'the gateway node holding the runner refused the message (is it another ccg version?)');
    };
    return {
      // Confirmed when someone waits for the answer; else published (see RunnerLink.send).
      send: (msg, confirm) => (confirm ? deliver(msg) : post({ op: 'send', n, msg })),
      sendExec: deliver,
      sendCancel: (cancel) => post({ op: 'cancel', n, ...cancel }),
      kick: (err) => post({ op: 'kick', n, code: err.code, message: err.message }),
    };
  }

  onTakeover(fn: (runId: string) => void): void {
    this.takeoverHooks.add(fn);
  }

  broadcastRevoke(runId: string): void {
    this.o.nc.publish(subject.revoke, JSON.stringify({ n: this.node, runId }));
  }

  onRevoke(fn: (runId: string) => void): void {
    this.revokeHooks.add(fn);
  }

  attachedMachine(name: string, link: MachineLink): void {
    this.heldMachines.get(name)?.sub.unsubscribe();
    this.o.nc.publish(subject.machine(name), JSON.stringify({ op: 'takeover', n: this.node } satisfies Op));
    const sub = this.o.nc.subscribe(subject.machine(name), { callback: (err, m) => void (!err && this.onMachineOp(name, m.string())) });
    this.heldMachines.set(name, { link, sub });
  }

  detachedMachine(name: string, link: MachineLink): void {
    const h = this.heldMachines.get(name);
    if (!h || h.link !== link) return;
    h.sub.unsubscribe();
    this.heldMachines.delete(name);
  }

  remoteMachine(name: string, holder: string | null | undefined): MachineLink | undefined {
    if (!holder || holder === this.node || !this.isAlive(holder)) return undefined;
    const post = (op: Op) => this.o.nc.publish(subject.machine(name), JSON.stringify(op));
    const n = this.node;
    return {
      send: (msg) => post({ op: 'send', n, msg }),
      kick: (err) => post({ op: 'kick', n, code: err.code, message: err.message }),
    };
  }

  onMachineTakeover(fn: (name: string) => void): void {
    this.machineTakeoverHooks.add(fn);
  }

  broadcastMachineAnswer(runId: string, ok: boolean, reason: string | undefined): void {
    this.o.nc.publish(subject.machineAnswer, JSON.stringify({ n: this.node, runId, ok, ...(reason !== undefined ? { reason } : {}) }));
  }

  onMachineAnswer(fn: (runId: string, ok: boolean, reason: string | undefined) => void): void {
    this.machineAnswerHooks.add(fn);
  }

  close(): void {
    clearInterval(this.timer);
    for (const s of this.subs) s.unsubscribe();
    for (const h of [...this.held.values(), ...this.heldMachines.values()]) h.sub.unsubscribe();
    this.held.clear();
    this.heldMachines.clear();
  }

  /** A message for the machine this node holds, from another node. */
  private onMachineOp(name: string, text: string): void {
    const h = this.heldMachines.get(name);
    const op = parseJson(text) as Partial<Op> & Record<string, unknown>;
    if (!h || typeof op !== 'object' || op === null || op.n === this.node) return;
    switch (op.op) {
      case 'send': {
        const msg = GatewayToMachine.safeParse(op.msg);
        if (msg.success) h.link.send(msg.data);
        else this.o.log.warn('router.bad_machine_message', { machine: name, from: String(op.n).slice(0, 32) });
        return;
      }
      case 'kick': {
        this.heldMachines.delete(name);
        h.sub.unsubscribe();
        h.link.kick(kickError(op));
        return;
      }
      case 'takeover':
        this.heldMachines.delete(name);
        h.sub.unsubscribe();
        for (const fn of this.machineTakeoverHooks) fn(name);
        return;
    }
  }

  private beat(): void {
    this.o.nc.publish(subject.alive, this.node);
  }

  private heard(node: string): void {
    if (node.length > 0 && node.length <= 32) this.seen.set(node, this.now());
  }

  /** A message for the runner this node holds, from another node. Checked like any input. */
  private onOp(runId: string, m: Msg): void {
    const h = this.held.get(runId);
    const op = parseJson(m.string()) as Partial<Op> & Record<string, unknown>;
    if (!h || typeof op !== 'object' || op === null || op.n === this.node) return;
    switch (op.op) {
      case 'send': {
        const msg = GatewayToRunner.safeParse(op.msg);
        if (msg.success) void h.link.send(msg.data);
        else this.o.log.warn('router.bad_message', { run: runId, from: String(op.n).slice(0, 32) });
        if (m.reply) m.respond(msg.success ? 'ok' : 'refused'); // the sender waits for this (remote())
        return;
      }
      case 'cancel':
        // A node of a ccg before cancel ids sends none: the cancel goes on without.
        if (typeof op.by === 'string') h.link.sendCancel({ by: op.by.slice(0, 120), ...(typeof op.controlId === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(op.controlId) ? { controlId: op.controlId } : {}) });
        return;
      case 'kick': {
        this.held.delete(runId);
        h.sub.unsubscribe();
        h.link.kick(kickError(op));
        return;
      }
      case 'takeover':
        this.held.delete(runId);
        h.sub.unsubscribe();
        for (const fn of this.takeoverHooks) fn(runId);
        return;
    }
  }
}

/** The error a kick from another node carries: a known code (else ERR_REPLACED), its message bounded. */
function kickError(op: Record<string, unknown>): CcgError {
  const code = (typeof op['code'] === 'string' && op['code'] in ERRORS ? op['code'] : 'ERR_REPLACED') as ErrorCode;
  return new CcgError(code, typeof op['message'] === 'string' ? op['message'].slice(0, 300) : undefined);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

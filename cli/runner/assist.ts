import { spawn, type ChildProcess } from 'node:child_process';
import { AssistLinks, TMATE_SSH_RE, TMATE_WEB_RE, type AssistStatusBody } from '../../protocol/assist.js';
import type { GatewayAssist } from '../../protocol/runner-messages.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { groupSpawnOptions, stopTree } from './process-tree.js';
import type { UsedIds } from './used-ids.js';

export interface AssistOptions {
  /** Null: assist sessions are off (the runner was not started with --assist). */
  maxMinutes: number | null;
  tmateBin: string;
  cwd: string;
  /** The environment of the session's shell (the child's, without ccg's own secrets). */
  env: NodeJS.ProcessEnv;
  usedIds: UsedIds;
  event(ev: RunnerEvent): void;
  /** Sends `assist_status` to the gateway now if connected; the latest is re-sent after a reconnect. */
  report(body: AssistStatusBody): void;
  status(line: string): void;
  /** How long tmate may take to print its links. */
  startTimeoutMs?: number;
}

interface Partial {
  ssh?: string;
  sshReadOnly?: string;
  web?: string;
  webReadOnly?: string;
}

/**
 * Reads one line of `tmate -F` output. tmate prints its connection strings as status lines, in
 * this order (tmate-websocket's `session.ex`; an ssh-only server prints only the ssh ones):
 *
 *   web session read only: https://tmate.io/t/ro-…
 *   ssh session read only: ssh ro-…@nyc1.tmate.io
 *   web session: https://tmate.io/t/…
 *   ssh session: ssh …@nyc1.tmate.io
 *
 * Returns true when the line was the read-write ssh string, the last one. A link not in tmate's
 * own shape (an ssh option, shell syntax, another path) is dropped, and `dropped` hears of it.
 */
export function parseTmateLine(line: string, into: Partial, dropped?: (what: string) => void): boolean {
  const m = /^(web|ssh) session( read only)?: (.+)$/.exec(line.trim());
  if (!m) return false;
  const value = m[3]!.trim();
  const ro = Boolean(m[2]);
  const what = `${m[1]}${ro ? ' read-only' : ''} link`;
  if (m[1] === 'ssh') {
    if (!TMATE_SSH_RE.test(value)) {
      dropped?.(what);
      return false;
    }
    if (ro) into.sshReadOnly = value;
    else into.ssh = value;
    return !ro;
  }
  if (!TMATE_WEB_RE.test(value)) {
    dropped?.(what);
    return false;
  }
  if (ro) into.webReadOnly = value;
  else into.web = value;
  return false;
}

/**
 * The runner's assist session: `tmate -F` in the workspace, started and stopped on the gateway's
 * request, stopped by itself after `--assist-max` minutes and when the run ends. Off unless the
 * runner was started with --assist.
 */
export class AssistSession {
  private child: ChildProcess | null = null;
  private state: AssistStatusBody | null = null;
  private closed = false;
  private maxTimer: NodeJS.Timeout | null = null;
  private startTimer: NodeJS.Timeout | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly o: AssistOptions) {}

  /** The last status, for re-sending after a reconnect (null: never started). */
  get current(): AssistStatusBody | null {
    return this.state;
  }

  handle(msg: GatewayAssist): void {
    const refuse = (reason: string) => {
      this.o.status(`refused assist ${msg.action}: ${reason}`);
      this.o.event({ type: 'assist_refused', requestId: msg.requestId, reason });
      // Not kept as the current state: a refusal does not end a running session.
      this.o.report({ requestId: msg.requestId, state: 'refused', links: null, expiresAt: null, reason });
      if (this.state) this.o.report(this.state);
    };
    const spent = this.o.usedIds.claim(msg.requestId);
    if (spent) return refuse(spent);
    if (this.o.maxMinutes === null) return refuse('assist sessions are off on this runner (start it with --assist)');
    if (msg.action === 'stop') {
      if (!this.child) return refuse('no assist session is running');
      void this.stop('stopped on request', msg.requestId);
      return;
    }
    if (this.closed) return refuse('the run is ending');
    if (this.child) {
      // Already open: say so again, to this request.
      if (this.state) this.set({ ...this.state, requestId: msg.requestId });
      return;
    }
    this.start(msg.requestId);
  }

  private set(s: AssistStatusBody): void {
    this.state = s;
    this.o.report(s);
  }

  private start(requestId: string): void {
    const maxMs = this.o.maxMinutes! * 60_000;
    this.o.status('starting an assist session (tmate -F)');
    this.set({ requestId, state: 'starting', links: null, expiresAt: null, reason: null });
    const env: NodeJS.ProcessEnv = { ...this.o.env, TERM: this.o.env['TERM'] && this.o.env['TERM'] !== 'dumb' ? this.o.env['TERM'] : 'xterm-256color' };
    delete env['TMUX'];
    const child = spawn(this.o.tmateBin, ['-F'], { cwd: this.o.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], ...groupSpawnOptions });
    this.child = child;
    const links: Partial = {};
    let active = false;
    let lastLine = '';
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      if (buf.length > 64 * 1024) buf = buf.slice(-4096);
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // Kept for a failure reason, which viewers read: never a session line (it may hold a link).
        if (line.trim() && !/^(web|ssh) session/.test(line.trim())) lastLine = line.trim();
        if (!active && parseTmateLine(line, links, (what) => this.o.status(`ignored tmate's ${what}: it is not in tmate's usual shape (ssh [-pPORT] TOKEN@HOST, https://HOST/t/TOKEN)`))) {
          const parsed = AssistLinks.safeParse({ ssh: links.ssh, sshReadOnly: links.sshReadOnly ?? null, web: links.web ?? null, webReadOnly: links.webReadOnly ?? null });
          if (!parsed.success) continue;
          active = true;
          if (this.startTimer) clearTimeout(this.startTimer);
          const expiresAt = Date.now() + maxMs;
          this.maxTimer = setTimeout(() => void this.stop(`time limit of ${this.o.maxMinutes} min reached`, null), maxMs);
          this.o.status(`assist session open until ${new Date(expiresAt).toISOString()}`);
          this.o.event({ type: 'assist_started', requestId, expiresAt });
          this.set({ requestId, state: 'active', links: parsed.data, expiresAt, reason: null });
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.startTimer = setTimeout(() => {
      if (!active) void this.stop(`tmate printed no session links within ${Math.round((this.o.startTimeoutMs ?? 30_000) / 1000)} s${lastLine ? ` (last line: ${lastLine.slice(0, 150)})` : ''}`, null, 'failed');
    }, this.o.startTimeoutMs ?? 30_000);
    this.exited = new Promise<void>((resolve) => {
      let done = false;
      const end = (why: string) => {
        if (done) return;
        done = true;
        if (this.child === child) {
          this.child = null;
          this.clearTimers();
          if (this.state?.state !== 'stopped' && this.state?.state !== 'failed') {
            const state = active ? 'stopped' : 'failed';
            this.o.event(active ? { type: 'assist_stopped', requestId: null, reason: why } : { type: 'assist_refused', requestId, reason: why });
            this.set({ requestId: null, state, links: null, expiresAt: null, reason: why });
          }
        }
        resolve();
      };
      child.on('error', (err) => end(`could not start ${this.o.tmateBin}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      child.on('close', (code, signal) => end(`tmate exited (${signal ?? `code ${code}`})${lastLine && !active ? `: ${lastLine.slice(0, 150)}` : ''}`));
    });
  }

  private clearTimers(): void {
    if (this.maxTimer) clearTimeout(this.maxTimer);
    if (this.startTimer) clearTimeout(this.startTimer);
    this.maxTimer = this.startTimer = null;
  }

  /** Ends the session (if any) and reports why; resolves once tmate is gone. */
  async stop(reason: string, requestId: string | null, state: 'stopped' | 'failed' = 'stopped'): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.clearTimers();
    const wasActive = this.state?.state === 'active';
    this.o.status(`assist session ${state}: ${reason}`);
    this.o.event(wasActive ? { type: 'assist_stopped', requestId, reason } : { type: 'assist_refused', requestId, reason });
    this.set({ requestId, state, links: null, expiresAt: null, reason });
    stopTree(child.pid, 'SIGTERM');
    const kill = setTimeout(() => stopTree(child.pid, 'SIGKILL'), 3000);
    await this.exited;
    clearTimeout(kill);
  }

  /** The run is ending: stop the session and refuse new ones. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stop('the run ended', null);
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants, hostname } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { parseCloseReason } from '../../protocol/errors.js';
import { MAX_CHUNK_DATA, STREAM_COMMAND, STREAM_EVENT, STREAM_STDERR, STREAM_STDOUT, encodeOutput } from '../../protocol/frames.js';
import { encodeEvent, type RunnerEvent } from '../../protocol/runner-events.js';
import type { AllowedCommand } from './allowlist.js';
import { DEFAULT_POWERS, RunnerPowers, type PowersConfig } from './powers.js';
import { PROTOCOL_VERSION } from '../../protocol/run.js';
import { Redaction, StreamRedactor, secretEnvValues } from '../../protocol/redaction.js';
import { GatewayToRunner, REQUEST_ID_RE, type RunnerToGateway } from '../../protocol/runner-messages.js';
import { HEADER_PROTOCOL, signRequest } from '../../protocol/signing.js';
import { CliError, EXIT, exitForCode, networkError } from '../exit-codes.js';
import { readAll } from '../client/api.js';
import { agentFor } from '../client/pinned-agent.js';
import { Spool } from './spool.js';
import { STEERING_TYPES, type ChildDriver, type SteeringMessage } from './driver.js';
import { forgetChild, recordChild, stopOrphanedChild } from './orphan.js';

export interface RunnerOptions {
  gateway: string;
  runId: string;
  token: string;
  fingerprint: string | undefined;
  argv: string[];
  mode: 'command' | 'claude';
  cwd: string;
  env: NodeJS.ProcessEnv;
  spoolRoot: string;
  /** Status lines for the person at the terminal (stderr). */
  status: (line: string) => void;
  /** Mirror the child's output to these (the local terminal), or not. */
  echo: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } | null;
  version: string;
  /** How long to keep trying to reach the gateway before the child starts. */
  connectTimeoutMs: number;
  /** How long to keep trying to deliver the rest of the output after the child exited. */
  lingerMs: number;
  /** Time between SIGINT → SIGTERM → SIGKILL when cancelling. */
  graceMs: number;
  /** The commands the gateway may ask for, by name. */
  allowlist: AllowedCommand[];
  /** Artifacts and assist sessions (powers.ts); defaults when absent. */
  powers?: PowersConfig;
  /** Runs the child its own way (Claude over stream-json, or a pty) instead of a plain spawn. */
  driver?: ChildDriver;
  /**
   * Ping the gateway this often; a connection that brings nothing back (no message, no pong)
   * for three times as long is dropped and reopened. Default 15 s.
   */
  heartbeatMs?: number;
}

/** Output is coalesced for up to this long, or until this many bytes, before it becomes a chunk. */
const COALESCE_MS = 4;
const COALESCE_BYTES = 64 * 1024;
/** A tail held back by the redactor is sent after this much quiet. */
const HOLD_RELEASE_MS = 300;
/** Stop sending while the socket has this much unsent data; the spool keeps the rest. */
const SEND_WINDOW = 4 * 1024 * 1024;
/** Close codes after which reconnecting cannot help. */
const FATAL_CLOSE = new Set([4001, 4401, 4403, 4404, 4410, 4413, 4426]);

/**
 * The connect-back runner: starts the child, numbers and spools its output, streams it to the
 * gateway over a signed WebSocket, resends whatever is not acknowledged after any reconnect, and
 * reports the exit. Resolves with the child's exit status.
 */
export async function runRunner(o: RunnerOptions): Promise<number> {
  const spool = Spool.open(join(o.spoolRoot, o.runId));
  await stopOrphanedChild(spool.dir, o.graceMs, o.status);
  let ws: WebSocket | null = null;
  let welcomed = false;
  let sentSeq = 0;
  let exitSent = false;
  let attempt = 0;
  let child: ChildProcess | null = null;
  let childPid: number | null = null;
  let childStarted = false;
  let exitInfo: Extract<RunnerToGateway, { type: 'exit' }> | null = null;
  let cancelling: NodeJS.Timeout | null = null;
  let cancelRequested = false;
  let finished = false;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let lingerTimer: NodeJS.Timeout | null = null;
  let wasConnected = false;
  let heartbeatTimer: NodeJS.Timeout | null = null;
  const heartbeatMs = o.heartbeatMs ?? 15_000;
  const connectDeadline = Date.now() + o.connectTimeoutMs;

  let settle!: (code: number) => void;
  let reject!: (err: CliError) => void;
  const done = new Promise<number>((res, rej) => {
    settle = res;
    reject = rej;
  });

  const finish = (fn: () => void) => {
    if (finished) return;
    finished = true;
    if (reconnectTimer) clearTimeout(reconnectTimer);
    if (lingerTimer) clearTimeout(lingerTimer);
    if (heartbeatTimer) clearInterval(heartbeatTimer);
    ws?.removeAllListeners('close');
    ws?.close(1000);
    fn();
  };

  const send = (msg: RunnerToGateway) => ws?.send(JSON.stringify(msg));

  const pump = () => {
    if (!ws || !welcomed || ws.readyState !== WebSocket.OPEN) return;
    while (sentSeq < spool.maxSeq && ws.bufferedAmount < SEND_WINDOW) {
      const chunk = spool.read(sentSeq + 1);
      if (!chunk) break;
      ws.send(encodeOutput(chunk));
      sentSeq = chunk.seq;
    }
    if (sentSeq < spool.maxSeq) {
      // The socket is backed up: look again shortly (ws has no drain event).
      setTimeout(pump, 10);
      return;
    }
    if (exitInfo && !exitSent) {
      exitSent = true;
      send(exitInfo);
    }
  };

  // ---- the child

  let pending: { stream: number; parts: Buffer[]; size: number } | null = null;
  let flushTimer: NodeJS.Timeout | null = null;
  const flush = () => {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = null;
    if (!pending) return;
    const data = Buffer.concat(pending.parts, pending.size);
    const stream = pending.stream;
    pending = null;
    for (let off = 0; off < data.length; off += MAX_CHUNK_DATA) {
      spool.append(spool.maxSeq + 1, stream, data.subarray(off, off + MAX_CHUNK_DATA));
    }
    pump();
  };
  // Secrets never leave this machine: each stream is redacted before it is spooled.
  const redaction = new Redaction({
    literals: [{ kind: 'ccg-token', value: o.token }, ...secretEnvValues(o.env).map((v) => ({ kind: `env:${v.name}`, value: v.value }))],
  });
  const redactArg = (arg: string) => redaction.applyBytes(Buffer.from(arg, 'utf8')).toString('utf8');
  const redactors = new Map<number, StreamRedactor>();
  let releaseTimer: NodeJS.Timeout | null = null;
  const releaseHeld = () => {
    releaseTimer = null;
    for (const [stream, r] of redactors) if (r.pending > 0) enqueue(stream, r.flush());
  };
  const onOutput = (stream: number, data: Buffer) => {
    let r = redactors.get(stream);
    if (!r) redactors.set(stream, (r = new StreamRedactor(redaction)));
    enqueue(stream, r.push(data));
    // A tail held back as a possible secret start is released once the stream has been quiet a moment.
    if (r.pending > 0) {
      if (releaseTimer) clearTimeout(releaseTimer);
      releaseTimer = setTimeout(releaseHeld, HOLD_RELEASE_MS);
    }
  };
  const enqueue = (stream: number, data: Buffer) => {
    if (data.length === 0) return;
    powers.onOutput(stream, data);
    // Keep the order between stdout and stderr: a switch of stream closes the current chunk.
    if (pending && pending.stream !== stream) flush();
    pending ??= { stream, parts: [], size: 0 };
    pending.parts.push(data);
    pending.size += data.length;
    if (pending.size >= COALESCE_BYTES) flush();
    else flushTimer ??= setTimeout(flush, COALESCE_MS);
  };

  const startChild = () => {
    childStarted = true;
    if (o.driver) {
      o.driver.start({
        output: (stream, data, opts) => {
          if (opts?.echo !== false) (stream === STREAM_STDERR ? o.echo?.stderr : o.echo?.stdout)?.write(data);
          onOutput(stream, data);
        },
        event: emitEvent,
        spawned: (pid) => {
          childPid = pid;
          recordChild(spool.dir, pid);
          send({ type: 'started', pid });
        },
        exited: (code, signal, error) => {
          forgetChild(spool.dir);
          onExit(code, signal, error);
        },
        status: o.status,
      });
      return;
    }
    const [file, ...args] = o.argv;
    o.status(`starting: ${o.argv.join(' ')}`);
    const c = spawn(file!, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child = c;
    c.stdout!.on('data', (d: Buffer) => {
      o.echo?.stdout.write(d);
      onOutput(STREAM_STDOUT, d);
    });
    c.stderr!.on('data', (d: Buffer) => {
      o.echo?.stderr.write(d);
      onOutput(STREAM_STDERR, d);
    });
    c.on('spawn', () => {
      childPid = c.pid ?? null;
      if (c.pid) recordChild(spool.dir, c.pid);
      send({ type: 'started', pid: c.pid ?? 0 });
    });
    c.on('error', (err) => {
      if (exitInfo || exiting) return;
      onExit(null, null, `could not start ${file}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
    });
    c.on('close', (code, signal) => {
      forgetChild(spool.dir);
      onExit(code, signal, null);
    });
  };

  const emitEvent = (ev: RunnerEvent) => {
    // Events follow the output they describe: release the command stream's held tail first.
    const held = redactors.get(STREAM_COMMAND);
    if (held && held.pending > 0) enqueue(STREAM_COMMAND, held.flush());
    onOutput(STREAM_EVENT, encodeEvent(ev));
    // An event is a whole line: nothing more will follow it, so nothing may be held back.
    const evr = redactors.get(STREAM_EVENT);
    if (evr && evr.pending > 0) enqueue(STREAM_EVENT, evr.flush());
    flush();
  };
  const powers = new RunnerPowers({
    config: o.powers ?? DEFAULT_POWERS,
    target: { gateway: o.gateway, runId: o.runId, token: o.token, fingerprint: o.fingerprint },
    allowlist: o.allowlist,
    cwd: o.cwd,
    env: o.env,
    dir: spool.dir,
    redaction,
    event: emitEvent,
    commandOutput: (d) => onOutput(STREAM_COMMAND, d),
    send: (msg) => {
      if (!ws || !welcomed || ws.readyState !== WebSocket.OPEN) return false;
      send(msg);
      return true;
    },
    status: o.status,
  });

  let exiting = false;
  const onExit = (code: number | null, signal: NodeJS.Signals | null, error: string | null) => {
    if (exitInfo || exiting) return;
    exiting = true;
    if (releaseTimer) clearTimeout(releaseTimer);
    releaseHeld();
    flush();
    // A running command and the assist session stop, and the artifacts are collected, before the exit is reported.
    powers
      .atExit(error === null)
      .catch((err: unknown) => o.status(`run-end work failed: ${String(err)}`))
      .finally(() => reportExit(code, signal, error));
  };

  const reportExit = (code: number | null, signal: NodeJS.Signals | null, error: string | null) => {
    powers.close();
    if (releaseTimer) clearTimeout(releaseTimer);
    releaseHeld();
    flush();
    if (cancelling) clearTimeout(cancelling);
    exitInfo = { type: 'exit', code, signal, lastSeq: spool.maxSeq, error };
    o.status(error ?? `child exited with ${signal ? `signal ${signal}` : `code ${code}`}; delivering the rest of its output`);
    lingerTimer = setTimeout(() => {
      o.status(`could not deliver all output within ${Math.round(o.lingerMs / 1000)} s; the spool is kept in ${spool.dir}`);
      finish(() => {
        spool.close(false);
        settle(exitStatus());
      });
    }, o.lingerMs);
    pump();
  };

  const exitStatus = (): number => {
    if (!exitInfo) return EXIT.ERROR;
    if (exitInfo.error) return 127;
    // A cancelled run exits 130 like `ccg runs wait` says it ended, even when the child (Claude,
    // interrupted cleanly) exited 0 by itself. The gateway still records the child's own code.
    if (cancelRequested) return EXIT.CANCELLED;
    if (exitInfo.code !== null) return exitInfo.code;
    const signum = exitInfo.signal ? ((osConstants.signals as Record<string, number>)[exitInfo.signal] ?? 0) : 0;
    return 128 + signum;
  };

  /**
   * SIGINT first (or the driver's clean interrupt: Claude over stream-json gets an interrupt
   * request and the end of its input), then SIGTERM, then SIGKILL, a grace period apart, to the
   * whole group.
   */
  const cancelChild = (by: string) => {
    if (childPid === null || exitInfo || cancelling) return;
    cancelRequested = true;
    o.status(`cancel requested by ${by}`);
    const gentle = o.driver?.interrupt(by) ?? false;
    const signals: NodeJS.Signals[] = gentle ? ['SIGTERM', 'SIGKILL'] : ['SIGINT', 'SIGTERM', 'SIGKILL'];
    const next = () => {
      const sig = signals.shift();
      if (!sig || childPid === null || exitInfo) return;
      try {
        process.kill(-childPid, sig);
      } catch {
        child?.kill(sig);
      }
      cancelling = setTimeout(next, o.graceMs);
    };
    if (gentle) cancelling = setTimeout(next, o.graceMs);
    else next();
  };

  // ---- the gateway

  const fatal = (err: CliError) => {
    o.status(err.message);
    if (child && !exitInfo) {
      cancelChild('the runner (fatal gateway error)');
    }
    void powers.abort();
    finish(() => {
      spool.close(false);
      reject(err);
    });
  };

  const scheduleReconnect = (why: string) => {
    if (finished) return;
    if (!childStarted && Date.now() > connectDeadline) {
      return fatal(new CliError(`gave up reaching the gateway after ${Math.round(o.connectTimeoutMs / 1000)} s: ${why}`, EXIT.UNREACHABLE, 'ERR_UNREACHABLE'));
    }
    const delay = Math.random() * Math.min(5000, 100 * 2 ** attempt++); // full jitter
    if (attempt === 1 || attempt % 5 === 0) o.status(`${why}; reconnecting${wasConnected ? ` (resuming after seq ${spool.minSeq - 1})` : ''}…`);
    reconnectTimer = setTimeout(connect, delay);
  };

  /** A request that fails the schema is refused (when it has a usable id) and never acted on. */
  const refuseMalformed = (value: unknown) => {
    const v = value as { type?: unknown; requestId?: unknown; name?: unknown } | null;
    if (typeof v?.requestId !== 'string' || !REQUEST_ID_RE.test(v.requestId) || !childStarted || !welcomed || exitInfo) return;
    powers.burnId(v.requestId);
    const reason = 'malformed request (unknown fields or bad values)';
    o.status(`refused a malformed ${String(v.type).slice(0, 16)} request from the gateway`);
    if (v.type === 'exec') emitEvent({ type: 'exec_refused', requestId: v.requestId, name: typeof v.name === 'string' ? v.name.slice(0, 64) : '', reason });
    else if (v.type === 'collect') emitEvent({ type: 'collect_done', requestId: v.requestId, trigger: 'request', uploaded: [], skipped: [], error: reason });
    else if (v.type === 'assist') emitEvent({ type: 'assist_refused', requestId: v.requestId, reason });
  };

  const onMessage = (raw: string) => {
    let parsed;
    let value: unknown;
    try {
      value = JSON.parse(raw);
      parsed = GatewayToRunner.safeParse(value);
    } catch {
      return;
    }
    if (!parsed.success) {
      const v = value as { type?: unknown } | null;
      if (typeof v?.type === 'string' && STEERING_TYPES.has(v.type)) {
        if (o.driver && childStarted && !exitInfo) o.driver.refuseMalformed(v.type, v);
        else o.status(`refused a malformed ${v.type} message from the gateway`);
        return;
      }
      refuseMalformed(value);
      return;
    }
    const msg = parsed.data;
    switch (msg.type) {
      case 'welcome': {
        attempt = 0;
        if (msg.finished) {
          finish(() => {
            spool.close(true);
            if (childStarted) settle(exitStatus());
            else reject(new CliError(`run ${o.runId} already finished (exit code ${msg.exitCode ?? 'none'}); create a new run`, EXIT.ERROR, 'ERR_RUN_FINISHED'));
          });
          return;
        }
        // Before the child starts, numbering continues after whatever the gateway already has
        // (a restarted runner) or after this run's leftover spool, whichever is further.
        if (!childStarted && msg.nextSeq - 1 >= spool.maxSeq) {
          spool.ack(spool.maxSeq);
          spool.resetBase(msg.nextSeq);
        }
        sentSeq = Math.min(msg.nextSeq - 1, spool.maxSeq);
        welcomed = true;
        exitSent = false;
        if (wasConnected) o.status(`reconnected; resending from seq ${sentSeq + 1}`);
        wasConnected = true;
        if (!childStarted) startChild();
        else if (!exitInfo) {
          send({ type: 'started', pid: childPid ?? 0 });
          o.driver?.connected();
        }
        powers.onWelcome();
        pump();
        return;
      }
      case 'ack':
        spool.ack(msg.seq);
        return;
      case 'exit_ack':
        finish(() => {
          spool.close(true);
          settle(exitStatus());
        });
        return;
      case 'cancel':
        cancelChild(msg.by);
        return;
      case 'exec':
      case 'collect':
      case 'assist':
        // hello → welcome comes first on every connection (and before the first one the output
        // numbering is not even settled): a request before it is a protocol violation, ignored.
        if (!childStarted || !welcomed) o.status(`ignored a ${msg.type} request that came before the gateway's welcome`);
        else powers.handle(msg);
        return;
      case 'error':
        o.status(`gateway: ${msg.code}: ${msg.message}`);
        return;
      case 'approval_decision':
      case 'input':
      case 'resize':
        steer(msg);
        return;
    }
  };

  /** Approvals, follow-ups and keystrokes go to the driver; a plain command takes none. */
  const steer = (msg: SteeringMessage) => {
    if (o.driver && childStarted && !exitInfo) return o.driver.handle(msg);
    const id = msg.type === 'approval_decision' ? msg.approvalId : msg.type === 'input' ? msg.inputId : null;
    const kind = msg.type === 'approval_decision' ? 'approval' : msg.type === 'input' ? 'input' : 'resize';
    o.status(`refused a ${kind} message from the gateway: ${exitInfo ? 'the run has ended' : 'this run takes none'}`);
    // After the exit nothing more is numbered: the exit message already named the last seq.
    if (!exitInfo && childStarted) emitEvent({ type: 'control_refused', kind, id, reason: 'this run takes no input (a plain command without --pty)' });
  };

  function connect() {
    if (finished) return;
    const url = new URL('/v1/runner', o.gateway);
    const headers = {
      ...signRequest(o.token, { method: 'GET', target: url.pathname, runId: o.runId }),
      [HEADER_PROTOCOL]: String(PROTOCOL_VERSION),
    };
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const agent = agentFor(url, o.fingerprint);
    const sock = new WebSocket(url, { headers, ...(agent ? { agent } : {}), perMessageDeflate: false, handshakeTimeout: 10_000, maxPayload: 1024 * 1024 });
    ws = sock;
    welcomed = false;
    let lastError = '';
    sock.on('unexpected-response', (_req, res) => {
      void readAll(res).then((body) => {
        let code = 'ERR_HTTP';
        let message = `gateway answered ${res.statusCode}`;
        try {
          const e = (JSON.parse(body.toString('utf8')) as { error?: { code?: string; message?: string } }).error;
          code = e?.code ?? code;
          message = e?.message ?? message;
        } catch {
          /* keep the status line */
        }
        sock.removeAllListeners('close');
        sock.terminate();
        const status = res.statusCode ?? 0;
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
          fatal(new CliError(`gateway refused the runner: ${code}: ${message}`, exitForCode(code), code));
        } else {
          scheduleReconnect(`gateway answered ${status} (${code}: ${message})`);
        }
      });
    });
    // A connection can die without a close reaching us (a NAT or firewall forgets it, a cable
    // is pulled): output would then pile up in the spool, unsent, forever. So we ping, and
    // give up on a connection that has been silent for three heartbeats.
    let lastHeard = Date.now();
    const heard = () => {
      lastHeard = Date.now();
    };
    sock.on('pong', heard);
    sock.on('ping', heard);
    sock.on('open', () => {
      heard();
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      heartbeatTimer = setInterval(() => {
        if (Date.now() - lastHeard > 3 * heartbeatMs) {
          lastError = `no word from the gateway for ${Math.round((Date.now() - lastHeard) / 1000)} s`;
          sock.terminate();
          return;
        }
        sock.ping();
      }, heartbeatMs);
      send({
        type: 'hello',
        v: PROTOCOL_VERSION,
        // The command line is shown to viewers: a token in it (curl -H "Authorization: …") is redacted like output.
        runner: { hostname: hostname(), pid: process.pid, version: o.version, mode: o.mode, pty: o.driver?.pty ?? false, command: o.argv.slice(0, 256).map(redactArg), cwd: o.cwd, ...powers.hello(), ...(o.driver ? { remote: o.driver.remote } : {}) },
      });
    });
    sock.on('message', (data, isBinary) => {
      heard();
      if (!isBinary) onMessage(String(data));
    });
    sock.on('error', (err) => {
      const e = networkError(err, o.gateway);
      lastError = e.message;
      if (e.code === 'ERR_PIN_MISMATCH' || e.code === 'ERR_TLS') {
        sock.removeAllListeners('close');
        fatal(e);
      }
    });
    sock.on('close', (code, reasonBuf) => {
      if (ws !== sock) return;
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      heartbeatTimer = null;
      ws = null;
      welcomed = false;
      const { code: errCode, message } = parseCloseReason(reasonBuf.toString('utf8'));
      if (FATAL_CLOSE.has(code)) {
        return fatal(new CliError(`gateway closed the connection: ${errCode ?? code}: ${message}`, errCode ? exitForCode(errCode) : EXIT.ERROR, errCode ?? 'ERR_CLOSED'));
      }
      scheduleReconnect(lastError || `connection closed (${code}${message ? `: ${message}` : ''})`);
    });
  }

  const forward = (sig: NodeJS.Signals) => () => cancelChild(`a local ${sig}`);
  const onSigint = forward('SIGINT');
  const onSigterm = forward('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  connect();
  try {
    return await done;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}

import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import type { Agent } from 'node:https';
import { join, resolve } from 'node:path';
import uWS, { type TemplatedApp, type WebSocket, type us_listen_socket } from 'uWebSockets.js';
import { InUseError, listenerPid, lockDataDir, portHasListener } from './instance-lock.js';
import { ConnectionLimiter, defaultConnectionLimits } from './connection-limits.js';
import { closeReason } from '../protocol/errors.js';
import { AccountService } from './auth/accounts.js';
import { ensureOperatorToken } from './auth/api-tokens.js';
import { authenticateBearer } from './auth/operator-auth.js';
import { CfAccessVerifier, type CfAccessConfig } from './auth/cf-access.js';
import { SecretBox } from './auth/secret-box.js';
import { DEFAULT_SESSION_POLICY, SessionService, type SessionPolicy } from './auth/sessions.js';
import { ADMIN_EXISTS_KEY, checkSetupCode, ensureSetupCode } from './auth/setup-code.js';
import { LoginThrottle } from './auth/throttle.js';
import { ApprovalService } from './core/approvals.js';
import { ArtifactService } from './core/artifacts.js';
import { AssistService } from './core/assist.js';
import { ClaudeStateService } from './core/claude-state.js';
import { LiveTextService } from './core/live-text.js';
import { isFinal } from '../protocol/run.js';
import { auditPowerEvents } from './core/audit-events.js';
import { PolicyService } from './core/policy.js';
import { Requests } from './core/requests.js';
import { DEFAULT_CANCEL_GRACE_MS, RunService } from './core/runs.js';
import type { Services } from './core/services.js';
import { ClaudeSessionService } from './core/claude-session.js';
import { Credits } from './core/credits.js';
import { SteeringService } from './core/steering.js';
import { mountRunsApi } from './http/api-runs.js';
import { mountBrowser } from './http/pages/mount.js';
import { LocalBus, type EventBus } from './live/bus.js';
import type { ClusterOptions } from './cluster-node.js';
import type { RunnerRouter } from './core/runner-router.js';
import { TermSnapshots, type SnapshotPolicy } from './live/term-snapshots.js';
import { createLogger, type Logger } from './log.js';
import { Notifier } from './notify/notifier.js';
import { AuditBudget, DEFAULT_AUDIT_BUDGET, type AuditBudgetLimits } from './core/audit-budget.js';
import { pushAudience } from './notify/push-audience.js';
import { WebPush, ensureVapidKeys } from './notify/web-push.js';
import { LmdbStore } from './store/lmdb-store.js';
import type { Store } from './store/types.js';
import { ensureCertificate } from './tls.js';
import { mountOperatorSocket } from './ws/operator-socket.js';
import { mountRunnerSocket } from './ws/runner-socket.js';
import { MachineService } from './core/machines.js';
import { mountMachinesApi } from './http/api-machines.js';
import { loadRunnerFile, mountRunnerFile } from './http/runner-file.js';
import { mountMachineSocket } from './ws/machine-socket.js';

/** Gateway options for notifications (createGateway passes them through). */
export interface NotifyOptions {
  /** Webhook or ntfy topic URL (CCG_NOTIFY_URL). */
  notifyUrl?: string;
  notifyFormat?: 'json' | 'ntfy';
  /** VAPID contact, `mailto:` or `https:` (CCG_VAPID_SUBJECT). */
  vapidSubject?: string;
  /** Push hosts allowed besides the browsers' own push services (CCG_PUSH_HOSTS / --push-hosts). */
  pushHosts?: string[];
  /** Tests: trust the local push service / webhook stand-ins (used for the configured push hosts). */
  pushAgent?: Agent;
  notifyAgent?: Agent;
}

export interface GatewayLimits {
  /** Output bytes one run may store. */
  maxRunBytes: number;
  /** Runs the gateway keeps. */
  maxRuns: number;
  /** Sustained WebSocket messages per second per runner. */
  runnerMsgRate: number;
  /** HTTP request bodies. */
  maxBodyBytes: number;
  /** One uploaded artifact. */
  maxArtifactBytes: number;
  /** Artifacts (distinct names) per run. */
  maxRunArtifacts: number;
  /** All artifacts of one run together. */
  maxRunArtifactBytes: number;
  /** Bytes one run may upload as artifacts over its life, replaced ones included. */
  maxRunUploadBytes: number;
  /** A cancelled run not ended within this long is revoked (its runner ignored the cancel). */
  cancelGraceMs: number;
  /** Long-lived connections (WebSockets, live streams) one client address may hold; 0: no cap. Default 256. */
  maxConnectionsPerAddress: number;
  /** The same for loopback peers (a tunnel on this host). Default: no cap, unless maxConnectionsPerAddress is given. */
  maxConnectionsPerLoopback: number;
  /** Long-lived connections in all. Default: 80 % of the descriptor limit. */
  maxConnections: number;
  /** Of maxConnections, this many only signed runners may use. Default: a tenth. */
  runnerReserve: number;
  /** A runner socket that has not sent `hello` this long after opening is closed. */
  runnerHelloTimeoutMs: number;
  /** Artifact uploads one run may make over its life. */
  maxRunUploads: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  maxRunBytes: 4 * 1024 ** 3,
  maxRuns: 100_000,
  runnerMsgRate: 2000,
  maxBodyBytes: 1024 * 1024,
  maxArtifactBytes: 32 * 1024 * 1024,
  maxRunArtifacts: 500,
  maxRunArtifactBytes: 512 * 1024 * 1024,
  maxRunUploadBytes: 2 * 1024 ** 3,
  maxRunUploads: 5000,
  cancelGraceMs: DEFAULT_CANCEL_GRACE_MS,
  // Replaced at start by what the process's descriptor limit allows (connectionDefaults).
  maxConnectionsPerAddress: 256,
  maxConnectionsPerLoopback: 0,
  maxConnections: 819,
  runnerReserve: 81,
  runnerHelloTimeoutMs: 5000,
};

/** The connection caps this process's descriptor limit allows. */
function connectionDefaults(given: Partial<GatewayLimits> | undefined): Pick<GatewayLimits, 'maxConnectionsPerAddress' | 'maxConnectionsPerLoopback' | 'maxConnections' | 'runnerReserve'> {
  const d = defaultConnectionLimits();
  // A per-address cap given explicitly holds for loopback peers too.
  const perLoopback = given?.maxConnectionsPerAddress ?? d.perLoopback;
  return { maxConnectionsPerAddress: d.perAddress, maxConnectionsPerLoopback: perLoopback, maxConnections: d.total, runnerReserve: d.runnerReserve };
}

export interface GatewayOptions extends NotifyOptions {
  dataDir: string;
  host?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  /** Plain HTTP, refused unless the host is loopback (for a local tunnel such as cloudflared). */
  insecureHttp?: boolean;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** The URL runners should use, when it differs from the listen address (proxy, tunnel). */
  publicUrl?: string;
  limits?: Partial<GatewayLimits>;
  log?: Logger;
  now?: () => number;
  bus?: EventBus;
  /** Clustered gateway: reaches runners whose sockets other nodes hold (server/core/runner-router.ts). */
  router?: RunnerRouter;
  /** Where everything is kept; by default LMDB in `<dataDir>/db`. Any implementation of Store works. */
  store?: Store;
  /**
   * A node of a cluster (`ccg serve --nats`): the store on NATS JetStream, the live bus and runner
   * routing over NATS, the secret key shared by every node (server/cluster-node.ts).
   */
  nats?: ClusterOptions;
  /** The secret key that seals run tokens and TOTP secrets; by default `<dataDir>/secret.key`. */
  secretBox?: SecretBox;
  /** Cloudflare Access in front of the pages (team domain, audience tag, optional certs URL). */
  cfAccess?: CfAccessConfig | null;
  /** Take client addresses from CF-Connecting-IP / X-Forwarded-For on loopback connections (a local tunnel). */
  trustProxy?: boolean;
  /** Browser session lifetimes (idle, absolute). */
  sessionPolicy?: Partial<SessionPolicy>;
  /** The audit log's retention and size budget (DEFAULT_AUDIT_BUDGET otherwise). */
  auditBudget?: Partial<AuditBudgetLimits>;
  /** When pty runs' screens are snapshotted (bytes of output, or ms after output). */
  termSnapshots?: SnapshotPolicy;
}

export interface Gateway {
  url: string;
  host: string;
  port: number;
  fingerprint: string | null;
  certGenerated: boolean;
  dataDir: string;
  operatorTokenFile: string;
  setupCode: string | undefined;
  native: boolean;
  /** A cluster node's id (`n-<6 hex>`), null for a single gateway. */
  node: string | null;
  /** What the gateway built (store, bus, services), for tests and tools that run beside it. */
  services: Services;
  store: Store;
  runs: RunService;
  policy: PolicyService;
  artifacts: ArtifactService;
  assist: AssistService;
  approvals: ApprovalService;
  accounts: AccountService;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** True when uWebSockets.js loaded its native build rather than the ws-based fallback. */
export function uwsIsNative(): boolean {
  return /\[native code\]/.test(Function.prototype.toString.call(uWS.App));
}

/**
 * Builds and starts a gateway: store, certificate, tokens, routes and sockets, then listens.
 *
 * @example
 * const gw = await createGateway({ dataDir: tmp, host: '127.0.0.1', port: 0 });
 * // gw.url, gw.fingerprint, readFileSync(gw.operatorTokenFile)
 * await gw.close();
 */
export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? createLogger();
  const now = opts.now ?? Date.now;
  const limits = { ...DEFAULT_LIMITS, ...connectionDefaults(opts.limits), ...opts.limits };
  if (opts.insecureHttp && !isLoopback(host)) {
    throw new Error(`plain HTTP is only served on loopback; refusing to listen on ${host} without TLS`);
  }

  // One gateway per data directory: a second one is refused here, before it opens the store.
  const unlock = lockDataDir(dataDir);
  try {
    return await startGateway(opts, dataDir, host, log, now, limits, unlock);
  } catch (err) {
    unlock();
    throw err;
  }
}

async function startGateway(opts: GatewayOptions, dataDir: string, host: string, log: Logger, now: () => number, limits: GatewayLimits, unlock: () => void): Promise<Gateway> {
  // The NATS client and the JetStream store load only for a cluster node: at every start they
  // cost a gateway that never uses them about 60 ms and 8 MB (docs/BENCH.md).
  const cluster = opts.nats && !opts.store ? await (await import('./cluster-node.js')).openClusterNode({ ...opts.nats, log, audit: { ...DEFAULT_AUDIT_BUDGET, ...opts.auditBudget } }) : null;
  const store = opts.store ?? cluster?.store ?? LmdbStore.open(dataDir);
  const bus = opts.bus ?? cluster?.bus ?? new LocalBus(log);
  const router = opts.router ?? cluster?.router;
  // Revocations, demotions and disabled users reach every open socket and stream at once.
  const offAuthChanges = store.onAuthChange?.((change) => bus.publish('auth', change));
  // A start that fails from here on (a certificate file that is missing, the listen) closes what
  // it opened: an open NATS connection kept `ccg serve --nats` running after its error.
  let unsubscribe: (() => void) | undefined;
  const release = async () => {
    unsubscribe?.();
    offAuthChanges?.();
    cluster?.close();
    await store.close();
  };
  let box: SecretBox;
  let tls: ReturnType<typeof ensureCertificate> | null;
  let operatorTokenFile: string;
  let setupCode: Awaited<ReturnType<typeof ensureSetupCode>>;
  try {
    // A cluster's nodes share one key (tokens sealed on one node open on another): not the data dir's.
    box = opts.secretBox ?? cluster?.box ?? SecretBox.fromDataDir(dataDir);
    tls = opts.insecureHttp ? null : ensureCertificate(dataDir, { certFile: opts.tlsCertFile, keyFile: opts.tlsKeyFile });
    operatorTokenFile = await ensureOperatorToken(store, dataDir, now());
    setupCode = await ensureSetupCode(store, dataDir);
  } catch (err) {
    await release();
    throw err;
  }

  const scheme = tls ? 'https' : 'http';
  let port = opts.port ?? 3100;
  const urlHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const runnerUrl = (hostHeader: string | undefined) => {
    if (opts.publicUrl) return opts.publicUrl;
    if (hostHeader && /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(hostHeader)) return `${scheme}://${hostHeader}`;
    return `${scheme}://${urlHost}:${port}`;
  };

  const built = buildServices({ ...opts, dataDir, store, bus, router, box, log, now, limits, baseUrl: () => runnerUrl(undefined) });
  const { services } = built;
  unsubscribe = built.unsubscribe;
  const { runs } = services;
  // Runs that were active when the gateway stopped: their stored end, before any viewer asks.
  try {
    await runs.primeSeqs();
  } catch (err) {
    await release();
    throw err;
  }

  const app: TemplatedApp = tls ? uWS.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile }) : uWS.App();
  const sockets = new Set<WebSocket<unknown>>();
  const limiter = new ConnectionLimiter({ perAddress: limits.maxConnectionsPerAddress, perLoopback: limits.maxConnectionsPerLoopback, total: limits.maxConnections, runnerReserve: Math.min(limits.runnerReserve, limits.maxConnections) });
  mountRunnerSocket(app, { runs, store, log, now, maxRunBytes: limits.maxRunBytes, msgRate: limits.runnerMsgRate, sockets, onAssistStatus: (id, s) => services.assist.report(id, s), onLiveText: (id, m) => services.liveText.report(id, m), limiter, helloTimeoutMs: limits.runnerHelloTimeoutMs });
  mountMachineSocket(app, { machines: services.machines, store, log, now, sockets, limiter, helloTimeoutMs: limits.runnerHelloTimeoutMs });
  const operatorSockets = mountOperatorSocket(app, services, { sockets, limiter });
  mountRunsApi(app, services, { runnerUrl, fingerprint: tls?.fingerprint ?? null, maxBodyBytes: limits.maxBodyBytes });
  const runnerFile = loadRunnerFile();
  mountRunnerFile(app, log, runnerFile);
  mountMachinesApi(app, {
    machines: services.machines, runs, log, maxBodyBytes: limits.maxBodyBytes, runnerUrl, fingerprint: tls?.fingerprint ?? null, runnerSha256: runnerFile?.sha256 ?? null,
    who: (ctx) => authenticateBearer(store, ctx.headers),
  });
  const browser = mountBrowser(app, services, {
    tls: tls !== null, limiter, runnerUrl, fingerprint: tls?.fingerprint ?? null, runnerSha256: runnerFile?.sha256 ?? null,
    cf: opts.cfAccess ? new CfAccessVerifier(opts.cfAccess, now) : null,
    trustProxy: opts.trustProxy ?? false,
    setupPending: () => !store.getMeta<boolean>(ADMIN_EXISTS_KEY),
    markSetupDone: async () => {
      await store.putMeta(ADMIN_EXISTS_KEY, true);
      rmSync(join(dataDir, 'setup.code'), { force: true });
    },
    checkSetupCode: (code) => checkSetupCode(store, code),
  });

  // uWebSockets.js sets SO_REUSEPORT, so a second gateway on the port would listen too and take
  // half the connections; a port another socket listens on is refused first (portHasListener).
  const busy = port === 0 ? null : await portHasListener(host, port);
  const listenSocket: us_listen_socket | false = busy ? false : await new Promise<us_listen_socket | false>((resolveListen) => app.listen(host, port, resolveListen));
  if (!listenSocket) {
    operatorSockets.close();
    browser.close();
    await release();
    const pid = port === 0 ? null : listenerPid(port);
    throw new InUseError(`could not listen on ${host}:${port}: ${pid ? `in use by pid ${pid}` : 'address in use, or not allowed'}`, 'port', pid);
  }
  port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);

  const pruneTimer = setInterval(() => {
    store.pruneNonces(now()).catch((err: unknown) => log.warn('nonce.prune_failed', { err: String(err) }));
  }, 60_000);
  pruneTimer.unref();

  const pruneSessions = setInterval(() => {
    services.sessions.prune().catch((err: unknown) => log.warn('session.prune_failed', { err: String(err) }));
  }, 10 * 60_000);
  pruneSessions.unref();
  services.auditBudget.start();

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      clearInterval(pruneTimer);
      clearInterval(pruneSessions);
      const trimmed = services.auditBudget.stop();
      built.unsubscribe(); // an injected bus outlives this gateway: its services stop listening
      offAuthChanges?.();
      operatorSockets.close();
      uWS.us_listen_socket_close(listenSocket);
      browser.close();
      for (const ws of [...sockets]) ws.end(1001, closeReason('ERR_SHUTDOWN'));
      (app as TemplatedApp & { close?: () => void }).close?.();
      // Let work already queued on the loop (upgrades, auth rechecks, stream pumps, after-commit
      // fan-out) run against an open store and find its sockets closed, instead of reading a
      // closed LMDB environment ("The environment is already closed", an uncaught throw).
      for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
      await trimmed;
      // The start-up sweep of unreferenced blobs reads the store: a gateway stopped seconds after
      // it started logged "closed database" for it (a new-user review).
      await services.artifacts.swept.catch(() => undefined);
      await services.accounts.flushAudit(); // the repeats gathered so far are not lost
      await runs.flush();
      cluster?.close();
      await store.close();
      unlock();
    })());

  return {
    url: `${scheme}://${urlHost}:${port}`,
    host,
    port,
    fingerprint: tls?.fingerprint ?? null,
    certGenerated: tls?.generated ?? false,
    dataDir,
    operatorTokenFile,
    setupCode,
    native: uwsIsNative(),
    node: cluster?.store.nodeId ?? null,
    services,
    store,
    runs,
    policy: services.policy,
    artifacts: services.artifacts,
    assist: services.assist,
    approvals: services.approvals,
    accounts: services.accounts,
    close,
  };
}

/**
 * Builds every service on one store and one bus, and subscribes them to each other through the
 * bus. The one place that knows which service needs which: transports receive the result.
 */
function buildServices(o: NotifyOptions & { dataDir: string; store: Store; bus: EventBus; router?: RunnerRouter | undefined; box: SecretBox; log: Logger; now: () => number; limits: GatewayLimits; baseUrl: () => string; sessionPolicy?: Partial<SessionPolicy>; termSnapshots?: SnapshotPolicy | undefined; auditBudget?: Partial<AuditBudgetLimits> }): { services: Services; unsubscribe: () => void } {
  const { store, bus, log, now, limits } = o;
  const credits = new Credits(o.box);
  const runs = new RunService({ store, bus, box: o.box, credits, log, now, maxRuns: limits.maxRuns, maxRunBytes: limits.maxRunBytes, cancelGraceMs: limits.cancelGraceMs, audit: store, ...(o.router ? { router: o.router } : {}) });
  const artifacts = new ArtifactService({
    dir: join(o.dataDir, 'artifacts'),
    index: store,
    shared: store.blobs,
    limits: {
      maxArtifactBytes: limits.maxArtifactBytes, maxRunArtifacts: limits.maxRunArtifacts, maxRunArtifactBytes: limits.maxRunArtifactBytes,
      maxRunUploadBytes: limits.maxRunUploadBytes, maxRunUploads: limits.maxRunUploads,
    },
    bus,
    log,
    now,
  });
  const assist = new AssistService({ bus, log, now });
  const policy = new PolicyService({ store, log, now });
  const approvals = new ApprovalService({ store, audit: store, runs, credits, bus, log, now });
  const steering = new SteeringService({ runs, credits, audit: store, log, now });
  const claudeSession = new ClaudeSessionService({ runs, credits, store, audit: store, log, now });
  const base = o.baseUrl();
  const subject = o.vapidSubject ?? (base.startsWith('https://') && !/\/\/(localhost|127\.)/.test(base) ? base : 'mailto:ccg@localhost.localdomain');
  const push = new WebPush({
    store, keys: ensureVapidKeys(o.dataDir), subject, log, now,
    ...(o.pushAgent ? { agent: o.pushAgent } : {}),
    ...(o.pushHosts ? { pushHosts: o.pushHosts } : {}),
    audience: pushAudience(store),
  });
  const notifier = new Notifier({
    url: o.notifyUrl, format: o.notifyFormat, push, baseUrl: o.baseUrl, runName: (id) => runs.get(id)?.name ?? id, log,
    ...(o.notifyAgent ? { agent: o.notifyAgent } : {}),
  });
  const throttle = new LoginThrottle({ now });
  const accounts = new AccountService({ store, box: o.box, log, now, throttle });
  const sessions = new SessionService(store, now, { ...DEFAULT_SESSION_POLICY, ...o.sessionPolicy });
  const auditBudget = new AuditBudget({ store, log, now, limits: { ...DEFAULT_AUDIT_BUDGET, ...o.auditBudget } });
  const requests = new Requests({ runs, store, policy, artifacts, assist, log, now });
  const machines = new MachineService({ store, runs, log, now, ...(o.router ? { router: o.router } : {}) });
  const liveText = new LiveTextService({ bus });
  const claudeState = new ClaudeStateService({ runs, log, now, onRetrying: (id, r) => notifier.onRetrying(id, r) });
  const screens = new TermSnapshots({ store, runs: { committedSeq: (id) => runs.committedSeq(id), pendingChunks: (id, from) => runs.pendingChunks(id, from), summaryOf: (id) => { const r = runs.get(id); return r ? runs.summary(r) : undefined; } }, bus, log, now, ...(o.termSnapshots ? { policy: o.termSnapshots } : {}) });

  // Who reacts to what, in this order. Each is its own listener, kept when it throws: one
  // hostile event that breaks one service (logged) never switches off the others, or itself.
  const audit = auditPowerEvents(store, now, log, (id, requestId) => runs.claimAnswer(id, requestId));
  const keep = { keep: true };
  const offs = [
    bus.on('run', (run) => assist.onRun(run), keep),
    bus.on('events', ({ runId, events }) => audit(runId, events), keep),
    bus.on('events', ({ runId, events }) => void approvals.onEvents(runId, events), keep),
    bus.on('events', ({ runId, events }) => notifier.onEvents(runId, events), keep),
    bus.on('events', ({ runId, events }) => claudeSession.onEvents(runId, events), keep),
    bus.on('run', (run) => claudeSession.onRun(run), keep),
    bus.on('run', (run) => approvals.onRun(run), keep),
    bus.on('run', (run) => notifier.onRun(run), keep),
    bus.on('approval', (change) => notifier.onApproval(change), keep),
    bus.on('events', ({ runId, events }) => machines.onEvents(runId, events), keep),
    // A deleted or disabled user (or a revoked bootstrap token) loses their push subscriptions.
    bus.on('auth', (change) => {
      if (change.kind !== 'session') push.prune().catch((err: unknown) => log.warn('push.prune_failed', { err: String(err) }));
    }, keep),
    bus.on('events', ({ runId, events }) => liveText.onEvents(runId, events), keep),
    bus.on('events', ({ runId, events }) => claudeState.onEvents(runId, events), keep),
    bus.on('run', (run) => {
      if (isFinal(run.status) || !run.runnerConnected) liveText.onRunGone(run.id);
      if (isFinal(run.status)) claudeState.onRunEnded(run.id);
    }, keep),
    bus.on('run', (run) => screens.onRun(run), keep),
    () => screens.close(),
    () => machines.close(),
  ];

  return {
    services: { store, bus, log, now, box: o.box, runs, policy, artifacts, assist, approvals, steering, claudeSession, screens, requests, accounts, sessions, throttle, push, notifier, auditBudget, liveText, machines },
    unsubscribe: () => offs.forEach((off) => off()),
  };
}

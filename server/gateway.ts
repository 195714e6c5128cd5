import { chmodSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import uWS, { type TemplatedApp, type WebSocket, type us_listen_socket } from 'uWebSockets.js';
import { closeReason } from '../protocol/errors.js';
import type { AccountService } from './auth/accounts.js';
import type { CfAccessConfig } from './auth/cf-access.js';
import type { SessionPolicy } from './auth/sessions.js';
import { ensureOperatorToken } from './auth/api-tokens.js';
import { SecretBox } from './auth/secret-box.js';
import { ensureSetupCode } from './auth/setup-code.js';
import { LocalBus, type EventBus } from './live/bus.js';
import { mountRunsApi } from './http/api-runs.js';
import { ArtifactService } from './core/artifacts.js';
import { AssistService } from './core/assist.js';
import { auditPowerEvents } from './core/audit-events.js';
import { LmdbArtifactIndex } from './store/lmdb-artifacts.js';
import { mountBrowser } from './http/pages/mount.js';
import { createLogger, type Logger } from './log.js';
import { PolicyService } from './core/policy.js';
import { RunService } from './core/runs.js';
import { LmdbStore } from './store/lmdb-store.js';
import type { ArtifactIndex, Store } from './store/types.js';
import { ensureCertificate } from './tls.js';
import { mountOperatorSocket } from './ws/operator-socket.js';
import { mountRunnerSocket } from './ws/runner-socket.js';
import { wireClaude, type ClaudeWiring, type NotifyOptions } from './claude/wire.js';

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
};

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
  store?: Store;
  /** Where artifact metadata lives; by default a collection in the LMDB store. */
  artifactIndex?: ArtifactIndex;
  /** Cloudflare Access in front of the pages (team domain, audience tag, optional certs URL). */
  cfAccess?: CfAccessConfig | null;
  /** Take client addresses from CF-Connecting-IP / X-Forwarded-For on loopback connections (a local tunnel). */
  trustProxy?: boolean;
  /** Browser session lifetimes (idle, absolute). */
  sessionPolicy?: Partial<SessionPolicy>;
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
  store: Store;
  runs: RunService;
  policy: PolicyService;
  artifacts: ArtifactService;
  assist: AssistService;
  /** Approvals, input and notifications. */
  claude: ClaudeWiring;
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
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  if (opts.insecureHttp && !isLoopback(host)) {
    throw new Error(`plain HTTP is only served on loopback; refusing to listen on ${host} without TLS`);
  }

  const store = opts.store ?? LmdbStore.open(dataDir);
  const bus = opts.bus ?? new LocalBus(log);
  // Revocations, demotions and disabled users reach every open socket and stream at once.
  const offAuthChanges = store.onAuthChange?.((change) => bus.publishAuthChange(change));
  const box = SecretBox.fromDataDir(dataDir);
  const tls = opts.insecureHttp ? null : ensureCertificate(dataDir, { certFile: opts.tlsCertFile, keyFile: opts.tlsKeyFile });
  const operatorTokenFile = await ensureOperatorToken(store, dataDir, now());
  const setupCode = await ensureSetupCode(store, dataDir);
  const runs = new RunService({ store, bus, box, log, now, maxRuns: limits.maxRuns, maxRunBytes: limits.maxRunBytes });
  runs.addEventListener(auditPowerEvents(store, now, log));
  const artifactIndex = opts.artifactIndex ?? (store instanceof LmdbStore ? new LmdbArtifactIndex(store.root) : undefined);
  if (!artifactIndex) throw new Error('a store other than LmdbStore needs an artifactIndex too');
  const artifacts = new ArtifactService({
    dir: join(dataDir, 'artifacts'),
    index: artifactIndex,
    limits: {
      maxArtifactBytes: limits.maxArtifactBytes, maxRunArtifacts: limits.maxRunArtifacts, maxRunArtifactBytes: limits.maxRunArtifactBytes,
      maxRunUploadBytes: limits.maxRunUploadBytes, maxRunUploads: limits.maxRunUploads,
    },
    log,
    now,
  });
  const assist = new AssistService({ bus, log, now });

  const app: TemplatedApp = tls ? uWS.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile }) : uWS.App();
  const sockets = new Set<WebSocket<unknown>>();
  const scheme = tls ? 'https' : 'http';
  let port = opts.port ?? 3100;
  const urlHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const runnerUrl = (hostHeader: string | undefined) => {
    if (opts.publicUrl) return opts.publicUrl;
    if (hostHeader && /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(hostHeader)) return `${scheme}://${hostHeader}`;
    return `${scheme}://${urlHost}:${port}`;
  };

  const policy = new PolicyService({ store, log, now });
  const claude = wireClaude({ ...opts, dataDir, store, runs, bus, log, now, baseUrl: () => runnerUrl(undefined) });
  runs.addEventListener((runId, events) => claude.onEvents(runId, events));

  mountRunnerSocket(app, { runs, store, log, now, maxRunBytes: limits.maxRunBytes, msgRate: limits.runnerMsgRate, sockets, onAssistStatus: (id, s) => assist.report(id, s) });
  const operatorSockets = mountOperatorSocket(app, { runs, store, bus, log, sockets, assist, artifacts, steering: claude.operatorSteering });
  mountRunsApi(app, { runs, store, log, runnerUrl, fingerprint: tls?.fingerprint ?? null, maxBodyBytes: limits.maxBodyBytes, policy, artifacts, assist, now, claude });
  const browser = mountBrowser(app, {
    store, runs, bus, box, log, now, dataDir, tls: tls !== null, runnerUrl, fingerprint: tls?.fingerprint ?? null,
    cfAccess: opts.cfAccess ?? null, trustProxy: opts.trustProxy ?? false, ...(opts.sessionPolicy ? { sessionPolicy: opts.sessionPolicy } : {}),
    powers: { policy, artifacts, assist, approvals: claude.approvals, steering: claude.steering, push: claude.push },
  });

  const listenSocket = await new Promise<us_listen_socket>((resolveListen, reject) => {
    app.listen(host, port, (sock) => {
      if (sock) resolveListen(sock);
      else reject(new Error(`could not listen on ${host}:${port} (address in use, or not allowed)`));
    });
  });
  port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);

  const pruneTimer = setInterval(() => {
    store.pruneNonces(now()).catch((err: unknown) => log.warn('nonce.prune_failed', { err: String(err) }));
  }, 60_000);
  pruneTimer.unref();

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      clearInterval(pruneTimer);
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
      await runs.flush();
      await store.close();
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
    store,
    runs,
    policy,
    artifacts,
    assist,
    claude,
    accounts: browser.accounts,
    close,
  };
}

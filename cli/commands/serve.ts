import { Command, Option } from 'clipanion';
import { createGateway } from '../../server/gateway.js';
import { createLogger, type LogLevel } from '../../server/log.js';
import { installCrashHandlers } from '../crash-handlers.js';
import { parsePushHosts } from '../../server/notify/push-hosts.js';
import { BaseCommand, parseDuration, parseWait } from './base.js';
import { CliError, EXIT } from '../exit-codes.js';
import { InUseError } from '../../server/instance-lock.js';
import { parseSize } from '../sizes.js';

export class ServeCommand extends BaseCommand {
  static override paths = [['serve']];
  static override usage = Command.Usage({
    category: 'Gateway',
    description: 'Run the gateway (what `npm start` does)',
    details: `
      Serves HTTPS and the runner/operator WebSockets on one port. Everything it keeps lives in the
      data directory: \`db/\` (LMDB), \`certs/\` (a self-signed certificate made on first start
      unless CCG_TLS_CERT/CCG_TLS_KEY are given), \`operator.token\` (an admin API token for the
      CLI on this host, mode 0600) and, until an admin account exists, \`setup.code\`.

      Prints the URL, the certificate fingerprint runners pin with --fingerprint, and the one-time
      setup code: open /setup in a browser with it to create the admin account. The phone pages
      (/runs, /settings…) need a sign-in; with --cf-access-team-domain and --cf-access-aud every
      page request must also carry a valid Cloudflare Access assertion (see docs/OPERATIONS.md).
      Stops cleanly on SIGINT/SIGTERM.

      One gateway per port and per data directory: a port another socket listens on is refused,
      and the data directory is locked (\`serve.lock\`, holding the pid; a lock left by a dead process is
      taken over). A second \`ccg serve\` on either exits 75 naming the process that has it.

      With --nats (env CCG_NATS) the gateway is one node of a cluster: runs, output, accounts,
      sessions, tokens, approvals and the audit log live in NATS JetStream (replicated, R3 on a
      three-server NATS cluster), live output and operator commands cross nodes over NATS, and the
      data directory keeps only this node's certificate and CLI token. Every node shares one
      secret key: the one the first node stored in JetStream, or --secret-key-file on every node.
      See docs/OPERATIONS.md for a three-node setup.
    `,
    examples: [
      ['Start with defaults (https://localhost:3100, data in .data)', 'ccg serve'],
      ['Listen on all interfaces, port 8443', 'ccg serve --host 0.0.0.0 --port 8443'],
      ['Plain HTTP on loopback, behind cloudflared', 'ccg serve --insecure-http --host 127.0.0.1 --trust-proxy'],
      ['One node of a cluster on three NATS servers', 'ccg serve --host 0.0.0.0 --nats nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222'],
      ['Behind Cloudflare Access', 'CCG_CF_ACCESS_TEAM_DOMAIN=myteam.cloudflareaccess.com CCG_CF_ACCESS_AUD=4714c1… ccg serve'],
    ],
  });

  data = Option.String('--data', { env: 'CCG_DATA_DIR', description: 'Data directory (env CCG_DATA_DIR; default .data)' });
  host = Option.String('--host', { env: 'CCG_HOST', description: 'Address to listen on (env CCG_HOST; default 127.0.0.1)' });
  port = Option.String('--port', { env: 'CCG_PORT', description: 'Port (env CCG_PORT; default 3100; 0 picks a free one)' });
  insecureHttp = Option.Boolean('--insecure-http', false, { description: 'Serve plain HTTP; only allowed on a loopback address' });
  publicUrl = Option.String('--public-url', { env: 'CCG_PUBLIC_URL', description: 'URL runners use to reach this gateway, when not the listen address' });
  logLevel = Option.String('--log-level', { env: 'CCG_LOG_LEVEL', description: 'debug, info, warn or error (default info)' });
  notifyUrl = Option.String('--notify-url', { env: 'CCG_NOTIFY_URL', description: 'Webhook or ntfy topic URL told when a run waits for approval or input, or ends (env CCG_NOTIFY_URL)' });
  notifyFormat = Option.String('--notify-format', { env: 'CCG_NOTIFY_FORMAT', description: 'json (default) or ntfy (default when the URL host contains "ntfy")' });
  vapidSubject = Option.String('--vapid-subject', { env: 'CCG_VAPID_SUBJECT', description: 'Contact for Web Push services: mailto:you@example.com or an https URL (env CCG_VAPID_SUBJECT)' });
  pushHosts = Option.String('--push-hosts', { env: 'CCG_PUSH_HOSTS', description: 'Web Push hosts allowed besides the browsers\' push services, comma-separated host[:port] or *.domain (trusted as given, private addresses included; env CCG_PUSH_HOSTS)' });
  cfTeam = Option.String('--cf-access-team-domain', { env: 'CCG_CF_ACCESS_TEAM_DOMAIN', description: 'Require Cloudflare Access on the pages: your team domain, e.g. myteam.cloudflareaccess.com (env CCG_CF_ACCESS_TEAM_DOMAIN)' });
  cfAud = Option.String('--cf-access-aud', { env: 'CCG_CF_ACCESS_AUD', description: "The Access application's Audience (AUD) tag (env CCG_CF_ACCESS_AUD)" });
  cfCerts = Option.String('--cf-access-certs-url', { env: 'CCG_CF_ACCESS_CERTS_URL', description: 'Where Access signing keys are (default <team domain>/cdn-cgi/access/certs; env CCG_CF_ACCESS_CERTS_URL)' });
  trustProxy = Option.Boolean('--trust-proxy', false, { description: 'Take client addresses from CF-Connecting-IP / X-Forwarded-For on loopback connections (behind a local tunnel); env CCG_TRUST_PROXY=1' });
  sessionIdle = Option.String('--session-idle', { env: 'CCG_SESSION_IDLE', description: 'Browser sessions end after this long unused (env CCG_SESSION_IDLE; default 12h)' });
  cancelGrace = Option.String('--cancel-grace', { env: 'CCG_CANCEL_GRACE', description: 'A cancelled run not ended this long after the cancel is revoked: its runner cut off, its token refused (env CCG_CANCEL_GRACE; default 30s; 0 never)' });
  maxPerAddress = Option.String('--max-connections-per-address', { env: 'CCG_MAX_CONNECTIONS_PER_ADDRESS', description: 'WebSockets and live page streams one client address may hold (env CCG_MAX_CONNECTIONS_PER_ADDRESS; default 256, loopback peers uncapped unless this is given; 0 no cap)' });
  maxConnections = Option.String('--max-connections', { env: 'CCG_MAX_CONNECTIONS', description: 'WebSockets and live page streams in all, a tenth kept for runners (env CCG_MAX_CONNECTIONS; default 80% of the open-files limit)' });
  sessionMax = Option.String('--session-max', { env: 'CCG_SESSION_MAX', description: 'Browser sessions end this long after sign-in, used or not (env CCG_SESSION_MAX; default 168h)' });
  auditRetention = Option.String('--audit-retention', { env: 'CCG_AUDIT_RETENTION', description: 'Audit entries older than this are deleted (env CCG_AUDIT_RETENTION; default 180d)' });
  nats = Option.String('--nats', { env: 'CCG_NATS', description: 'Run as a cluster node on NATS JetStream: server URLs, comma-separated (env CCG_NATS; nats://host:4222,…)' });
  natsReplicas = Option.String('--nats-replicas', { env: 'CCG_NATS_REPLICAS', description: 'Replicas of every JetStream stream and bucket: 1, 3 or 5 (env CCG_NATS_REPLICAS; default 3 when the NATS cluster has 3 or more servers, else 1)' });
  secretKeyFile = Option.String('--secret-key-file', { env: 'CCG_SECRET_KEY_FILE', description: "With --nats: the cluster's secret key (base64 of 32 bytes), the same file on every node, instead of the one stored in JetStream (env CCG_SECRET_KEY_FILE)" });
  auditMaxSize = Option.String('--audit-max-size', { env: 'CCG_AUDIT_MAX_SIZE', description: 'The audit log is kept below this size, oldest entries first (env CCG_AUDIT_MAX_SIZE; default 256M)' });

  protected async run(): Promise<number> {
    const started = performance.now();
    const env = this.context.env;
    const port = Number(this.port ?? 3100);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port "${this.port}" is not a port number`);
    const level = (this.logLevel ?? 'info') as LogLevel;
    if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new CliError(`--log-level must be debug, info, warn or error`);
    if (this.notifyUrl) {
      let u: URL;
      try {
        u = new URL(this.notifyUrl);
      } catch {
        throw new CliError('--notify-url is not a URL');
      }
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new CliError('--notify-url must be an http(s) URL');
    }
    if (this.notifyFormat && this.notifyFormat !== 'json' && this.notifyFormat !== 'ntfy') throw new CliError('--notify-format must be json or ntfy');
    if (this.vapidSubject && !/^(mailto:|https:\/\/)/.test(this.vapidSubject)) throw new CliError('--vapid-subject must start with mailto: or https://');
    let pushHosts: string[] = [];
    try {
      pushHosts = parsePushHosts(this.pushHosts ?? '');
    } catch (err) {
      throw new CliError(`--push-hosts: ${(err as Error).message}`);
    }
    if (Boolean(this.cfTeam) !== Boolean(this.cfAud)) throw new CliError('Cloudflare Access needs both --cf-access-team-domain and --cf-access-aud (CCG_CF_ACCESS_TEAM_DOMAIN, CCG_CF_ACCESS_AUD)');
    const sessionPolicy = {
      idleMs: parseDuration(this.sessionIdle ?? '12h', '--session-idle'),
      maxMs: parseDuration(this.sessionMax ?? '168h', '--session-max'),
    };
    const auditBudget = {
      retentionMs: parseDuration(this.auditRetention ?? '180d', '--audit-retention'),
      maxBytes: parseSize(this.auditMaxSize ?? '256M', '--audit-max-size'),
    };
    if (auditBudget.maxBytes < 1024 * 1024) throw new CliError('--audit-max-size must be at least 1M');
    const cancelGraceMs = parseWait(this.cancelGrace ?? '30s', '--cancel-grace');
    const count = (v: string | undefined, flag: string, min: number): number | undefined => {
      if (v === undefined) return undefined;
      if (!/^\d{1,7}$/.test(v) || Number(v) < min) throw new CliError(`${flag} "${v}" must be a whole number of at least ${min}`);
      return Number(v);
    };
    const perAddress = count(this.maxPerAddress, '--max-connections-per-address', 0);
    const total = count(this.maxConnections, '--max-connections', 16);
    const nats = this.nats ? parseNatsUrls(this.nats) : undefined;
    if (!nats && (this.natsReplicas || this.secretKeyFile)) throw new CliError('--nats-replicas and --secret-key-file need --nats (a cluster node)');
    const replicas = this.natsReplicas === undefined ? undefined : Number(this.natsReplicas);
    if (replicas !== undefined && ![1, 3, 5].includes(replicas)) throw new CliError(`--nats-replicas must be 1, 3 or 5 (got "${this.natsReplicas}")`);
    // The NATS user's password from the environment only (a flag would show in ps).
    const natsUser = env['CCG_NATS_USER'];
    const natsAuth = natsUser ? { auth: { user: natsUser, pass: env['CCG_NATS_PASSWORD'] ?? '' } } : {};
    const trustProxy = this.trustProxy || /^(1|true|yes)$/i.test(env['CCG_TRUST_PROXY'] ?? '');
    const log = createLogger({ level, write: (l) => this.context.stderr.write(l) });
    const offCrashHandlers = installCrashHandlers(log, (l) => this.context.stderr.write(l));
    const gw = await createGateway({
      ...(this.notifyUrl ? { notifyUrl: this.notifyUrl } : {}),
      ...(this.notifyFormat ? { notifyFormat: this.notifyFormat as 'json' | 'ntfy' } : {}),
      ...(this.vapidSubject ? { vapidSubject: this.vapidSubject } : {}),
      ...(pushHosts.length ? { pushHosts } : {}),
      cfAccess: this.cfTeam && this.cfAud ? { teamDomain: this.cfTeam, aud: this.cfAud, ...(this.cfCerts ? { certsUrl: this.cfCerts } : {}) } : null,
      trustProxy,
      sessionPolicy,
      auditBudget,
      limits: {
        cancelGraceMs,
        ...(perAddress !== undefined ? { maxConnectionsPerAddress: perAddress } : {}),
        ...(total !== undefined ? { maxConnections: total, runnerReserve: Math.max(4, Math.floor(total / 10)) } : {}),
      },
      ...(nats ? { nats: { servers: nats, ...(replicas !== undefined ? { replicas } : {}), ...(this.secretKeyFile ? { secretKeyFile: this.secretKeyFile } : {}), ...natsAuth } } : {}),
      dataDir: this.data ?? '.data',
      host: this.host ?? '127.0.0.1',
      port,
      insecureHttp: this.insecureHttp,
      ...(env['CCG_TLS_CERT'] ? { tlsCertFile: env['CCG_TLS_CERT'] } : {}),
      ...(env['CCG_TLS_KEY'] ? { tlsKeyFile: env['CCG_TLS_KEY'] } : {}),
      ...(this.publicUrl ? { publicUrl: this.publicUrl } : {}),
      log,
    }).catch((err: unknown) => {
      offCrashHandlers();
      // Another gateway has the port or the data directory: say which process, exit 75.
      if (err instanceof InUseError) throw new CliError(err.message, EXIT.IN_USE, 'ERR_IN_USE');
      throw err;
    });
    const readyMs = Math.round(performance.now() - started);
    const info = {
      url: gw.url,
      fingerprint: gw.fingerprint,
      dataDir: gw.dataDir,
      operatorTokenFile: gw.operatorTokenFile,
      setupCode: gw.setupCode ?? null,
      cfAccess: this.cfTeam ?? null,
      native: gw.native,
      node: gw.node,
      store: gw.store.health().detail,
      readyMs,
    };
    this.print({ ready: true, ...info }, () =>
      [
        `ccg gateway ready in ${readyMs} ms`,
        `  url          ${gw.url}`,
        gw.fingerprint ? `  fingerprint  ${gw.fingerprint}` : `  tls          off (plain HTTP on loopback)`,
        `  data         ${gw.dataDir}${gw.certGenerated ? ' (new self-signed certificate)' : ''}`,
        ...(gw.node ? [`  node         ${gw.node} (cluster)`, `  store        ${gw.store.health().detail}`] : []),
        `  CLI token    ${gw.operatorTokenFile}`,
        ...(gw.setupCode ? [`  setup code   ${gw.setupCode}   (open ${gw.url}/setup to create the admin)`] : [`  pages        ${gw.url}/login`]),
        ...(this.cfTeam ? [`  access       Cloudflare Access required (${this.cfTeam})`] : []),
        ...(gw.native ? [] : ['  warning      uWebSockets.js native build unavailable: using the slower fallback']),
        '',
        `  export CCG_GATEWAY=${gw.url} CCG_TOKEN=$(cat ${gw.operatorTokenFile})${gw.fingerprint ? ` CCG_FINGERPRINT=${gw.fingerprint}` : ''}`,
        '',
      ].join('\n'),
    );
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    this.context.stderr.write('ccg: shutting down\n');
    await gw.close();
    offCrashHandlers();
    return 0;
  }
}

/** `--nats a,b,c`: NATS server URLs (nats://, tls://, or host:port). */
export function parseNatsUrls(raw: string): string[] {
  const urls = raw.split(',').map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0) throw new CliError('--nats needs at least one NATS server URL');
  for (const u of urls) {
    if (!/^((nats|tls|ws|wss):\/\/)?([^\s/@]+@)?[A-Za-z0-9.\-[\]:]+(:\d{1,5})?$/.test(u)) throw new CliError(`--nats: "${u.slice(0, 80)}" is not a NATS URL (nats://host:4222)`);
  }
  return urls;
}

import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { HealthResponse, StoreHealthResponse, type StoreState } from '../../protocol/api.js';
import { API_TOKEN_RE } from '../../protocol/ids.js';
import { TESTED_CLAUDE_VERSION } from '../../protocol/claude-stream.js';
import { Command, Option } from 'clipanion';
import { fingerprintOfDer, fingerprintOfPem, parseFingerprint } from '../../protocol/fingerprint.js';
import { SIGNATURE_WINDOW_S } from '../../protocol/signing.js';
import { gatewayOrigin, parseGateways, type GatewayUrl } from '../client/gateways.js';
import { ApiClient } from '../client/api.js';
import { OperatorClient } from '../client/operator-client.js';
import { configPath, loadConfig, sameGateway, type SavedConfig } from '../config.js';
import { EXIT } from '../exit-codes.js';
import http from 'node:http';
import https from 'node:https';
import { uwsIsNative } from '../../server/gateway.js';
import { BaseCommand, terminalLine } from './base.js';

type Level = 'ok' | 'warn' | 'fail';
interface Check {
  name: string;
  level: Level;
  detail: string;
  /** The exit status this failure means (69 unreachable, 76 pin, 77 token); other failures exit 1. */
  exit?: number;
}

/** What GET /healthz showed, read without trusting the certificate (only to report on it). */
type Probe =
  | { ok: true; json: unknown; status: number; fingerprint: string | null; trusted: boolean; t0: number; t1: number }
  | { ok: false; error: string };

export class DoctorCommand extends BaseCommand {
  static override paths = [['doctor']];
  static override usage = Command.Usage({
    category: 'Gateway',
    description: 'Check this machine and the gateway: Node, uWebSockets.js build, data directory, certificate, tools, gateway, its store, pin, token, login, clock',
    details: `
      Each check says ok, warn or fail. Missing tools are warnings: git is needed for the
      default allowlist and the diff artifacts, tmate only for --assist, cloudflared only for
      \`ccg tunnel\`, claude only for --cmd.

      With a gateway (--gateway, CCG_GATEWAY or the one \`ccg login\` saved) it also checks that
      the gateway answers and that its store can serve (LMDB, or a cluster's JetStream: a store
      that cannot is a failure, with what the store reports), that its certificate matches the pin (--fingerprint, CCG_FINGERPRINT or
      the saved one), that the API token is accepted and with which role (the token is sent only
      to a gateway whose certificate checked out), and compares this machine's clock with the
      gateway's: signed runner requests are refused when they are more than
      ${SIGNATURE_WINDOW_S} s apart.

      Exit status: 0 when nothing failed; 69 when the gateway cannot be reached, 76 when its
      certificate does not match the pin or cannot be verified, 77 when the token is refused (the
      first of these that failed); 1 for any other failure.

      A cluster: --gateway URL1,URL2,… (one --fingerprint for all, or one per URL) checks every
      node the same way, each check's detail beginning with the node's URL.
    `,
    examples: [['Check', 'ccg doctor'], ['For a script', 'ccg doctor --json'], ['Check a gateway and a token', 'ccg doctor --gateway https://gw:3100 --fingerprint sha256:… --token "$CCG_TOKEN"'], ['Check every node of a cluster', 'ccg doctor --gateway https://ccg1:3100,https://ccg2:3100,https://ccg3:3100 --fingerprint sha256:…']],
  });

  data = Option.String('--data', { env: 'CCG_DATA_DIR', description: 'Data directory to check (default .data)' });
  gateway = Option.String('--gateway', { env: 'CCG_GATEWAY', description: 'Also check this gateway: reachable, its store, pin, token, clock; a comma-separated list checks each cluster node (env CCG_GATEWAY; default: the one `ccg login` saved)' });
  fingerprint = Option.String('--fingerprint', { env: 'CCG_FINGERPRINT', description: "Pin the gateway's certificate, or each node's comma-separated (env CCG_FINGERPRINT; default: the saved one)" });
  token = Option.String('--token', { env: 'CCG_TOKEN', description: 'Check this API token, ccgo_… (env CCG_TOKEN; default: the saved one)' });

  protected async run(): Promise<number> {
    const env = this.context.env;
    const checks: Check[] = [];
    const major = Number(process.versions.node.split('.')[0]);
    checks.push({ name: 'node', level: major >= 20 ? 'ok' : 'fail', detail: `v${process.versions.node}${major >= 20 ? '' : ' (ccg needs Node 20 or newer)'}` });
    const native = uwsIsNative();
    checks.push({
      name: 'uWebSockets.js',
      level: native ? 'ok' : 'warn',
      detail: native ? `native build (${process.platform}-${process.arch}, ABI ${process.versions.modules})` : 'ws-based fallback: works, but slower (no native build for this platform/Node)',
    });

    const dir = resolve(this.data ?? '.data');
    if (!existsSync(dir)) {
      checks.push({ name: 'data dir', level: 'ok', detail: `${dir} does not exist yet; \`ccg serve\` creates it (mode 0700)` });
    } else {
      const mode = statSync(dir).mode & 0o777;
      checks.push({
        name: 'data dir',
        level: mode & 0o077 ? 'warn' : 'ok',
        detail: `${dir} mode ${mode.toString(8).padStart(4, '0')}${mode & 0o077 ? ' (readable by others: chmod 700 it)' : ''}`,
      });
      for (const f of ['operator.token', 'secret.key', 'setup.code', 'certs/key.pem']) {
        const p = join(dir, f);
        if (!existsSync(p)) continue;
        const m = statSync(p).mode & 0o777;
        if (m & 0o077) checks.push({ name: f, level: 'fail', detail: `${p} mode ${m.toString(8)}: secrets must be 0600` });
      }
    }

    const certFile = env['CCG_TLS_CERT'] ?? join(dir, 'certs/cert.pem');
    if (existsSync(certFile)) {
      try {
        const pem = readFileSync(certFile, 'utf8');
        const cert = new X509Certificate(pem);
        const expires = new Date(cert.validTo);
        const days = Math.floor((expires.getTime() - Date.now()) / 86_400_000);
        checks.push({
          name: 'certificate',
          level: days < 0 ? 'fail' : days < 30 ? 'warn' : 'ok',
          detail: `${fingerprintOfPem(pem)}, ${days < 0 ? 'EXPIRED' : `expires in ${days} days`}`,
        });
      } catch (err) {
        checks.push({ name: 'certificate', level: 'fail', detail: `${certFile}: ${(err as Error).message}` });
      }
    } else {
      checks.push({ name: 'certificate', level: 'ok', detail: 'none yet; `ccg serve` generates a self-signed one' });
    }

    const claude = env['CCG_CLAUDE_BIN'] ?? 'claude';
    const probe = spawnSync(claude, ['--version'], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, ...env } });
    checks.push(
      probe.status === 0
        ? { name: 'claude', level: 'ok', detail: `${probe.stdout.trim().split('\n')[0] ?? 'found'} (ccg is tested with ${TESTED_CLAUDE_VERSION}; see docs/CLAUDE_CODE.md)` }
        : { name: 'claude', level: 'warn', detail: `${claude} not found on PATH: needed on runner machines for --cmd (npm i -g @anthropic-ai/claude-code)` },
    );

    const tool = (name: string, bin: string, args: string[], why: string) => {
      const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 10_000, env: { ...process.env, ...env } });
      const first = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '';
      checks.push(r.status === 0 ? { name, level: 'ok', detail: first || 'found' } : { name, level: 'warn', detail: `${bin} not found on PATH: ${why}` });
    };
    tool('git', 'git', ['--version'], 'needed by the default allowlist (status, diff, log) and the diff artifacts');
    tool('tmate', env['CCG_TMATE_BIN'] ?? 'tmate', ['-V'], 'needed only on runner machines started with --assist (apt install tmate)');
    tool('cloudflared', env['CCG_CLOUDFLARED_BIN'] ?? 'cloudflared', ['--version'], 'needed only for `ccg tunnel`');
    checks.push(...(await this.gatewayChecks()));

    const failed = checks.filter((c) => c.level === 'fail');
    this.print({ ok: failed.length === 0, checks: checks.map(({ exit: _exit, ...c }) => c) }, () => checks.map((c) => `${c.level.padEnd(4)}  ${c.name.padEnd(15)} ${terminalLine(c.detail)}`).join('\n') + '\n');
    return failed.length === 0 ? 0 : (failed.find((c) => c.exit !== undefined)?.exit ?? 1);
  }

  /** The saved login, then the gateway: reachable, pin, token and role, clock. */
  private async gatewayChecks(): Promise<Check[]> {
    const env = this.context.env;
    const checks: Check[] = [];
    let saved: SavedConfig | undefined;
    try {
      saved = loadConfig(env);
    } catch (err) {
      checks.push({ name: 'login', level: 'warn', detail: (err as Error).message });
    }
    const gateway = this.gateway ?? saved?.gateway;
    const useSaved = saved !== undefined && gateway !== undefined && sameGateway(gateway, saved.gateway);
    if (saved) {
      const who = saved.user ? `${saved.user.name} (${saved.user.role})` : 'a token';
      const other = gateway && !useSaved ? `; not used for ${gateway.slice(0, 100)}, a different gateway` : '';
      let mode = '';
      try {
        const m = statSync(configPath(env)).mode & 0o777;
        if (m & 0o077) mode = `; ${configPath(env)} mode ${m.toString(8)}: chmod 600 it`;
      } catch {
        // read a moment ago: a race with `ccg logout` is no finding
      }
      checks.push({ name: 'login', level: mode ? 'warn' : 'ok', detail: `${who} on ${saved.gateway}, ${saved.fingerprint ? 'pinned' : 'no pin'}${other}${mode}` });
    } else if (checks.length === 0) {
      checks.push({ name: 'login', level: 'ok', detail: 'none saved (`ccg login` saves a gateway, its pin and a token for every command)' });
    }
    if (!gateway) return checks;
    if (gateway.includes(',')) {
      // A cluster's nodes: each one is checked on its own (reachable, store, pin, token, clock).
      let nodes: GatewayUrl[];
      try {
        nodes = parseGateways(gateway, this.fingerprint);
      } catch (err) {
        checks.push({ name: 'gateway', level: 'fail', detail: (err as Error).message });
        return checks;
      }
      for (const node of nodes) {
        const own = await this.nodeChecks(new URL(node.url), node.fingerprint, undefined);
        checks.push(...own.map((c) => (c.detail.includes(node.url) ? c : { ...c, detail: `${node.url}: ${c.detail}` })));
      }
      return checks;
    }

    let url: URL;
    let pin: string | undefined;
    try {
      url = new URL(gatewayOrigin(gateway));
    } catch (err) {
      checks.push({ name: 'gateway', level: 'fail', detail: (err as Error).message });
      return checks;
    }
    const pinText = this.fingerprint ?? (useSaved ? (saved?.fingerprint ?? undefined) : undefined);
    try {
      pin = pinText ? parseFingerprint(pinText) : undefined;
    } catch (err) {
      checks.push({ name: 'pin', level: 'fail', detail: (err as Error).message });
      return checks;
    }
    checks.push(...(await this.nodeChecks(url, pin, useSaved ? saved : undefined)));
    return checks;
  }

  /** One gateway (node): reachable, its store, pin, token and role, clock. */
  private async nodeChecks(url: URL, pin: string | undefined, saved: SavedConfig | undefined): Promise<Check[]> {
    const checks: Check[] = [];
    const probe = await probeHealth(url);
    if (!probe.ok) {
      checks.push({ name: 'gateway', level: 'fail', detail: `cannot reach ${url.origin}: ${probe.error}`, exit: EXIT.UNREACHABLE });
      checks.push({ name: 'clock', level: 'warn', detail: `cannot check: cannot reach ${url.origin}` });
      return checks;
    }
    const health = HealthResponse.safeParse(probe.json);
    checks.push(
      health.success
        ? { name: 'gateway', level: 'ok', detail: `${url.origin} answers` }
        : { name: 'gateway', level: 'warn', detail: `${url.origin} answered /healthz with ${probe.status} but no ccg health report: not a ccg gateway, or a proxy in between?` },
    );
    const storeAt = checks.length;

    let pinOk = true;
    if (url.protocol === 'http:') {
      checks.push({ name: 'pin', level: 'warn', detail: 'plain HTTP: no certificate to pin (only for a gateway on this machine)' });
    } else if (pin) {
      pinOk = probe.fingerprint === pin;
      checks.push(
        pinOk
          ? { name: 'pin', level: 'ok', detail: `the certificate matches ${pin}` }
          : { name: 'pin', level: 'fail', detail: `the gateway's certificate is ${probe.fingerprint ?? 'missing'}, not the pinned ${pin}: a wrong pin, a new certificate, or a different server`, exit: EXIT.PIN_MISMATCH },
      );
    } else if (probe.trusted) {
      checks.push({ name: 'pin', level: 'ok', detail: 'none needed: the certificate is trusted by this system' });
    } else {
      pinOk = false;
      checks.push({
        name: 'pin',
        level: 'fail',
        detail: `no pin, and the certificate is not one this system trusts (self-signed?). It is ${probe.fingerprint ?? 'unknown'}: if \`ccg serve\` printed that, pass --fingerprint (or set CCG_FINGERPRINT)`,
        exit: EXIT.PIN_MISMATCH,
      });
    }

    const token = await this.tokenCheck(url, pin, pinOk, saved);
    checks.push(token);
    // The store's own report needs a signed-in user: only with a token that was just accepted.
    const accepted = token.level === 'ok' ? (this.token ?? saved?.token)?.trim() : undefined;
    if (health.success) checks.splice(storeAt, 0, await storeCheck(url, pin, accepted, health.data.store));
    checks.push(health.success ? clockCheck(url.origin, health.data.time, probe.t0, probe.t1) : { name: 'clock', level: 'warn', detail: `${url.origin} sent an unexpected /healthz answer` });
    return checks;
  }

  /** Connects to the operator socket: the gateway's welcome names the token's user and role. */
  private async tokenCheck(url: URL, pin: string | undefined, pinOk: boolean, saved: SavedConfig | undefined): Promise<Check> {
    const token = (this.token ?? saved?.token)?.trim();
    if (!token) return { name: 'token', level: 'warn', detail: 'none given: commands other than runner start need one (--token, CCG_TOKEN or `ccg login`)' };
    if (!API_TOKEN_RE.test(token)) return { name: 'token', level: 'fail', detail: 'malformed: an API token is ccgo_ followed by 43 characters', exit: EXIT.AUTH };
    // A token is a credential: it goes only to a gateway whose certificate checked out.
    if (!pinOk) return { name: 'token', level: 'warn', detail: 'not checked: the certificate did not check out, so the token was not sent' };
    const client = new OperatorClient({ gateway: url.origin, token, fingerprint: pin }, { reconnect: false, client: 'ccg doctor' });
    const answer = await new Promise<{ name: string; role: string } | Error>((resolveAnswer) => {
      const timer = setTimeout(() => resolveAnswer(new Error('no answer within 10 s')), 10_000);
      client.once('welcome', (u) => (clearTimeout(timer), resolveAnswer(u)));
      client.once('fatal', (err) => (clearTimeout(timer), resolveAnswer(err)));
      client.start();
    });
    client.close();
    if (answer instanceof Error) {
      const code = (answer as { code?: string }).code;
      const refused = code !== undefined && /^ERR_(UNAUTHORIZED|FORBIDDEN)$/.test(code);
      return { name: 'token', level: 'fail', detail: `${refused ? 'refused' : 'not checked'}: ${code ? `${code}: ` : ''}${answer.message}`, ...(refused ? { exit: EXIT.AUTH } : {}) };
    }
    const can = answer.role === 'admin' ? 'everything' : answer.role === 'operator' ? 'create, cancel and answer runs' : answer.role === 'viewer' ? 'watch runs only' : 'unknown to this ccg';
    return { name: 'token', level: 'ok', detail: `accepted: ${answer.name}, role ${answer.role} (${can})` };
  }
}

/**
 * GET /healthz, reading the certificate without trusting it, so that doctor can say what is
 * wrong with it; nothing secret is sent on this request.
 */
function probeHealth(url: URL): Promise<Probe> {
  const t0 = Date.now();
  return new Promise<Probe>((resolveGet) => {
    const target = new URL('/healthz', url);
    const req =
      url.protocol === 'https:'
        ? https.get(target, { rejectUnauthorized: false, agent: false, timeout: 10_000 }, onResponse)
        : http.get(target, { agent: false, timeout: 10_000 }, onResponse);
    function onResponse(res: http.IncomingMessage): void {
      const socket = res.socket as TLSSocket;
      const raw = url.protocol === 'https:' ? socket.getPeerCertificate?.()?.raw : undefined;
      const fingerprint = raw ? fingerprintOfDer(raw) : null;
      const trusted = url.protocol === 'https:' && socket.authorized === true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body = (body + d).slice(0, 16_384)));
      res.on('end', () => {
        let json: unknown = null;
        try {
          json = JSON.parse(body);
        } catch {
          // not JSON: reported as "not a ccg gateway"
        }
        resolveGet({ ok: true, json, status: res.statusCode ?? 0, fingerprint, trusted, t0, t1: Date.now() });
      });
    }
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolveGet({ ok: false, error: (err as NodeJS.ErrnoException).code ?? err.message }));
  });
}

/**
 * The store from `/healthz` (whether it takes writes, its kind) and, with an accepted token, its
 * own report from `/api/v1/health` (a line, and a cluster's node, NATS servers, replicas and what
 * is degraded). A store that takes no writes is a failure.
 */
async function storeCheck(url: URL, pin: string | undefined, token: string | undefined, state: StoreState | undefined): Promise<Check> {
  if (!state) return { name: 'store', level: 'warn', detail: 'the gateway does not report its store (an older gateway)' };
  let ok = state.ok;
  let text = state.kind;
  if (token) {
    try {
      const report = (await new ApiClient({ gateway: url.origin, token, fingerprint: pin }).json('GET', '/api/v1/health', StoreHealthResponse)).store;
      ok = report.ok;
      text = describeStore(report);
    } catch {
      text += ' (no report: give a token for the details)';
    }
  }
  return ok ? { name: 'store', level: 'ok', detail: text } : { name: 'store', level: 'fail', detail: `takes no writes: ${text}` };
}

/** One line from a store's report. */
function describeStore(r: StoreHealthResponse['store']): string {
  let text = `${r.kind}: ${r.detail}`;
  const c = r.cluster;
  if (c) {
    text += `; node ${c.nodeId}, NATS ${c.server ?? 'none'} (${c.servers.length} known), cluster ${c.name ?? 'none'}, R${c.replicas}`;
    // The store's own line names what is degraded; the count is enough here.
    text += c.degraded.length ? `, ${c.degraded.length} stream(s) or bucket(s) not fully current` : ', all replicas current';
  }
  return text.slice(0, 800);
}

/** Clock skew against the gateway's `/healthz` time, from the midpoint of the request. */
function clockCheck(origin: string, time: number | undefined, t0: number, t1: number): Check {
  if (time === undefined) return { name: 'clock', level: 'warn', detail: `${origin} does not report its time (an older gateway)` };
  const skewS = (time - (t0 + t1) / 2) / 1000;
  const abs = Math.abs(skewS);
  const text = `${abs < 1 ? 'within 1 s of' : `${abs.toFixed(0)} s ${skewS > 0 ? 'behind' : 'ahead of'}`} ${origin}`;
  if (abs > SIGNATURE_WINDOW_S) return { name: 'clock', level: 'fail', detail: `${text}: signed requests will be refused (window ±${SIGNATURE_WINDOW_S} s); fix the clock (NTP)` };
  if (abs > 30) return { name: 'clock', level: 'warn', detail: `${text}: still inside the ±${SIGNATURE_WINDOW_S} s window, but drifting` };
  return { name: 'clock', level: 'ok', detail: text };
}

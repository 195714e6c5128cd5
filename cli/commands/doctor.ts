import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HealthResponse } from '../../protocol/api.js';
import { TESTED_CLAUDE_VERSION } from '../../protocol/claude-stream.js';
import { Command, Option } from 'clipanion';
import { fingerprintOfPem, parseFingerprint } from '../../protocol/fingerprint.js';
import { SIGNATURE_WINDOW_S } from '../../protocol/signing.js';
import { agentFor } from '../client/pinned-agent.js';
import http from 'node:http';
import https from 'node:https';
import { uwsIsNative } from '../../server/gateway.js';
import { BaseCommand } from './base.js';

type Level = 'ok' | 'warn' | 'fail';
interface Check {
  name: string;
  level: Level;
  detail: string;
}

export class DoctorCommand extends BaseCommand {
  static override paths = [['doctor']];
  static override usage = Command.Usage({
    category: 'Gateway',
    description: 'Check this machine: Node, uWebSockets.js build, data directory, certificate, claude, git, tmate, cloudflared, clock',
    details: `
      Each check says ok, warn or fail; any fail exits 1. Missing tools are warnings: git is
      needed for the default allowlist and the diff artifacts, tmate only for --assist, cloudflared
      only for \`ccg tunnel\`, claude only for --cmd.

      With a gateway (--gateway or CCG_GATEWAY, pinned with --fingerprint / CCG_FINGERPRINT), it
      also compares this machine's clock with the gateway's: signed runner requests are refused
      when they are more than ${SIGNATURE_WINDOW_S} s apart.
    `,
    examples: [['Check', 'ccg doctor'], ['For a script', 'ccg doctor --json'], ['With the clock check', 'ccg doctor --gateway https://gw:3100 --fingerprint sha256:…']],
  });

  data = Option.String('--data', { env: 'CCG_DATA_DIR', description: 'Data directory to check (default .data)' });
  gateway = Option.String('--gateway', { env: 'CCG_GATEWAY', description: 'Also check the clock against this gateway (env CCG_GATEWAY)' });
  fingerprint = Option.String('--fingerprint', { env: 'CCG_FINGERPRINT', description: "Pin the gateway's certificate (env CCG_FINGERPRINT)" });

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
    if (this.gateway) checks.push(await this.clock(this.gateway, this.fingerprint));

    const failed = checks.some((c) => c.level === 'fail');
    this.print({ ok: !failed, checks }, () => checks.map((c) => `${c.level.padEnd(4)}  ${c.name.padEnd(15)} ${c.detail}`).join('\n') + '\n');
    return failed ? 1 : 0;
  }

  /** Clock skew against the gateway's `/healthz` time, from the midpoint of the request. */
  private async clock(gateway: string, fingerprint: string | undefined): Promise<Check> {
    let url: URL;
    let pin: string | undefined;
    try {
      url = new URL('/healthz', gateway);
      pin = fingerprint ? parseFingerprint(fingerprint) : undefined;
    } catch (err) {
      return { name: 'clock', level: 'warn', detail: `cannot check: ${(err as Error).message}` };
    }
    const t0 = Date.now();
    const got = await new Promise<{ json: unknown } | string>((resolveGet) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.get(url, { agent: agentFor(url, pin), timeout: 10_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body = (body + d).slice(0, 4096)));
        res.on('end', () => {
          try {
            resolveGet({ json: JSON.parse(body) as unknown });
          } catch {
            resolveGet(`answered ${res.statusCode} without JSON`);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => resolveGet((err as NodeJS.ErrnoException).code ?? err.message));
    });
    const t1 = Date.now();
    if (typeof got === 'string') return { name: 'clock', level: 'warn', detail: `cannot reach ${url.origin}: ${got}` };
    const health = HealthResponse.safeParse(got.json);
    if (!health.success) return { name: 'clock', level: 'warn', detail: `${url.origin} sent an unexpected /healthz answer` };
    const { time } = health.data;
    if (time === undefined) return { name: 'clock', level: 'warn', detail: `${url.origin} does not report its time (an older gateway)` };
    const skewS = (time - (t0 + t1) / 2) / 1000;
    const abs = Math.abs(skewS);
    const text = `${abs < 1 ? 'within 1 s of' : `${abs.toFixed(0)} s ${skewS > 0 ? 'behind' : 'ahead of'}`} ${url.origin}`;
    if (abs > SIGNATURE_WINDOW_S) return { name: 'clock', level: 'fail', detail: `${text}: signed requests will be refused (window ±${SIGNATURE_WINDOW_S} s); fix the clock (NTP)` };
    if (abs > 30) return { name: 'clock', level: 'warn', detail: `${text}: still inside the ±${SIGNATURE_WINDOW_S} s window, but drifting` };
    return { name: 'clock', level: 'ok', detail: text };
  }
}

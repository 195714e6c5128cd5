import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TESTED_CLAUDE_VERSION } from '../../protocol/claude-stream.js';
import { Command, Option } from 'clipanion';
import { fingerprintOfPem } from '../../protocol/fingerprint.js';
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
    description: 'Check this machine: Node, uWebSockets.js build, data directory, certificate, claude',
    examples: [['Check', 'ccg doctor'], ['For a script', 'ccg doctor --json']],
  });

  data = Option.String('--data', { env: 'CCG_DATA_DIR', description: 'Data directory to check (default .data)' });

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

    const failed = checks.some((c) => c.level === 'fail');
    this.print({ ok: !failed, checks }, () => checks.map((c) => `${c.level.padEnd(4)}  ${c.name.padEnd(15)} ${c.detail}`).join('\n') + '\n');
    return failed ? 1 : 0;
  }
}

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'clipanion';
import QRCode from 'qrcode';
import { CliError, EXIT } from '../exit-codes.js';
import { safe } from '../format.js';
import { BaseCommand, parseWait } from './base.js';

const INSTALL_HINT = 'install it from https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/ (or pass --cloudflared PATH)';

/**
 * Finds the public URL in cloudflared's log. A quick tunnel announces it in a box
 * (cmd/cloudflared/tunnel/quick_tunnel.go, logged line by line to stderr):
 *
 *   … INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |
 *   … INF |  https://seasonal-deck-organisms-sf.trycloudflare.com                                       |
 */
export class QuickTunnelUrl {
  private announced = false;

  /** Feeds one log line; returns the URL once it appears. */
  feed(line: string): string | undefined {
    if (/quick Tunnel has been created/i.test(line)) {
      this.announced = true;
      return undefined;
    }
    // Error lines name cloudflared's own API (https://api.trycloudflare.com/tunnel): never the tunnel.
    if (/\bERR\b|api\.trycloudflare\.com/.test(line)) return undefined;
    // After the banner, the first URL; before it (a reworded banner), only a boxed trycloudflare one.
    const boxed = /\|\s+(https:\/\/[a-z0-9-]+(?:\.[a-z0-9-]+)*\.trycloudflare\.com)\s+\|/i.exec(line);
    if (boxed) return boxed[1];
    if (this.announced) {
      const any = /https:\/\/[A-Za-z0-9.-]+(?::\d+)?(?:\/[^\s|]*)?/.exec(line);
      if (any) return any[0];
    }
    return undefined;
  }
}

export class TunnelCommand extends BaseCommand {
  static override paths = [['tunnel']];
  static override usage = Command.Usage({
    category: 'Gateway',
    description: 'Make the gateway reachable from anywhere through a Cloudflare Tunnel (cloudflared)',
    details: `
      Starts \`cloudflared\` for the gateway and prints its public URL and a QR code to open on
      the phone. Runs until you stop it (Ctrl-C), then stops cloudflared.

      By default it opens a quick tunnel (\`cloudflared tunnel --url …\`: a random
      *.trycloudflare.com address, no account needed, gone when it stops). With --name
      and --hostname it runs a named tunnel on your own domain
      (\`cloudflared tunnel --name NAME --hostname HOST --url …\`; cloudflared must be
      logged in: \`cloudflared tunnel login\`).

      The gateway's own certificate is self-signed: cloudflared checks it against
      <data>/certs/cert.pem (--data, or --origin-ca FILE). A gateway started
      with --insecure-http on loopback needs nothing (--url http://127.0.0.1:3100).

      Runners then connect with --gateway <public URL> and no --fingerprint: Cloudflare serves a
      publicly trusted certificate. Restart the gateway with --public-url <public URL> so the runner
      command it prints uses it. Put Cloudflare Access in front of a tunnel you keep.

      Exits 127 when cloudflared is not installed, 1 when it fails or prints no URL in time.
    `,
    examples: [
      ['A quick tunnel to the local gateway', 'ccg tunnel'],
      ['A named tunnel on your domain', 'ccg tunnel --name ccg --hostname ccg.example.com'],
      ['Gateway on plain HTTP (loopback) behind the tunnel', 'ccg tunnel --url http://127.0.0.1:3100'],
    ],
  });

  url = Option.String('--url', { description: 'The gateway as cloudflared reaches it (default https://127.0.0.1:3100)' });
  name = Option.String('--name', { description: 'Run the named tunnel NAME (created if needed) instead of a quick tunnel' });
  hostname = Option.String('--hostname', { description: 'With --name: the public hostname routed to it' });
  data = Option.String('--data', { env: 'CCG_DATA_DIR', description: "The gateway's data directory, for its certificate (default .data)" });
  originCa = Option.String('--origin-ca', { description: "Certificate to check the gateway's TLS against (default <data>/certs/cert.pem)" });
  noTlsVerify = Option.Boolean('--no-tls-verify', false, { description: "Do not check the gateway's certificate (only for a gateway on this machine)" });
  cloudflared = Option.String('--cloudflared', { env: 'CCG_CLOUDFLARED_BIN', description: 'The cloudflared executable (env CCG_CLOUDFLARED_BIN; default cloudflared)' });
  readyTimeout = Option.String('--ready-timeout', '60s', { description: 'How long cloudflared may take to bring the tunnel up' });
  qr = Option.Boolean('--qr', true, { description: 'Print a QR code of the URL (--no-qr to skip)' });
  verbose = Option.Boolean('-v,--verbose', false, { description: "Show cloudflared's own log" });

  protected async run(): Promise<number> {
    const origin = this.originUrl();
    if (Boolean(this.name) !== Boolean(this.hostname)) throw new CliError('--name and --hostname go together (a named tunnel needs the hostname it serves)');
    if (this.name && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(this.name)) throw new CliError('--name: letters, digits, ".", "_" and "-" only');
    if (this.hostname && !/^(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$/.test(this.hostname)) throw new CliError(`--hostname "${safe(this.hostname.slice(0, 100))}" is not a host name`);
    const readyMs = parseWait(this.readyTimeout, '--ready-timeout');
    const args = ['tunnel', '--no-autoupdate'];
    if (this.name) args.push('--name', this.name, '--hostname', this.hostname!);
    args.push('--url', origin.href.replace(/\/$/, ''));
    args.push(...this.originTlsArgs(origin));
    const bin = this.cloudflared ?? 'cloudflared';

    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: this.context.env as NodeJS.ProcessEnv });
    const recent: string[] = [];
    const quick = new QuickTunnelUrl();
    let url: string | undefined;
    let stopping = false;
    return new Promise<number>((resolveRun) => {
      let settled = false;
      const settle = (code: number) => {
        if (settled) return;
        settled = true;
        clearTimeout(readyTimer);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        resolveRun(code);
      };
      const stop = () => {
        if (stopping) return;
        stopping = true;
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      };
      const onSignal = () => stop();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const readyTimer = setTimeout(() => {
        if (url) return;
        stop();
        settle(this.report(new CliError(`cloudflared did not bring the tunnel up within ${this.readyTimeout}${recent.length ? `; its last line: ${safe(recent.at(-1)!.slice(0, 300))}` : ''}`)));
      }, readyMs);
      const ready = (u: string) => {
        if (url) return;
        url = u;
        void this.announce(u, child.pid ?? 0);
      };
      let buf = '';
      const onData = (d: Buffer) => {
        if (this.verbose) this.context.stderr.write(d);
        buf += d.toString('utf8');
        if (buf.length > 256 * 1024) buf = buf.slice(-8192);
        let nl: number;
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.trim()) continue;
          recent.push(line);
          if (recent.length > 20) recent.shift();
          if (url) continue;
          if (this.name) {
            if (/Registered tunnel connection/.test(line)) ready(`https://${this.hostname}`);
          } else {
            const u = quick.feed(line);
            if (u) ready(u);
          }
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.on('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') settle(this.report(new CliError(`${bin} is not installed or not on PATH: ${INSTALL_HINT}`, EXIT.NOT_INSTALLED, 'ERR_NOT_INSTALLED')));
        else settle(this.report(new CliError(`cannot start ${bin}: ${code ?? err.message}`)));
      });
      const ended = (code: number | null, signal: NodeJS.Signals | null) => {
        if (stopping && url) {
          if (!this.json) this.context.stderr.write('ccg: tunnel stopped\n');
          return settle(0);
        }
        if (stopping) return settle(EXIT.ERROR);
        const last = recent.length ? `; last line: ${safe(recent.at(-1)!.slice(0, 300))}` : '';
        settle(this.report(new CliError(`cloudflared exited (${signal ?? `code ${code}`})${url ? '' : ' before the tunnel was up'}${last}`)));
      };
      child.on('close', (code, signal) => {
        // A stop signal to the whole process group (Ctrl-C, a service manager) may reach
        // cloudflared before this process sees its own: a moment to tell that from cloudflared
        // killed alone.
        if (!stopping && (signal === 'SIGTERM' || signal === 'SIGINT')) setTimeout(() => ended(code, signal), 250);
        else ended(code, signal);
      });
    });
  }

  private originUrl(): URL {
    const text = this.url ?? 'https://127.0.0.1:3100';
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      throw new CliError(`--url "${safe(text.slice(0, 100))}" is not a URL`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new CliError('--url must be http:// or https://');
    return u;
  }

  private originTlsArgs(origin: URL): string[] {
    if (origin.protocol !== 'https:') return [];
    if (this.noTlsVerify) return ['--no-tls-verify'];
    const ca = this.originCa ?? join(resolve(this.data ?? '.data'), 'certs/cert.pem');
    if (!existsSync(ca)) {
      throw new CliError(`cannot check the gateway's certificate: ${ca} does not exist. Pass --data DIR (the gateway's data directory) or --origin-ca FILE, or serve with --insecure-http on loopback and use --url http://127.0.0.1:PORT`);
    }
    return ['--origin-ca-pool', ca];
  }

  private async announce(url: string, pid: number): Promise<void> {
    if (this.json) {
      this.context.stdout.write(JSON.stringify({ url, mode: this.name ? 'named' : 'quick', pid }) + '\n');
      return;
    }
    const qr = this.qr ? await QRCode.toString(url, { type: 'terminal', small: true }) : '';
    this.context.stdout.write(
      [
        `ccg tunnel ready: ${url}`,
        '',
        ...(qr ? [qr] : []),
        `  phone     open ${url}`,
        `  runners   ccg runner start --gateway ${url} …   (no --fingerprint: Cloudflare's certificate is publicly trusted)`,
        `  gateway   restart it with --public-url ${url} so the runner command it prints uses this address`,
        '',
        'Press Ctrl-C to stop the tunnel.',
        '',
      ].join('\n'),
    );
  }
}

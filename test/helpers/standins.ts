import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Stand-ins for programs whose real servers cannot run here (tmate's, Cloudflare's). They sit at
 * the process boundary, on PATH or named by flag, and print exactly what the real programs print.
 */

export const TMATE_LINKS = {
  webReadOnly: 'https://tmate.io/t/ro-AbCdEfGhIjKlMnOpQrStUvWxY',
  sshReadOnly: 'ssh ro-AbCdEfGhIjKlMnOpQrStUvWxY@nyc1.tmate.io',
  web: 'https://tmate.io/t/ZyXwVuTsRqPoNmLkJiHgFeDcB',
  ssh: 'ssh ZyXwVuTsRqPoNmLkJiHgFeDcB@nyc1.tmate.io',
};

/**
 * `tmate -F` as tmate 2.4 prints it in foreground mode (log lines on stdout, no timestamps;
 * the session strings come from tmate-websocket's notify messages), then stays up until killed.
 * It records its pid, working directory and environment in `dir`.
 * mode 'fail': prints an error and exits 1, as tmate does when it cannot reach its server.
 */
export function writeTmateStandin(dir: string, mode: 'ok' | 'fail' | 'silent' = 'ok'): string {
  const file = join(dir, 'tmate');
  const body = {
    ok: [
      `echo "To connect to the session locally, run: tmate -S /tmp/tmate-1000/Xq1 attach"`,
      'echo "Connecting to ssh.tmate.io..."',
      'sleep 0.1',
      `echo "web session read only: ${TMATE_LINKS.webReadOnly}"`,
      `echo "ssh session read only: ${TMATE_LINKS.sshReadOnly}"`,
      `echo "web session: ${TMATE_LINKS.web}"`,
      `echo "ssh session: ${TMATE_LINKS.ssh}"`,
      'exec sleep 600',
    ],
    fail: ['echo "Connecting to ssh.tmate.io..."', 'echo "Error connecting: Connection refused" >&2', 'exit 1'],
    silent: ['echo "Connecting to ssh.tmate.io..."', 'exec sleep 600'],
  }[mode];
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      '[ "$1" = "-F" ] || { echo "stand-in tmate: expected -F, got $*" >&2; exit 2; }',
      `echo $$ > "${dir}/tmate.pid"`,
      `pwd > "${dir}/tmate.cwd"`,
      `env > "${dir}/tmate.env"`,
      ...body,
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

export const QUICK_URL = 'https://seasonal-deck-organisms-sf.trycloudflare.com';

/**
 * `cloudflared tunnel --url …` as cloudflared prints it (zerolog console lines on stderr; the
 * quick-tunnel URL in an ASCII box), then stays up until killed. It records its argv in `dir`.
 */
export function writeCloudflaredStandin(dir: string, mode: 'quick' | 'named' | 'fail' = 'quick'): string {
  const file = join(dir, 'cloudflared');
  const ts = '2026-11-26T10:00:00Z';
  const lines = {
    quick: [
      `${ts} INF Thank you for trying Cloudflare Tunnel. Doing so, without a Cloudflare account, is a quick way to experiment and try it out.`,
      `${ts} INF Requesting new quick Tunnel on trycloudflare.com...`,
      `${ts} INF +--------------------------------------------------------------------------------------------+`,
      `${ts} INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |`,
      `${ts} INF |  ${QUICK_URL}                                        |`,
      `${ts} INF +--------------------------------------------------------------------------------------------+`,
      `${ts} INF Registered tunnel connection connIndex=0 connection=4c1e7b0a event=0 ip=198.41.200.33 location=fra08 protocol=quic`,
    ],
    named: [
      `${ts} INF Starting tunnel tunnelID=6ff42ae2-765d-4adf-8112-31c55c1551ef`,
      `${ts} INF Registered tunnel connection connIndex=0 connection=4c1e7b0a event=0 ip=198.41.200.33 location=fra08 protocol=quic`,
    ],
    fail: [`${ts} ERR Failed to create new quick Tunnel error="Post \\"https://api.trycloudflare.com/tunnel\\": dial tcp: lookup api.trycloudflare.com: no such host"`],
  }[mode];
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      `if [ "$1" = "--version" ]; then echo "cloudflared version 2025.11.1 (built 2025-11-20-1200 UTC)"; exit 0; fi`,
      `printf '%s\\n' "$@" > "${dir}/cloudflared.args"`,
      ...lines.map((l) => `echo '${l.replace(/'/g, `'\\''`)}' >&2`),
      mode === 'fail' ? 'exit 1' : 'exec sleep 600',
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

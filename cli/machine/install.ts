import { gatewayFlags, type GatewayUrl } from '../client/gateways.js';

/**
 * Service definitions that start `ccg machine start` at login/boot and restart it when it stops:
 * a systemd user unit (Linux) and a launchd agent (macOS). The token stays in a 0600 file; the
 * units name the file, never the token.
 */
export interface ServiceSpec {
  /** node, and the script with its first words (`/usr/bin/node /path/ccg machine start` or `… ccg-runner.mjs machine start`). */
  argv: string[];
  name: string;
  /** The gateway URLs (a cluster's nodes, or one) with their pins. */
  gateways: GatewayUrl[];
  tokenFile: string;
  config: string;
  path: string;
}

function systemdQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\$`])/g, '\\$1')}"`;
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function args(s: ServiceSpec): string[] {
  return [...s.argv, ...gatewayFlags(s.gateways), '--name', s.name, '--token-file', s.tokenFile, '--config', s.config];
}

/** `~/.config/systemd/user/ccg-machine.service`. */
export function systemdUnit(s: ServiceSpec): string {
  return [
    '[Unit]',
    `Description=ccg machine ${s.name}: starts Claude runs asked for on the gateway`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    `ExecStart=${args(s).map(systemdQuote).join(' ')}`,
    `Environment=PATH=${systemdQuote(s.path)}`,
    // Runs outlive the daemon: a restart of the daemon must not kill the runners it started.
    'KillMode=process',
    'Restart=always',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

/** `~/Library/LaunchAgents/dev.ccg.machine.plist`. */
export function launchdPlist(s: ServiceSpec): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    '  <key>Label</key><string>dev.ccg.machine</string>',
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...args(s).map((a) => `    <string>${xml(a)}</string>`),
    '  </array>',
    `  <key>EnvironmentVariables</key><dict><key>PATH</key><string>${xml(s.path)}</string></dict>`,
    '  <key>RunAtLoad</key><true/>',
    '  <key>KeepAlive</key><true/>',
    '  <key>AbandonProcessGroup</key><true/>',
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}

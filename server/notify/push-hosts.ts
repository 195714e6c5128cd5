import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { Agent } from 'node:https';
import { BlockList, isIP } from 'node:net';

/**
 * Where the gateway may send Web Push: a browser hands the page an endpoint URL, the page
 * hands it to the gateway, and the gateway POSTs to it. An endpoint is hostile input: without
 * these rules any signed-in user could aim the gateway at its own network.
 *
 * - Only the push services browsers use, by name (below), over https on the default port; an
 *   admin may add more (`--push-hosts` / `CCG_PUSH_HOSTS`, e.g. a self-hosted autopush).
 * - For the built-in services, every address the name resolves to is checked when the
 *   connection is made (not only when the subscription is stored, so DNS rebinding does not
 *   help): loopback, private, link-local, CGNAT, ULA, multicast and reserved ranges are refused.
 * - Hosts the admin added are trusted as configured (a stand-in on loopback, a push service in
 *   the office network): their addresses are not checked.
 */
export const DEFAULT_PUSH_HOSTS: readonly string[] = [
  'fcm.googleapis.com', // Chrome, Edge on Android, Opera, Samsung Internet (Firebase Cloud Messaging)
  '*.push.services.mozilla.com', // Firefox (autopush: updates.push.services.mozilla.com)
  '*.notify.windows.com', // Edge on Windows (WNS)
  'web.push.apple.com', // Safari (macOS 13+, iOS 16.4+)
];

const HOST_PATTERN = /^(\*\.)?([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\]|\d{1,3}(\.\d{1,3}){3})(:\d{1,5})?$/;

interface HostRule {
  /** `*.example.com`: any name ending in `.example.com`. */
  wildcard: boolean;
  host: string;
  /** Null: the default https port only (built-in rules) or any port (configured rules without one). */
  port: string | null;
  configured: boolean;
}

/**
 * Parses a comma- or space-separated list of push hosts: `push.example.com`, `*.example.com`,
 * `10.0.0.5:8443`, `[fd00::5]`. Throws with the offending entry.
 */
export function parsePushHosts(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/[\s,]+/)) {
    const h = raw.trim().toLowerCase();
    if (!h) continue;
    if (!HOST_PATTERN.test(h) || h.length > 260) throw new Error(`"${raw.slice(0, 80)}" is not a host name, *.domain, an address or one of those with :port`);
    out.push(h);
  }
  return out;
}

function rule(pattern: string, configured: boolean): HostRule {
  const m = /^(\*\.)?(.+?)(?::(\d{1,5}))?$/.exec(pattern.toLowerCase());
  if (!m || !HOST_PATTERN.test(pattern.toLowerCase())) throw new Error(`bad push host "${pattern}"`);
  return { wildcard: Boolean(m[1]), host: m[2]!, port: m[3] ?? null, configured };
}

export type PushHostVerdict = 'builtin' | 'configured' | null;

/** The push hosts the gateway may POST to. */
export class PushHosts {
  private readonly rules: HostRule[];

  constructor(configured: readonly string[] = []) {
    this.rules = [...DEFAULT_PUSH_HOSTS.map((p) => rule(p, false)), ...configured.map((p) => rule(p, true))];
  }

  /** Which rule allows this endpoint (configured ones win), or null when none does. */
  match(url: URL): PushHostVerdict {
    if (url.protocol !== 'https:') return null;
    const host = url.hostname.toLowerCase();
    let verdict: PushHostVerdict = null;
    for (const r of this.rules) {
      const nameOk = r.wildcard ? host.endsWith(`.${r.host}`) && host.length > r.host.length + 1 : host === r.host;
      if (!nameOk) continue;
      const portOk = r.configured ? r.port === null || url.port === r.port || (url.port === '' && r.port === '443') : url.port === '';
      if (!portOk) continue;
      if (r.configured) return 'configured';
      verdict = 'builtin';
    }
    return verdict;
  }
}

/** Addresses no push service of the public internet has: the gateway's own networks and reserved ranges. */
const NOT_PUBLIC = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) NOT_PUBLIC.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 32], ['2001:db8::', 32], ['2002::', 16],
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) NOT_PUBLIC.addSubnet(net, bits, 'ipv6');

/** True for an address on the public internet (IPv4-mapped IPv6 is judged by its IPv4 address). */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return !NOT_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for sockets that must reach the public internet only: resolves as usual, then
 * refuses the connection if ANY address is not public (a name that resolves to a mix is as
 * suspect as one that resolves to 127.0.0.1).
 */
export function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const list = addresses as LookupAddress[];
    const bad = list.find((a) => !isPublicAddress(a.address));
    if (bad || list.length === 0) {
      const e: NodeJS.ErrnoException = new Error(`push host ${hostname} resolves to ${bad ? `a non-public address (${bad.address})` : 'nothing'}: refused`);
      e.code = 'ECCG_PRIVATE_ADDRESS';
      return callback(e, []);
    }
    if (options.all) return callback(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
}

/** The agent for the built-in push services: connections only to public addresses. */
export const publicOnlyAgent = new Agent({ lookup: publicOnlyLookup as never, maxSockets: 16 });

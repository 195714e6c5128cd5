import { parseFingerprint } from '../../protocol/fingerprint.js';
import { CliError } from '../exit-codes.js';

/** One gateway address (an origin: scheme, host, port) and the certificate pin checked there. */
export interface GatewayUrl {
  url: string;
  fingerprint: string | undefined;
}

/** More would only slow a failover down; a cluster has a handful of nodes (or one load balancer). */
export const MAX_GATEWAYS = 16;

const LOOPBACK_RE = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

/**
 * The origin of one gateway URL as given (`--gateway`, CCG_GATEWAY, a saved login): https://,
 * or http:// to this machine only. Every command that talks to a gateway reads its URL here: a
 * token, a password or a run's output must never travel unencrypted.
 */
export function gatewayOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`--gateway "${text.slice(0, 100)}" is not a URL (expected https://host:port)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CliError(`--gateway must be an https:// URL, not ${url.protocol.slice(0, 20)}`);
  if (url.protocol === 'http:' && !LOOPBACK_RE.test(url.hostname)) {
    throw new CliError('refusing plain http:// to a non-loopback gateway: tokens, passwords and output would travel unencrypted (use https://)');
  }
  return url.origin;
}

/**
 * Reads `--gateway URL[,URL…]` and `--fingerprint PIN[,PIN…]` (or their environment variables):
 * the gateway nodes a runner or machine daemon may connect to, in the order it tries them. One
 * pin applies to every URL; as many pins as URLs pin each URL with its own, in order. Plain
 * http:// is for loopback only: the output would travel unencrypted.
 */
export function parseGateways(gateway: string | undefined, fingerprint: string | undefined): GatewayUrl[] {
  if (!gateway?.trim()) throw new CliError('no gateway given: pass --gateway URL[,URL…] or set CCG_GATEWAY');
  const parts = gateway.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new CliError('--gateway has an empty entry: give URLs separated by single commas');
  if (parts.length > MAX_GATEWAYS) throw new CliError(`--gateway names ${parts.length} URLs; at most ${MAX_GATEWAYS}`);
  const urls = parts.map(gatewayOrigin);
  if (new Set(urls).size !== urls.length) throw new CliError('--gateway names the same gateway twice');
  const pins = fingerprint?.trim() ? fingerprint.split(',').map((s) => pin(s.trim())) : [];
  if (pins.length > 1 && pins.length !== urls.length) {
    throw new CliError(`--fingerprint gives ${pins.length} pins for ${urls.length} gateway URLs: give one pin for all, or one per URL in the same order`);
  }
  return urls.map((url, i) => ({ url, fingerprint: pins.length > 1 ? pins[i] : pins[0] }));
}

/**
 * The flags that hand the same list on to a child (a machine daemon's runners), starting at
 * `first` (the one that answers now) and going round: a fresh runner tries the live node first.
 */
export function gatewayFlags(targets: GatewayUrl[], first = 0): string[] {
  const n = targets.length;
  const order = targets.map((_, i) => targets[(first + i) % n]!);
  const pins = order.map((t) => t.fingerprint);
  const same = pins.every((p) => p === pins[0]);
  const flags = ['--gateway', order.map((t) => t.url).join(',')];
  if (same) return pins[0] ? [...flags, '--fingerprint', pins[0]] : flags;
  return [...flags, '--fingerprint', pins.join(',')];
}

function pin(text: string): string {
  try {
    return parseFingerprint(text);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

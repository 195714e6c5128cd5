import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fingerprintOfPem } from '../protocol/fingerprint.js';

/**
 * A self-signed ECDSA P-256 certificate, written with a small DER encoder so the gateway needs
 * no certificate library: Node makes the key and the signature, we only lay out the ASN.1.
 */

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}
const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);
const set = (...parts: Buffer[]) => tlv(0x31, ...parts);
const ctx = (n: number, ...parts: Buffer[]) => tlv(0xa0 + n, ...parts);
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer) => tlv(0x03, Buffer.from([0]), b);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const stack = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) stack.unshift(0x80 | (v & 0x7f));
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}
/**
 * A DER INTEGER from big-endian unsigned bytes: minimal length (X.690 §8.3.2; OpenSSL refuses a
 * redundant leading zero as "illegal padding", and a random serial starts with 0x00 one time in
 * 256), never negative (a zero byte is added when the high bit is set).
 */
export function derInteger(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}
const integer = derInteger;
function time(d: Date): Buffer {
  const s = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  // UTCTime until 2049, GeneralizedTime after (RFC 5280 §4.1.2.5).
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(s.slice(2))) : tlv(0x18, Buffer.from(s));
}
function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.from(groups.flatMap((g) => { const v = parseInt(g, 16); return [v >> 8, v & 0xff]; }));
}

export interface SelfSigned {
  certPem: string;
  keyPem: string;
}

/** Makes a self-signed server certificate for `names` (DNS names and IP addresses). */
export function createSelfSigned(names: string[], now = new Date(), days = 825): SelfSigned {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const name = seq(set(seq(oid('2.5.4.3'), utf8('ccg gateway'))));
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const san = seq(
    ...names.map((n) => (isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii')))),
  );
  const extensions = ctx(
    3,
    seq(
      seq(oid('2.5.29.19'), bool(true), octets(seq())), // basicConstraints: not a CA
      seq(oid('2.5.29.15'), bool(true), octets(tlv(0x03, Buffer.from([7, 0x80])))), // keyUsage: digitalSignature
      seq(oid('2.5.29.37'), octets(seq(oid('1.3.6.1.5.5.7.3.1')))), // extKeyUsage: serverAuth
      seq(oid('2.5.29.17'), octets(san)),
    ),
  );
  const tbs = seq(
    ctx(0, integer(Buffer.from([2]))),
    integer(serial),
    ecdsaSha256,
    name,
    seq(time(new Date(now.getTime() - 60_000)), time(new Date(now.getTime() + days * 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, ecdsaSha256, bits(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { certPem, keyPem };
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  fingerprint: string;
  generated: boolean;
  notAfter: string;
}

/**
 * The gateway's certificate: the user's (`CCG_TLS_CERT`/`CCG_TLS_KEY`) when given, otherwise
 * `certs/cert.pem` + `certs/key.pem` in the data dir, generated on first start.
 */
export function ensureCertificate(dataDir: string, given?: { certFile?: string; keyFile?: string }): TlsFiles {
  if (given?.certFile || given?.keyFile) {
    if (!given.certFile || !given.keyFile) throw new Error('CCG_TLS_CERT and CCG_TLS_KEY must be given together');
    const pem = readFileSync(given.certFile, 'utf8');
    readFileSync(given.keyFile); // fail early and clearly when unreadable
    const cert = new X509Certificate(pem);
    return { certFile: given.certFile, keyFile: given.keyFile, fingerprint: fingerprintOfPem(pem), generated: false, notAfter: cert.validTo };
  }
  const dir = join(dataDir, 'certs');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  let generated = false;
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const host = hostname();
    const names = [...new Set(['localhost', '127.0.0.1', '::1', ...(/^[A-Za-z0-9.-]+$/.test(host) ? [host] : [])])];
    const { certPem, keyPem } = createSelfSigned(names);
    writeFileSync(keyFile, keyPem, { mode: 0o600 });
    writeFileSync(certFile, certPem, { mode: 0o644 });
    generated = true;
  }
  const pem = readFileSync(certFile, 'utf8');
  return { certFile, keyFile, fingerprint: fingerprintOfPem(pem), generated, notAfter: new X509Certificate(pem).validTo };
}

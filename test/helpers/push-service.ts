import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { ensureCertificate } from '../../server/tls.js';
import { tempDir } from './gateway.js';

/**
 * A stand-in for a browser push service (FCM, Mozilla autopush…) on loopback HTTPS, written from
 * RFC 8030/8291/8292 independently of the `web-push` package the gateway uses: it checks the
 * VAPID JWT (ES256, audience, expiry) and decrypts the aes128gcm payload with the keys of a
 * subscription it made up, as a browser would.
 */

export interface ReceivedPush {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The decrypted payload (UTF-8). */
  payload: string;
  vapid: { sub: string; aud: string; exp: number; publicKey: string };
}

export interface PushService {
  url: string;
  fingerprint: string;
  received: ReceivedPush[];
  /** A subscription as PushSubscription.toJSON() would give it, for `/push/<name>`. */
  subscription(name: string): { endpoint: string; keys: { p256dh: string; auth: string } };
  /** Answer pushes to `/push/<name>` with this status from now on (410 = unsubscribed). */
  setStatus(name: string, status: number): void;
  errors: string[];
  close(): Promise<void>;
}

function b64u(s: string): Buffer {
  return Buffer.from(s, 'base64url');
}

function checkVapid(auth: string, expectedAud: string): ReceivedPush['vapid'] {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(auth);
  if (!m) throw new Error(`Authorization is not "vapid t=…, k=…": ${auth.slice(0, 40)}`);
  const [, jwt, k] = m;
  const [h, p, sig] = jwt!.split('.');
  const header = JSON.parse(b64u(h!).toString()) as { alg: string; typ: string };
  if (header.alg !== 'ES256') throw new Error(`JWT alg ${header.alg}`);
  const point = b64u(k!);
  if (point.length !== 65 || point[0] !== 4) throw new Error('k is not an uncompressed P-256 point');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') }, format: 'jwk' });
  if (!verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, b64u(sig!))) throw new Error('VAPID signature does not verify');
  const claims = JSON.parse(b64u(p!).toString()) as { aud: string; exp: number; sub: string };
  if (claims.aud !== expectedAud) throw new Error(`aud ${claims.aud} != ${expectedAud}`);
  const now = Math.floor(Date.now() / 1000);
  if (!(claims.exp > now && claims.exp <= now + 24 * 3600)) throw new Error(`exp ${claims.exp} out of range`);
  if (!/^(mailto:|https:)/.test(claims.sub)) throw new Error(`sub ${claims.sub}`);
  return { ...claims, publicKey: k! };
}

/** RFC 8291 + RFC 8188 (aes128gcm, one record). */
function decrypt(body: Buffer, uaPrivate: ReturnType<typeof createECDH>, authSecret: Buffer): string {
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  const asPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  if (idlen !== 65 || rs < 18) throw new Error(`bad aes128gcm header (idlen ${idlen}, rs ${rs})`);
  const uaPublic = uaPrivate.getPublicKey();
  const ecdhSecret = uaPrivate.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', ecdhSecret, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const d = createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const plain = Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - 16)), d.final()]);
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  if (plain[end] !== 2) throw new Error('missing the last-record delimiter');
  return plain.subarray(0, end).toString('utf8');
}

export async function startPushService(): Promise<PushService> {
  const dir = tempDir('ccg-push-');
  const tls = ensureCertificate(dir, {});
  const subs = new Map<string, { ecdh: ReturnType<typeof createECDH>; auth: Buffer }>();
  const statuses = new Map<string, number>();
  const received: ReceivedPush[] = [];
  const errors: string[] = [];
  const server = https.createServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      try {
        const name = /^\/push\/([\w-]+)$/.exec(req.url ?? '')?.[1];
        const sub = name ? subs.get(name) : undefined;
        if (!sub) throw new Error(`unknown endpoint ${req.url}`);
        if (req.headers['content-encoding'] !== 'aes128gcm') throw new Error(`content-encoding ${req.headers['content-encoding']}`);
        if (!req.headers['ttl']) throw new Error('no TTL header');
        const vapid = checkVapid(String(req.headers['authorization'] ?? ''), url);
        const payload = decrypt(Buffer.concat(parts), sub.ecdh, sub.auth);
        received.push({ path: req.url!, headers: req.headers, payload, vapid });
        res.writeHead(statuses.get(name!) ?? 201).end();
      } catch (err) {
        errors.push(String(err));
        res.writeHead(400).end(String(err));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    fingerprint: tls.fingerprint,
    received,
    errors,
    subscription(name) {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16);
      subs.set(name, { ecdh, auth });
      return { endpoint: `${url}/push/${name}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } };
    },
    setStatus: (name, status) => void statuses.set(name, status),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

import { createHash, X509Certificate } from 'node:crypto';

/**
 * Parses a certificate pin as users write it: `sha256:` then 64 hex digits, any case, colons
 * allowed between byte pairs (the form `openssl x509 -fingerprint -sha256` prints also works
 * without the prefix). Returns the canonical `sha256:<64 lowercase hex>` or throws with a message
 * that says what was expected.
 *
 * @example parseFingerprint('SHA256:AB:CD:…') // 'sha256:abcd…'
 */
export function parseFingerprint(input: string): string {
  const trimmed = input.trim();
  const body = trimmed.replace(/^sha256(:|=)/i, '').replace(/:/g, '');
  if (!/^[0-9a-fA-F]{64}$/.test(body)) {
    throw new Error(
      `invalid certificate fingerprint "${trimmed.slice(0, 100)}": expected sha256: followed by 64 hex digits`,
    );
  }
  return `sha256:${body.toLowerCase()}`;
}

/** The canonical pin of a DER-encoded certificate. */
export function fingerprintOfDer(der: Buffer): string {
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** The canonical pin of a PEM certificate (the first one in the text). */
export function fingerprintOfPem(pem: string): string {
  return fingerprintOfDer(new X509Certificate(pem).raw);
}

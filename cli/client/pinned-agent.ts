import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { fingerprintOfDer } from '../../protocol/fingerprint.js';

export class PinMismatchError extends Error {
  readonly code = 'ERR_PIN_MISMATCH';
  constructor(readonly expected: string, readonly actual: string) {
    super(`the gateway's certificate is ${actual}, not the pinned ${expected}: refusing to talk to it`);
  }
}

/**
 * An HTTPS agent that trusts exactly one certificate, named by its SHA-256 fingerprint, instead
 * of the CA system: a self-signed gateway is then as safe to reach as a CA-signed one. The pin is
 * checked right after the TLS handshake and before the socket is handed to the request, so no
 * byte of the request (signed headers included) goes to an impostor.
 */
export class PinnedAgent extends https.Agent {
  constructor(private readonly pin: string) {
    super({ keepAlive: false });
  }

  override createConnection(options: https.RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | undefined {
    let done = false;
    const finish = (err: Error | null, stream?: Duplex) => {
      if (done) return;
      done = true;
      callback?.(err, stream as Duplex);
    };
    // The CA check is replaced by the pin check below, never skipped.
    const socket = tls.connect({ ...(options as tls.ConnectionOptions), rejectUnauthorized: false });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate(false);
      const actual = cert && cert.raw ? fingerprintOfDer(cert.raw) : 'no certificate';
      if (actual !== this.pin) {
        const err = new PinMismatchError(this.pin, actual);
        socket.destroy(err);
        finish(err);
        return;
      }
      finish(null, socket);
    });
    socket.once('error', (err) => finish(err));
    return undefined;
  }
}

/** The agent for a gateway URL: pinned when a fingerprint is given, default CA checks otherwise. */
export function agentFor(url: URL, fingerprint: string | undefined): https.Agent | undefined {
  if (url.protocol !== 'https:' && url.protocol !== 'wss:') return undefined;
  return fingerprint ? new PinnedAgent(fingerprint) : undefined;
}

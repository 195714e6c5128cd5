import assert from 'node:assert/strict';
import { test } from 'node:test';
import tls from 'node:tls';
import type { CreateRunResponse } from '../../protocol/api.js';
import { HEADER_TIMESTAMP } from '../../protocol/signing.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRunnerUpgrade, signedHeaders } from '../helpers/runner-socket.js';

async function createRun(g: TestGateway, name: string): Promise<CreateRunResponse> {
  const r = await runCli(['runs', 'create', '--name', name, '--json'], g.env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as CreateRunResponse;
}

/**
 * Sends raw request bytes over TLS (loopback test gateway, self-signed) and reads until the
 * gateway closes the connection or `timeoutMs` passes; returns what came back and whether the
 * gateway closed it.
 */
function rawExchange(g: TestGateway, bytes: string, timeoutMs = 5000): Promise<{ text: string; closedByServer: boolean }> {
  const url = new URL(g.url);
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: url.hostname, port: Number(url.port), rejectUnauthorized: false }, () => sock.write(bytes));
    const parts: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ text: Buffer.concat(parts).toString('latin1'), closedByServer: false });
    }, timeoutMs);
    sock.on('data', (d: Buffer) => parts.push(d));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(parts).toString('latin1'), closedByServer: true });
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      if (parts.length) resolve({ text: Buffer.concat(parts).toString('latin1'), closedByServer: true });
      else reject(err);
    });
  });
}

test('duplicate x-ccg-* signing headers are refused (400), never first- or last-wins; a timestamp with a leading zero does not verify', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const a = await createRun(g, 'a');
  const b = await createRun(g, 'b');

  // Two identical copies of a valid header: still refused, a proxy may have read a third.
  for (const name of ['x-ccg-run-id', 'x-ccg-timestamp', 'x-ccg-nonce', 'x-ccg-signature', 'x-ccg-protocol']) {
    const h: Record<string, string | string[]> = { ...signedHeaders(a.token, a.id) };
    h[name] = [h[name] as string, h[name] as string];
    const r = await rawRunnerUpgrade(g.url, g.fingerprint, h as Record<string, string>);
    r.ws?.close();
    assert.equal(r.status, 400, `${name} twice: ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body?.error?.code, 'ERR_BAD_REQUEST');
    assert.match(r.body?.error?.message ?? '', new RegExp(`${name} header is sent twice`));
  }
  // Two different run ids: the one the signature covers and another.
  const swapped: Record<string, string | string[]> = { ...signedHeaders(a.token, a.id) };
  swapped['x-ccg-run-id'] = [a.id, b.id];
  const r = await rawRunnerUpgrade(g.url, g.fingerprint, swapped as Record<string, string>);
  assert.equal(r.status, 400);

  // docs/PROTOCOL.md: "a value such as 01795586400 never verifies".
  const signed = signedHeaders(a.token, a.id);
  const padded = await rawRunnerUpgrade(g.url, g.fingerprint, { ...signed, [HEADER_TIMESTAMP]: `0${signed[HEADER_TIMESTAMP]}` });
  padded.ws?.close();
  assert.equal(padded.status, 401, 'leading zero');
  assert.equal(padded.body?.error?.code, 'ERR_SIGNATURE_INVALID');
  // The same headers unpadded still work (the nonce was not used up by the refusal).
  const ok = await rawRunnerUpgrade(g.url, g.fingerprint, signed);
  assert.equal(ok.status, 101);
  ok.ws!.close();
});

test('two Content-Length headers with different values: 400 and the connection is closed; equal values are harmless', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const body = '{"username":"x","password":"y"}';
  // What follows the short body would be a second request to a server that read the short length.
  const smuggled = `GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`;
  const head = (lengths: number[]) =>
    `POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${lengths.map((n) => `Content-Length: ${n}\r\n`).join('')}\r\n`;
  for (const lengths of [[body.length, body.length + smuggled.length], [body.length + smuggled.length, body.length]]) {
    // Alone: refused with 400, and the connection closed after it.
    const alone = await rawExchange(g, head(lengths) + body);
    assert.match(alone.text, /^HTTP\/1\.1 400 /, `${lengths}: ${alone.text.slice(0, 200)}`);
    assert.match(alone.text, /content-length header is sent twice with different values/);
    assert.ok(alone.closedByServer, 'the gateway closes the connection');
    // With a request behind it: that request is never answered (nor run), whichever length
    // the gateway's parser took; the connection is closed.
    const out = await rawExchange(g, head(lengths) + body + smuggled);
    const statuses = [...out.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    assert.ok(statuses.every((s) => s === '400'), `${lengths}: only a refusal: ${out.text.slice(0, 300)}`);
    assert.ok(out.closedByServer, 'the gateway closes the connection');
  }
  // The same value twice means one thing: answered as usual (a failed login, 401).
  const same = await rawExchange(g, head([body.length, body.length]).replace('Host:', 'Connection: close\r\nHost:') + body);
  assert.match(same.text, /^HTTP\/1\.1 401/);
});

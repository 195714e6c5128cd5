import assert from 'node:assert/strict';
import { test } from 'node:test';
import tls from 'node:tls';
import type { CreateRunResponse } from '../../protocol/api.js';
import { AddMachineResponse, signMachineRequest } from '../../protocol/machine.js';
import { HEADER_PROTOCOL, HEADER_TIMESTAMP } from '../../protocol/signing.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { fetchJson } from '../helpers/page-client.js';
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

test('every WebSocket upgrade (runner, machine, operator) refuses a header sent twice and a credential in its URL, before anything else', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = await createRun(g, 'upgrades');
  const admin = (await createApiToken(g.gw.store, { name: 'admin', role: 'admin', userId: null, now: Date.now() })).token;
  const added = await fetchJson(g, '/api/v1/machines', admin, 'POST', { name: 'm1' });
  const { token: machineToken } = AddMachineResponse.parse(added.json);
  const machineHeaders = () => ({ ...signMachineRequest(machineToken, { method: 'GET', target: '/v1/machine', name: 'm1' }), [HEADER_PROTOCOL]: '1' });
  const sockets = {
    runner: { path: '/v1/runner', headers: () => signedHeaders(run.token, run.id) },
    machine: { path: '/v1/machine', headers: machineHeaders },
    operator: { path: '/v1/operator', headers: () => ({ authorization: `Bearer ${admin}` }) },
  };
  for (const [name, s] of Object.entries(sockets)) {
    // Each is good as it stands (the sentinel: a refusal below is the change's, not the headers').
    const ok = await rawRunnerUpgrade(g.url, g.fingerprint, s.headers(), s.path);
    assert.equal(ok.status, 101, `${name}: ${JSON.stringify(ok.body)}`);
    ok.ws!.close();
    // A signing header twice: a proxy in front may have read the other copy.
    const twice: Record<string, string | string[]> = { ...s.headers(), 'x-ccg-probe': ['a', 'b'] };
    const dup = await rawRunnerUpgrade(g.url, g.fingerprint, twice as Record<string, string>, s.path);
    assert.equal(dup.status, 400, `${name} twice: ${JSON.stringify(dup.body)}`);
    assert.match(dup.body?.error?.message ?? '', /x-ccg-probe header is sent twice/, name);
    // Any ccg token in the query (a machine token too), or a parameter named like a credential.
    for (const query of [`?t=${machineToken}`, `?t=${run.token}`, '?access_token=x']) {
      const inUrl = await rawRunnerUpgrade(g.url, g.fingerprint, s.headers(), s.path + query);
      assert.equal(inUrl.body?.error?.code, 'ERR_TOKEN_IN_URL', `${name} ${query.slice(0, 12)}: ${JSON.stringify(inUrl.body)}`);
    }
  }
  // Plain HTTP refuses a machine token in the URL as it does the others.
  const api = await fetchJson(g, `/api/v1/runs?x=${machineToken}`, admin);
  assert.equal(api.json.error?.code, 'ERR_TOKEN_IN_URL');
});

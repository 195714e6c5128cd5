import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AssistStatusBody } from '../../protocol/assist.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { AssistSession, parseTmateLine } from '../../cli/runner/assist.js';
import { UsedIds } from '../../cli/runner/used-ids.js';
import { tempDir } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { TMATE_LINKS, writeTmateStandin } from '../helpers/standins.js';

function session(tmateBin: string, opts: { maxMinutes?: number | null; startTimeoutMs?: number } = {}) {
  const reports: AssistStatusBody[] = [];
  const events: RunnerEvent[] = [];
  const s = new AssistSession({
    maxMinutes: opts.maxMinutes === undefined ? 5 : opts.maxMinutes,
    tmateBin,
    cwd: tempDir(),
    env: { PATH: process.env['PATH'] },
    usedIds: new UsedIds(join(tempDir(), 'ids')),
    event: (e) => events.push(e),
    report: (b) => reports.push(b),
    status: () => undefined,
    ...(opts.startTimeoutMs ? { startTimeoutMs: opts.startTimeoutMs } : {}),
  });
  return { s, reports, events };
}
const rid = () => randomBytes(16).toString('base64url');

test('tmate -F output is parsed line by line, in both orders tmate servers use', () => {
  const links: Record<string, string> = {};
  assert.equal(parseTmateLine('To connect to the session locally, run: tmate -S /tmp/x attach', links), false);
  assert.equal(parseTmateLine(`web session read only: ${TMATE_LINKS.webReadOnly}`, links), false);
  assert.equal(parseTmateLine(`ssh session read only: ${TMATE_LINKS.sshReadOnly}`, links), false);
  assert.equal(parseTmateLine(`web session: ${TMATE_LINKS.web}`, links), false);
  assert.equal(parseTmateLine(`ssh session: ${TMATE_LINKS.ssh}\r`, links), true, 'the read-write ssh line completes the set');
  assert.deepEqual(links, { webReadOnly: TMATE_LINKS.webReadOnly, sshReadOnly: TMATE_LINKS.sshReadOnly, web: TMATE_LINKS.web, ssh: TMATE_LINKS.ssh });
  // Hostile or odd lines are not links.
  const odd: Record<string, string> = {};
  assert.equal(parseTmateLine('ssh session: rm -rf /', odd), false);
  assert.equal(parseTmateLine('web session: javascript:alert(1)', odd), false);
  assert.equal(parseTmateLine('ssh session: ssh a@b\u001b[2J', odd), false);
  assert.deepEqual(odd, {});
  // An ssh-only server (no websocket front end) prints just the ssh lines, with a port.
  const sshOnly: Record<string, string> = {};
  parseTmateLine('ssh session read only: ssh -p2222 ro-abc@tmate.example.org', sshOnly);
  assert.equal(parseTmateLine('ssh session: ssh -p2222 abc@tmate.example.org', sshOnly), true);
  assert.deepEqual(sshOnly, { sshReadOnly: 'ssh -p2222 ro-abc@tmate.example.org', ssh: 'ssh -p2222 abc@tmate.example.org' });
});

test('an assist session ends by itself at its time limit, and tmate is killed', async () => {
  const dir = tempDir();
  const { s, reports, events } = session(writeTmateStandin(dir), { maxMinutes: 0.02 }); // 1.2 s
  const id = rid();
  s.handle({ type: 'assist', requestId: id, action: 'start' });
  await waitFor(() => reports.find((r) => r.state === 'active'), 10_000, 'active');
  const pid = Number(readFileSync(join(dir, 'tmate.pid'), 'utf8'));
  const stopped = await waitFor(() => reports.find((r) => r.state === 'stopped'), 10_000, 'the time limit');
  assert.match(stopped.reason ?? '', /time limit of 0\.02 min/);
  assert.equal(stopped.links, null);
  await waitFor(() => {
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return true;
    }
  }, 10_000, 'tmate to be gone');
  assert.deepEqual(events.map((e) => e.type), ['assist_started', 'assist_stopped']);
  // The same request id again is a replay.
  s.handle({ type: 'assist', requestId: id, action: 'start' });
  assert.match((events.at(-1) as { reason: string }).reason, /replay/);
});

test('tmate that fails, prints nothing, or is missing ends as failed with the reason', async () => {
  const failing = session(writeTmateStandin(tempDir(), 'fail'));
  failing.s.handle({ type: 'assist', requestId: rid(), action: 'start' });
  const f = await waitFor(() => failing.reports.find((r) => r.state === 'failed'), 10_000, 'failed');
  assert.match(f.reason ?? '', /tmate exited \(code 1\)/);

  const silent = session(writeTmateStandin(tempDir(), 'silent'), { startTimeoutMs: 500 });
  silent.s.handle({ type: 'assist', requestId: rid(), action: 'start' });
  const sl = await waitFor(() => silent.reports.find((r) => r.state === 'failed'), 10_000, 'the start timeout');
  assert.match(sl.reason ?? '', /printed no session links within 1 s \(last line: Connecting to ssh\.tmate\.io\.\.\.\)/);

  const missing = session('/nonexistent/tmate');
  missing.s.handle({ type: 'assist', requestId: rid(), action: 'start' });
  const m = await waitFor(() => missing.reports.find((r) => r.state === 'failed'), 10_000, 'ENOENT');
  assert.match(m.reason ?? '', /could not start \/nonexistent\/tmate: ENOENT/);
  assert.equal(missing.events.at(-1)?.type, 'assist_refused');

  const off = session('/nonexistent/tmate', { maxMinutes: null });
  off.s.handle({ type: 'assist', requestId: rid(), action: 'start' });
  assert.equal(off.reports[0]?.state, 'refused');
  assert.match(off.reports[0]?.reason ?? '', /off on this runner/);
});

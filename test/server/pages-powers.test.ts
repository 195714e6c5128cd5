import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { STREAM_COMMAND } from '../../protocol/frames.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import type { AuditEntry } from '../../server/store/types.js';
import { apiRequest } from '../helpers/http.js';
import { approvalInfo, fakeRunner } from '../helpers/fake-runner.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { request as httpRequest } from '../helpers/http.js';
import type { PageClient } from '../helpers/page-client.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { startPushService } from '../helpers/push-service.js';
import { openSse } from '../helpers/sse-reader.js';
import { assertInert, readSse } from '../helpers/sse.js';
import { addUsers, pageUser } from '../helpers/users.js';
import { GIT_ENV, gitWorkspace } from '../helpers/workspace.js';

/**
 * The run page's powers over HTTP, as a browser would use them without JavaScript (forms, 303s)
 * and with htmx (fragments): who may do what, CSRF and same-origin checks, and hostile content
 * from runners, models and workspaces rendered inert.
 */

async function setup(t: { after: (fn: () => Promise<void>) => void }, opts: Parameters<typeof startGateway>[0] = {}): Promise<{ g: TestGateway; op: PageClient; viewer: PageClient; admin: PageClient }> {
  const g = await startGateway(opts);
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olivia', role: 'operator' }, { name: 'victor', role: 'viewer' }]);
  return { g, op: await pageUser(g, 'olivia'), viewer: await pageUser(g, 'victor'), admin: await pageUser(g, 'admin') };
}

const XSS = '<script>alert(1)</script><img src=x onerror=alert(2)><svg onload=alert(3)>';

/** Waits for an audit entry: some are written without holding up the answer. */
function audited(g: TestGateway, pred: (e: AuditEntry) => boolean, what: string): Promise<true> {
  return waitFor(() => (g.gw.store.listAudit({ limit: 100 }).some(pred) ? true : undefined), 5000, `audit: ${what}`);
}

test('approvals on the run page: hostile tool input renders inert; viewers see but cannot answer; CSRF and origin are checked; the first answer wins and a late one is news; audited', async (t) => {
  const { g, op, viewer, admin } = await setup(t);
  const { run, token } = await g.gw.runs.create('claude run', 'admin');
  const r = await fakeRunner(g, run.id, token, { mode: 'claude' });
  t.after(() => r.close());
  const id = 'AppRoval_0000000001';
  const hostile = approvalInfo(id, {
    toolName: '<svg onload=alert(4)>',
    toolUseId: 'toolu_x',
    input: { command: XSS, url: 'javascript:alert(5)', note: '\u001b]8;;javascript:alert(6)\u0007click\u001b]8;;\u0007 \u202egnp.exe' },
    description: `"><script>alert(7)</script>`,
    blockedPath: '/w/<img src=x onerror=alert(8)>',
    rule: { toolName: '<b>Bash</b>', ruleContent: '"><i onmouseover=alert(9)>x' },
  });
  const textSeq = await r.events({ type: 'claude_text', text: `Working. ${XSS} [x](javascript:alert(10)) ![t](https://evil.example/p.png)`, truncated: false, messageId: null, parentToolUseId: null, error: null });
  await r.events({ type: 'claude_tool_use', toolUseId: 'toolu_x', name: '<svg onload=alert(4)>', input: hostile.input, inputTruncated: false, parentToolUseId: null });
  await r.events({ type: 'approval_requested', ...hostile });
  await waitFor(() => (g.gw.runs.get(run.id)?.status === 'waiting' ? true : undefined), 5000, 'run waiting');

  const page = await op.get(`/runs/${run.id}`);
  assert.equal(page.status, 200);
  assertInert(page.body, 'operator page');
  assert.match(page.body, /id="approval-AppRoval_0000000001"/);
  assert.match(page.body, /name="decision" value="allow"/);
  assert.match(page.body, /name="decision" value="deny"/);
  assert.match(page.body, /name="decision" value="always"/);
  assert.match(page.body, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(page.body, /waiting for you/);
  const seen = await viewer.get(`/runs/${run.id}`);
  assertInert(seen.body, 'viewer page');
  assert.match(seen.body, /id="approval-AppRoval_0000000001"/, 'viewers see the approval');
  assert.doesNotMatch(seen.body, /name="decision"/, 'but get no buttons');
  assert.match(seen.body, /An operator or admin can answer this/);

  // The live stream carries the same, inert.
  const live = await readSse(g, op, `/runs/${run.id}/live?after=0&view=timeline`, (ev) => ev.some((e) => e.event === 'approvals-list') && ev.filter((e) => e.event === 'timeline-entries').length >= 2);
  for (const e of live.events) assertInert(e.data, `live ${e.event}`);
  assert.match(live.events.find((e) => e.event === 'approvals-list')!.data, /name="decision"/);
  // Resumed after the text (the browser's Last-Event-ID): the tool call and its approval come, the text does not again.
  const resumed = await readSse(g, op, `/runs/${run.id}/live?after=0&view=timeline`, (ev) => ev.filter((e) => e.event === 'timeline-entries').length >= 2, { headers: { 'last-event-id': String(textSeq) }, ms: 3000 });
  const entries = resumed.events.filter((e) => e.event === 'timeline-entries').map((e) => e.data).join('');
  assert.doesNotMatch(entries, /Working\./);
  assert.match(entries, /Approval needed/);
  assert.ok(resumed.events.every((e) => e.id === undefined || e.id > textSeq), 'nothing before the resume point');

  // Refused: a viewer, a missing token, a foreign origin, a cross-site fetch; nothing reaches the runner.
  const path = `/runs/${run.id}/approvals/${id}`;
  assert.equal((await viewer.post(path, { decision: 'allow' })).status, 403);
  assert.equal((await op.post(path, { decision: 'allow' }, { csrf: null })).status, 403);
  assert.equal((await op.post(path, { decision: 'allow' }, { origin: 'https://evil.example' })).status, 403);
  assert.equal((await op.post(path, { decision: 'allow' }, { origin: null, site: 'cross-site' })).status, 403);
  assert.equal((await op.post(path, { decision: 'maybe' })).status, 400);
  assert.equal((await op.post(`/runs/${run.id}/approvals/NoSuchApproval00001`, { decision: 'allow' })).status, 404);
  assert.equal((await op.post(`/runs/${run.id}/approvals/bad%20id`, { decision: 'allow' })).status, 404);
  assert.equal((await op.post(path, { decision: 'deny', message: 'x'.repeat(1001) })).status, 400);
  assert.ok(!r.messages.some((m) => m.type === 'approval_decision'), 'nothing was answered');

  // The first answer wins; the runner hears it once, with who decided.
  const first = await op.post(path, { decision: 'deny', message: 'not <b>today</b>' });
  assert.equal(first.status, 303);
  assert.equal(first.headers['location'], `/runs/${run.id}?notice=approval-sent#run-approvals`);
  const decision = await r.next('approval_decision');
  assert.deepEqual({ ...decision }, { type: 'approval_decision', approvalId: id, decision: 'deny', always: false, message: 'not <b>today</b>', by: 'olivia' });
  await admin.get(`/runs/${run.id}`);
  const late = await admin.post(path, { decision: 'allow' });
  assert.equal(late.status, 303, 'a late answer is not an error page');
  assert.equal(late.headers['location'], `/runs/${run.id}?notice=approval-taken#run-approvals`);
  const lateHtmx = await admin.post(path, { decision: 'allow' }, { headers: { 'hx-request': 'true' } });
  assert.equal(lateHtmx.status, 200);
  assert.match(lateHtmx.body, /already denied by olivia/);
  assert.equal(r.messages.filter((m) => m.type === 'approval_decision').length, 1);
  await audited(g, (e) => e.action === 'approval.answer', 'approval.answer');
  const audit = g.gw.store.listAudit({ limit: 50 }).filter((e) => e.action === 'approval.answer');
  assert.deepEqual(audit.map((e) => [e.actor, e.detail?.['decision']]), [['olivia', 'deny']]);

  // Resolved by the runner: everyone's page shows who answered, and no buttons.
  await r.events({ type: 'approval_resolved', approvalId: id, decision: 'deny', always: false, message: 'not <b>today</b>', by: 'olivia', reason: 'operator' });
  await waitFor(() => (g.gw.approvals.get(run.id, id)?.state === 'resolved' ? true : undefined), 5000, 'resolved');
  const after = await viewer.get(`/runs/${run.id}`);
  assertInert(after.body);
  assert.match(after.body, /Denied by olivia/);
  assert.doesNotMatch(after.body, /name="decision"/);
  assert.equal((await op.post(path, { decision: 'allow' })).headers['location'], `/runs/${run.id}?notice=approval-taken#run-approvals`);
});

test('input: follow-ups reach a Claude run with who sent them, keys reach a pty run as fixed bytes; viewers, missing CSRF and plain commands are refused', async (t) => {
  const { g, op, viewer } = await setup(t);
  const claude = await g.gw.runs.create('claude', 'admin');
  const rc = await fakeRunner(g, claude.run.id, claude.token, { mode: 'claude' });
  t.after(() => rc.close());
  await waitFor(() => (g.gw.runs.get(claude.run.id)?.status === 'running' ? true : undefined), 5000, 'running');

  const page = await op.get(`/runs/${claude.run.id}`);
  assert.match(page.body, /<label for="in-text">Follow-up for Claude<\/label>/);
  assert.doesNotMatch((await viewer.get(`/runs/${claude.run.id}`)).body, /Follow-up for Claude/, 'viewers get no input box');
  assert.equal((await viewer.post(`/runs/${claude.run.id}/input`, { text: 'hi' })).status, 403);
  assert.equal((await op.post(`/runs/${claude.run.id}/input`, { text: 'hi' }, { csrf: null })).status, 403);
  assert.equal((await op.post(`/runs/${claude.run.id}/input`, { text: '   ' })).status, 400);
  const sent = await op.post(`/runs/${claude.run.id}/input`, { text: 'now add a test <script>' });
  assert.equal(sent.status, 303);
  const msg = await rc.next('input');
  assert.equal(msg.text, 'now add a test <script>');
  assert.equal(msg.by, 'olivia');
  const frag = await op.post(`/runs/${claude.run.id}/input`, { text: 'and <b>docs</b>' }, { headers: { 'hx-request': 'true' } });
  assert.equal(frag.status, 200);
  assert.match(frag.body, /Sent: “and &lt;b&gt;docs&lt;\/b&gt;”/);
  await audited(g, (e) => e.action === 'run.input' && e.actor === 'olivia', 'run.input');
  // The run ends while the phone still shows the box: the refusal and the typed text stay.
  await rc.exit(0);
  await waitFor(() => (g.gw.runs.get(claude.run.id)?.status === 'exited' ? true : undefined), 5000, 'exited');
  const late = await op.post(`/runs/${claude.run.id}/input`, { text: 'one more <thing>' }, { headers: { 'hx-request': 'true' } });
  assert.equal(late.status, 200);
  assert.match(late.body, /Not sent/);
  assert.match(late.body, /role="alert">[^<]*ended/);
  assert.match(late.body, /one more &lt;thing&gt;<\/textarea>/, 'what was typed is still there');

  const pty = await g.gw.runs.create('pty', 'admin');
  const rp = await fakeRunner(g, pty.run.id, pty.token, { mode: 'command', pty: true });
  t.after(() => rp.close());
  // A pty run opens on its terminal (terminal.js has the key bar); the raw view keeps the form for no JavaScript.
  assert.match((await op.get(`/runs/${pty.run.id}`)).body, /id="term-keys"/);
  assert.match((await op.get(`/runs/${pty.run.id}?view=raw`)).body, /Type into the terminal/);
  assert.equal((await op.post(`/runs/${pty.run.id}/keys`, { key: 'ctrl-c' })).status, 303);
  assert.equal(Buffer.from((await rp.next('input')).data!, 'base64').toString(), '\u0003');
  assert.equal((await op.post(`/runs/${pty.run.id}/keys`, { text: 'ls -l', enter: '1' })).status, 303);
  assert.equal(Buffer.from((await rp.next('input')).data!, 'base64').toString(), 'ls -l\r');
  assert.equal((await op.post(`/runs/${pty.run.id}/keys`, { key: '__proto__' })).status, 400);
  assert.equal((await viewer.post(`/runs/${pty.run.id}/keys`, { key: 'enter' })).status, 403);

  const plain = await g.gw.runs.create('plain', 'admin');
  const rx = await fakeRunner(g, plain.run.id, plain.token, { mode: 'command' });
  t.after(() => rx.close());
  assert.doesNotMatch((await op.get(`/runs/${plain.run.id}`)).body, /Follow-up for Claude|Type into the terminal/);
  assert.equal((await op.post(`/runs/${plain.run.id}/input`, { text: 'hi' })).status, 409);
});

test('commands: buttons only for what the policy allows; a refused viewer is audited; a value outside the pattern is refused by the runner, which runs nothing; hostile command output renders inert', async (t) => {
  const { g, op, viewer } = await setup(t);
  const { run, token } = await g.gw.runs.create('commands', 'admin');
  const ws = tempDir('ccg-ws-');
  const aside = tempDir('ccg-allow-');
  const canary = join(aside, 'canary');
  writeFileSync(join(aside, 'allowlist.json'), JSON.stringify({
    commands: [
      { name: 'touch', argv: ['touch', `${aside}/{word}`], params: { word: { pattern: '[a-z]{1,8}' } } },
      { name: 'hostile', argv: [process.execPath, '-e', `process.stdout.write(${JSON.stringify(`${XSS}\u001b]0;title\u0007\u001b[31mred\u001b[0m <a href="javascript:alert(1)">x</a>\n`)})`] },
    ],
  }));
  const stop = join(aside, 'stop');
  const runner = spawnCcg(['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', ws, '--quiet', '--no-collect', '--spool-dir', tempDir(), '--allowlist', join(aside, 'allowlist.json'), '--', 'sh', '-c', `i=0; while [ ! -f ${stop} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done`], { CCG_RUN_TOKEN: token });
  t.after(() => void (runner.child.exitCode === null && runner.child.kill('SIGKILL')));
  await waitFor(() => (g.gw.runs.get(run.id)?.status === 'running' ? true : undefined), 15_000, 'running');

  const opPage = await op.get(`/runs/${run.id}`);
  assert.match(opPage.body, /aria-label="Run touch"/);
  // The pattern is described in words, shown as a detail, and left to the runner to enforce (no
  // HTML pattern attribute: the browser's generic refusal would hide the runner's message).
  assert.match(opPage.body, /1 to 8 lowercase letters\./);
  assert.match(opPage.body, /<code>\[a-z\]\{1,8\}<\/code>/);
  assert.doesNotMatch(opPage.body, /<input[^>]* pattern="/);
  const vPage = await viewer.get(`/runs/${run.id}`);
  assert.doesNotMatch(vPage.body, /aria-label="Run touch"/, 'no buttons for a role the policy does not allow');
  assert.match(vPage.body, /does not let your role run these/);
  assert.equal((await viewer.post(`/runs/${run.id}/exec`, { name: 'touch', 'p.word': 'ok' })).status, 403);
  await audited(g, (e) => e.action === 'command.denied' && e.actor === 'victor', 'command.denied');
  assert.equal((await op.post(`/runs/${run.id}/exec`, { name: 'touch', 'p.word': 'ok' }, { csrf: null })).status, 403);
  assert.equal((await op.post(`/runs/${run.id}/exec`, { name: 'rm' })).status, 404);
  assert.equal((await op.post(`/runs/${run.id}/exec`, { name: 'touch', 'p.word': 'ok', 'p.extra': 'x' })).status, 400);

  // Outside the pattern, an option, a path: the runner refuses each and runs nothing.
  const events = async () => (await httpRequest(g, 'GET', `/api/v1/runs/${run.id}/events`, { token: g.operatorToken })).text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as RunnerEvent);
  for (const bad of ['ABC', '-rf', '../canary', 'a b']) {
    assert.equal((await op.post(`/runs/${run.id}/exec`, { name: 'touch', 'p.word': bad })).status, 303);
  }
  await waitFor(async () => ((await events()).filter((e) => e.type === 'exec_refused').length === 4 ? true : undefined), 15_000, 'four refusals');
  assert.deepEqual(readdirSync(aside).sort(), ['allowlist.json'], 'nothing ran');
  const refusedPage = await op.get(`/runs/${run.id}`);
  assert.match(refusedPage.body, /refused by the runner/);
  assertInert(refusedPage.body);

  // A good value runs; hostile output is escaped on the page and on the live stream.
  assert.equal((await op.post(`/runs/${run.id}/exec`, { name: 'touch', 'p.word': 'canary' })).status, 303);
  await waitFor(() => (existsSync(canary) ? true : undefined), 15_000, 'the allowed command ran');
  let following!: () => void;
  const followed = new Promise<void>((r) => (following = r));
  const live = readSse(g, op, `/runs/${run.id}/live?after=${g.gw.runs.committedSeq(run.id)}`, (ev) => {
    if (ev.some((e) => e.event === 'status')) following();
    return ev.some((e) => e.event === 'commands-runs' && /hostile: exited 0/.test(e.data));
  }, { ms: 20_000 });
  // The stream sends the header once it follows the run: the command is sent only then.
  await Promise.race([followed, live]);
  const htmx = await op.post(`/runs/${run.id}/exec`, { name: 'hostile' }, { headers: { 'hx-request': 'true' } });
  assert.match(htmx.body, /Sent <span class="mono">hostile<\/span> to the runner/);
  const stream = await live;
  const out = stream.events.filter((e) => e.event === 'commands-output').map((e) => e.data).join('');
  assert.match(out, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(out, /<span class="a-f1">red<\/span>/);
  for (const e of stream.events) assertInert(e.data, `live ${e.event}`);
  const final = await op.get(`/runs/${run.id}`);
  assertInert(final.body);
  assert.match(final.body, /hostile: exited 0/);
  writeFileSync(stop, '');
  assert.equal((await runner.exited).code, 0, runner.stderr());
});

test('artifacts: hostile diffs and file names render inert; downloads are attachments for every role; collecting is for operators; unknown names are 404', async (t) => {
  const { g, op, viewer } = await setup(t);
  const { run, token } = await g.gw.runs.create('artifacts', 'admin');
  const ws = gitWorkspace({ 'index.html': '<p>hello</p>\n' });
  mkdirSync(join(ws, 'out'));
  const script = [
    `printf '%s\\n' '<script>alert(1)</script>' '"><img src=x onerror=alert(2)>' "$(printf '\\033]8;;javascript:alert(3)\\007link\\033]8;;\\007 \\342\\200\\256evil')" > index.html`,
    `echo report > 'out/<img src=x onerror=alert(4)>.txt'`,
  ].join('\n');
  const runner = spawnCcg(['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', ws, '--quiet', '--spool-dir', tempDir(), '--artifact', 'out/**', '--', 'sh', '-c', script], { CCG_RUN_TOKEN: token, ...GIT_ENV });
  assert.equal((await runner.exited).code, 0, runner.stderr());
  await waitFor(() => (g.gw.artifacts.list(run.id).some((a) => a.name === 'diff.patch') ? true : undefined), 10_000, 'artifacts');

  const page = await viewer.get(`/runs/${run.id}`);
  assertInert(page.body);
  assert.match(page.body, /href="\/runs\/[a-z0-9]+\/view\/diff\.patch"/);
  const odd = g.gw.artifacts.list(run.id).find((a) => a.name.startsWith('files/'))!;
  assert.ok(odd, 'the glob picked up the oddly named file');
  assert.ok(page.body.includes(odd.name), `listed as ${odd.name}`);
  assert.doesNotMatch(page.body, /Collect now/, 'viewers cannot collect');

  const diff = await viewer.get(`/runs/${run.id}/view/diff.patch`);
  assert.equal(diff.status, 200);
  assertInert(diff.body, 'diff view');
  assert.match(diff.body, /<span class="dl dl-add">\+&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/span>/);
  assert.match(diff.body, /<span class="dl dl-del">-&lt;p&gt;hello&lt;\/p&gt;<\/span>/);
  assert.match(diff.body, /\ufffdevil/, 'a bidi override is shown, not obeyed');
  assert.match(diff.body, /<h3 class="df-name">index\.html /);

  const dl = await viewer.get(`/runs/${run.id}/artifacts/diff.patch`);
  assert.equal(dl.status, 200);
  assert.equal(dl.headers['content-type'], 'text/x-diff; charset=utf-8');
  assert.equal(dl.headers['content-disposition'], 'attachment; filename="diff.patch"');
  assert.match(String(dl.headers['content-security-policy']), /sandbox/);
  const enc = encodeURIComponent(odd.name);
  const file = await viewer.get(`/runs/${run.id}/artifacts/${enc}`);
  assert.equal(file.status, 200);
  assert.equal(file.headers['content-disposition'], `attachment; filename="${odd.name.split('/').pop()}"`);
  assert.equal((await viewer.get(`/runs/${run.id}/view/${enc}`)).status, 404, 'plain files are downloads only');
  for (const p of [`/runs/${run.id}/artifacts/..%2F..%2Fsecret.key`, `/runs/${run.id}/artifacts/nope.txt`, `/runs/${run.id}/view/nope.patch`, `/runs/${run.id}/artifacts/%E0%A4%A`]) {
    assert.equal((await viewer.get(p)).status, 404, p);
  }
  assert.equal((await viewer.post(`/runs/${run.id}/collect`, {})).status, 403);
  await op.get(`/runs/${run.id}`);
  assert.equal((await op.post(`/runs/${run.id}/collect`, {})).status, 409, 'the run is over');
  await audited(g, (e) => e.action === 'artifact.download' && e.actor === 'victor', 'artifact.download');
  await audited(g, (e) => e.action === 'artifact.view' && e.actor === 'victor', 'artifact.view');
});

test('assist on the run page: links for operators only (page, live stream, audit), never for viewers; hostile link text escaped; viewers cannot start or stop', async (t) => {
  const { g, op, viewer } = await setup(t);
  const { run, token } = await g.gw.runs.create('assist', 'admin');
  const r = await fakeRunner(g, run.id, token, { mode: 'command', assist: { maxMinutes: 5 } });
  t.after(() => r.close());
  // Links not in tmate's shape never reach a page (the gateway drops them); tmate's own are shown, escaped.
  const hostile = { ssh: 'ssh x"><script>alert(1)</script>@nyc1.tmate.io', sshReadOnly: 'ssh ro-AbC@nyc1.tmate.io', web: 'https://tmate.io/t/"><img/src=x/onerror=alert(2)>', webReadOnly: null };
  const links = { ssh: 'ssh AbCdEfGhIjKlMnOpQrStUvWxY@nyc1.tmate.io', sshReadOnly: 'ssh ro-AbC@nyc1.tmate.io', web: 'https://tmate.io/t/AbCdEfGhIjKlMnOpQrStUvWxY', webReadOnly: null };

  assert.match((await op.get(`/runs/${run.id}`)).body, /Start assist session/);
  assert.doesNotMatch((await viewer.get(`/runs/${run.id}`)).body, /Assist session/);
  assert.equal((await viewer.post(`/runs/${run.id}/assist`, { action: 'start' })).status, 403);
  assert.equal((await op.post(`/runs/${run.id}/assist`, { action: 'start' }, { csrf: null })).status, 403);
  assert.equal((await op.post(`/runs/${run.id}/assist`, { action: 'open-shell' })).status, 400);

  // The viewer's stream stays open to the end of the run, whose `end` event is the sentinel.
  const viewerLive = openSse(g, `/runs/${run.id}/live?after=0`, viewer.cookieHeader());
  t.after(() => viewerLive.close());
  let following!: () => void;
  const followed = new Promise<void>((r) => (following = r));
  const opLive = readSse(g, op, `/runs/${run.id}/live?after=0`, (ev) => {
    if (ev.some((e) => e.event === 'status')) following();
    return ev.some((e) => e.event === 'assist-body' && e.data.includes('nyc1.tmate.io'));
  }, { ms: 10_000 });
  // Both streams send the header once they follow the run: the session is started only then.
  await Promise.race([followed, opLive]);
  await waitFor(() => (viewerLive.events.some((e) => e.event === 'status') ? true : undefined), 10_000, "the viewer's stream following the run");
  assert.equal((await op.post(`/runs/${run.id}/assist`, { action: 'start' })).status, 303);
  const ask = await r.next('assist');
  assert.equal(ask.action, 'start');
  r.send({ type: 'assist_status', requestId: ask.requestId, state: 'active', links: hostile, expiresAt: Date.now() + 300_000, reason: null });
  r.send({ type: 'assist_status', requestId: ask.requestId, state: 'active', links, expiresAt: Date.now() + 300_000, reason: null });
  const opEvents = (await opLive).events;
  for (const e of opEvents) assertInert(e.data, `assist on the stream (${e.event})`);
  assert.ok(!opEvents.some((e) => /script|onerror/.test(e.data)), 'the hostile links were dropped');
  const body = opEvents.find((e) => e.event === 'assist-body' && e.data.includes('nyc1.tmate.io'))!.data;
  assert.match(body, /value="ssh AbCdEfGhIjKlMnOpQrStUvWxY@nyc1\.tmate\.io"/);

  const page = await op.get(`/runs/${run.id}`);
  assertInert(page.body);
  assert.match(page.body, /<label for="as-ssh">SSH, read-write<\/label>/);
  assert.match(page.body, /Stop assist session/);
  const vpage = await viewer.get(`/runs/${run.id}`);
  assert.ok(!vpage.body.includes('tmate.io'));
  await audited(g, (e) => e.action === 'assist.start' && e.actor === 'olivia', 'assist.start');
  await audited(g, (e) => e.action === 'assist.show' && e.actor === 'olivia', 'assist.show');
  const audit = g.gw.store.listAudit({ limit: 50 });
  assert.ok(!audit.some((e) => JSON.stringify(e).includes('tmate.io')), 'links never in the audit log');
  assert.equal((await viewer.post(`/runs/${run.id}/assist`, { action: 'stop' })).status, 403);
  assert.equal((await op.post(`/runs/${run.id}/assist`, { action: 'stop' })).status, 303);
  assert.equal((await r.next('assist')).action, 'stop');

  // The run ends: the viewer's stream says `end` after everything the run raised before, links included.
  await r.exit(0);
  await waitFor(() => (viewerLive.events.some((e) => e.event === 'end') ? true : undefined), 10_000, "`end` on the viewer's stream");
  for (const e of viewerLive.events) assert.ok(!e.data.includes('tmate.io'), `no link on a viewer's stream (${e.event})`);
});

test('push from the settings page: subscribing needs the session and CSRF; the bearer API takes no cookie; a test push reaches the push service; /sw.js is the service worker', async (t) => {
  const push = await startPushService();
  t.after(() => push.close());
  const { g, op, viewer } = await setup(t, { pushAgent: new PinnedAgent(push.fingerprint), pushHosts: [new URL(push.url).host], vapidSubject: 'mailto:ops@example.test' });
  const sub = push.subscription('olivia-phone');
  const fields = { endpoint: sub.endpoint, p256dh: sub.keys.p256dh, auth: sub.keys.auth };

  const settings = await op.get('/settings');
  assert.match(settings.body, /Notifications on this phone/);
  assert.match(settings.body, new RegExp(`data-key="${g.gw.services.push.publicKey}"`));
  assert.match(settings.body, /<script src="\/static\/push\.js\?v=[0-9a-f]+" defer><\/script>/);
  assert.equal((await op.post('/settings/push', fields, { csrf: null })).status, 403);
  assert.equal((await op.post('/settings/push', fields, { origin: 'https://evil.example' })).status, 403);
  assert.equal((await op.post('/settings/push', { ...fields, endpoint: 'http://127.0.0.1/x' })).status, 400);
  assert.equal((await op.post('/settings/push', { ...fields, p256dh: 'short' })).status, 400);
  // The bearer API never takes a session cookie (it has no CSRF check).
  const cookieOnly = await op.request('POST', '/api/v1/push/subscriptions', JSON.stringify({ endpoint: sub.endpoint, keys: sub.keys }), { 'content-type': 'application/json', origin: g.url });
  assert.equal(cookieOnly.status, 401);

  const ok = await op.post('/settings/push', fields, { headers: { accept: 'application/json' } });
  assert.equal(ok.status, 201);
  const id = (JSON.parse(ok.body) as { id: string }).id;
  assert.match((await op.get('/settings')).body, /Send a test notification/);
  await viewer.get('/settings');
  assert.equal((await viewer.post(`/settings/push/${id}/delete`, {})).status, 403, 'not their subscription');
  const tested = await op.post('/settings/push/test', {});
  assert.equal(tested.headers['location'], '/settings?notice=push-test-sent#push');
  await waitFor(() => (push.received.length > 0 ? true : undefined), 10_000, 'the push');
  const payload = JSON.parse(push.received[0]!.payload) as { kind: string; title: string; url: string };
  assert.equal(payload.kind, 'test');
  assert.match(payload.url, /\/runs$/);
  assert.equal((await op.post(`/settings/push/${id}/delete`, {})).headers['location'], '/settings?notice=push-removed#push');
  assert.equal(g.gw.services.push.list('olivia').length, 0);
  assert.equal((await op.post('/settings/push/test', {})).headers['location'], '/settings?notice=push-test-none#push');

  const sw = await op.get('/sw.js');
  assert.equal(sw.status, 200);
  assert.equal(sw.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.match(sw.body, /addEventListener\('notificationclick'/);
  await audited(g, (e) => e.action === 'push.subscribe' && e.actor === 'olivia', 'push.subscribe');
});

test('the command output of a fake runner lands in the right command run; a hostile request id cannot become markup', async (t) => {
  const { g, op } = await setup(t);
  const { run, token } = await g.gw.runs.create('ids', 'admin');
  const r = await fakeRunner(g, run.id, token, { mode: 'command', commands: [{ name: 'test', params: [], timeoutMs: 60_000 }] });
  t.after(() => r.close());
  const rid = 'x" onmouseover="alert(1)';
  await r.events({ type: 'exec_started', requestId: rid, name: 'test', params: {} });
  await r.output(STREAM_COMMAND, '<b>ok</b>\n');
  await r.events({ type: 'exec_exit', requestId: rid, name: 'test', code: 3, signal: null, timedOut: false, truncated: false, durationMs: 12 });
  const page = await op.get(`/runs/${run.id}`);
  assertInert(page.body);
  assert.match(page.body, /test: exited 3 after 12 ms/);
  assert.match(page.body, /&lt;b&gt;ok&lt;\/b&gt;/);
});

test('an approval the runner never resolved (the run ended under it) reads as ended in the timeline, not as open with "Answer it above"', async (t) => {
  const { g, op } = await setup(t);
  const { run, token } = await g.gw.runs.create('ended under it', 'admin');
  const r = await fakeRunner(g, run.id, token, { mode: 'claude' });
  t.after(() => r.close());
  await r.events({ type: 'claude_tool_use', toolUseId: 'toolu_1', name: 'Bash', input: { command: 'npm test' }, inputTruncated: false, parentToolUseId: null });
  await r.events({ type: 'approval_requested', ...approvalInfo('appr_ended_under_it01') });
  await waitFor(() => (g.gw.runs.get(run.id)?.status === 'waiting' ? true : undefined), 5000, 'run waiting');
  assert.match((await op.get(`/runs/${run.id}`)).body, /Answer it above/);
  await r.exit(1);
  await waitFor(() => (g.gw.approvals.get(run.id, 'appr_ended_under_it01')?.state === 'resolved' ? true : undefined), 5000, 'the gateway ends it');
  const page = (await op.get(`/runs/${run.id}`)).body;
  const entry = /<div class="tl-approval[^"]*" data-approval-id="appr_ended_under_it01">[\s\S]*?<\/div>/.exec(page)?.[0] ?? '';
  assert.match(entry, /Denied \(ended\)/, entry);
  assert.doesNotMatch(page, /Answer it above|denied automatically in/);
  // A stale card answered now: told plainly that the run ended first.
  const late = await apiRequest(g, 'POST', `/api/v1/runs/${run.id}/approvals/appr_ended_under_it01`, { decision: 'allow' });
  assert.equal(late.status, 409);
  assert.match((late.json as { error: { message: string } }).error.message, /already closed: the run ended .*before anyone answered; nothing was sent/);
});

test('an answered question or plan card says how it was answered: the option chosen, the mode the plan goes on in, the reason for keeping on planning', async (t) => {
  const { g, op } = await setup(t);
  const { run, token } = await g.gw.runs.create('answers shown', 'admin');
  const r = await fakeRunner(g, run.id, token, { mode: 'claude' });
  t.after(() => r.close());
  const questions = [{ question: 'Which port?', header: 'Port', multiSelect: false, options: [{ label: '80', description: '' }, { label: '8080', description: '' }] }];
  await r.events({ type: 'approval_requested', ...approvalInfo('appr_answers_shown_q1', { toolName: 'AskUserQuestion', displayName: null, input: { questions }, description: null, rule: null, questions }) });
  await r.events({ type: 'approval_requested', ...approvalInfo('appr_answers_shown_p1', { toolName: 'ExitPlanMode', displayName: null, input: {}, description: null, rule: null, plan: '# Plan', toolUseId: 'toolu_2' }) });
  await r.events({ type: 'approval_requested', ...approvalInfo('appr_answers_shown_p2', { toolName: 'ExitPlanMode', displayName: null, input: {}, description: null, rule: null, plan: '# Plan B', toolUseId: 'toolu_3' }) });
  await op.get(`/runs/${run.id}`);
  assert.equal((await op.post(`/runs/${run.id}/approvals/appr_answers_shown_q1/answers`, { q0: '1' })).status, 303);
  assert.equal((await op.post(`/runs/${run.id}/approvals/appr_answers_shown_p1/plan`, { decision: 'approve-edits' })).status, 303);
  assert.equal((await op.post(`/runs/${run.id}/approvals/appr_answers_shown_p2/plan`, { decision: 'keep_planning', message: 'cover the <migrations>' })).status, 303);
  for (const id of ['appr_answers_shown_q1', 'appr_answers_shown_p1', 'appr_answers_shown_p2']) {
    const m = await r.next('approval_decision', (x) => x.approvalId === id);
    await r.events({ type: 'approval_resolved', approvalId: id, decision: m.decision, always: m.always, message: m.message, by: m.by, reason: 'operator' });
  }
  const page = (await op.get(`/runs/${run.id}`)).body;
  const card = (id: string) => new RegExp(`<div class="approval-card approval-done[^"]*" id="approval-${id}"[^>]*><p>([\\s\\S]*?)</p></div>`).exec(page)?.[1] ?? '';
  assert.match(card('appr_answers_shown_q1'), /^Claude’s questions — Answered by olivia: Which port\? → 8080$/);
  assert.match(card('appr_answers_shown_p1'), /^Claude’s plan — Plan approved by olivia, continuing in /);
  assert.match(card('appr_answers_shown_p2'), /^Claude’s plan — Kept planning by olivia: [^<]*cover the &lt;migrations&gt;/);
});

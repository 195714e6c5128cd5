import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Approval } from '../../protocol/claude-control.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { claudeRun } from '../helpers/claude-run.js';
import { lastUserText } from '../helpers/model-api.js';
import { waitFor } from '../helpers/processes.js';
import { KEYS, startTui } from './harness.js';

/**
 * The console on a real Claude run: the real `claude` (pinned) driven by a real runner process
 * against the model stand-in, through a real gateway, and the real App with its own socket.
 */

const ADMIN = 'operator.token (bootstrap)';
/** What the model says first: a title change, a screen clear, a clipboard write and a bidi override, around plain words. */
const HOSTILE = 'Hello \u001b]0;pwned\u0007\u001b[2J\u001b]52;c;aGk=\u0007there\u202e, I will create it.';

test('tui on a Claude run: the timeline (hostile text made harmless), approve and deny by keys, a follow-up from the input line, raw output on v', async (t) => {
  const c = await claudeRun(t, [
    { text: HOSTILE, tools: [{ name: 'Bash', input: { command: 'touch created.txt', description: 'Create created.txt' } }] },
    { text: 'Created it. One more.', tools: [{ name: 'Bash', input: { command: 'touch denied.txt', description: 'Create denied.txt' } }] },
    { text: 'Understood, I will not.' },
    { text: 'Follow-up answered.' },
  ], { prompt: 'make the files', args: ['--input-wait', '30s'] });
  const tui = startTui({ url: c.g.url, token: c.g.operatorToken, fingerprint: c.g.fingerprint });
  t.after(() => tui.close());

  // The timeline, not the stream-json; the approval in the status line and the help line.
  let f = await tui.until((f) => f.includes('⏳ 1 approval: Bash touch created.txt (a)'), 'the approval banner', 60_000);
  // The banner comes from the approvals, the lines from the output: one frame may have the first
  // without all the second.
  f = await tui.until((f) => f.includes('◆ Claude: Hello there\ufffd, I will create it.') && f.includes('⚙ Bash: touch created.txt'), 'the assistant text, sanitized, and the tool call');
  assert.ok(f.includes('▸ runner: make the files'), f);
  await tui.until((f) => f.includes('⏳ approval needed for Bash: touch created.txt') && f.includes('press a to answer it'), 'the approval in the timeline');
  assert.match(f, / · waiting · timeline · following ─/);
  assert.equal(f.includes('{"type"'), false, 'no raw stream-json in the timeline');
  for (const bad of ['\u001b', '\u0007', '\u202e', 'pwned', 'aGk=']) assert.equal(f.includes(bad), false, `${JSON.stringify(bad)} never reaches the terminal`);
  assert.equal(f.split('\n').at(-1), '↑↓ select  Enter output  a approvals  i input  x commands  n new  ? help  q quit');

  // a: the approvals panel, tool and input; y approves. Measured from the key press to Claude's next model request.
  await tui.press('a');
  f = await tui.until((f) => f.includes('1 approval open') && f.includes('"command": "touch created.txt"'), 'the approvals panel');
  assert.ok(f.includes('A would always allow Bash(touch created.txt) for this run'), f);
  assert.ok(f.includes('y approve  n deny  A always allow'), f);
  assert.equal(c.api.requests.length, 1, 'Claude waits for the answer');
  const pressed = performance.now();
  await tui.press('y');
  const roundTripMs = (await c.api.waitForRequests(2, 30_000))[1]!.receivedAt - pressed;
  t.diagnostic(`approval round trip from the TUI (key press → Claude's next model request): ${roundTripMs.toFixed(1)} ms`);
  await tui.until((f) => f.includes(`allowed by ${ADMIN}`), 'the approval resolved');

  // The second one: n asks for a message for Claude, and denies.
  f = await tui.until((f) => f.includes('1 approval open') && f.includes('touch denied.txt'), 'the second approval');
  await tui.press('n');
  await tui.until((f) => f.includes('Deny Bash; message for Claude (optional):'), 'the deny prompt');
  await tui.type('Deny Bash; message for Claude (optional):', 'not that one');
  await tui.press(KEYS.enter);
  f = await tui.until((f) => f.includes(`denied by ${ADMIN}`) && f.includes('message: not that one'), 'denied with the message');
  const third = (await c.api.waitForRequests(3, 30_000))[2]!;
  assert.ok(lastUserText(third).includes('not that one'), `Claude is told why: ${lastUserText(third)}`);

  // First answer wins: answering it again is refused by the gateway, shown as who was first.
  const denied = (JSON.parse((await c.cli(['runs', 'approvals', c.run.id, '--all', '--json'])).stdout) as { approvals: Approval[] }).approvals.find((a) => a.input && JSON.stringify(a.input).includes('denied.txt'))!;
  assert.ok(tui.client.answerApproval(c.run.id, denied.approvalId, 'allow'));
  await tui.until((f) => f.includes(`not sent: already denied by ${ADMIN}`), 'the refusal, explained');
  await tui.press('y');
  await tui.until((f) => f.includes(`Bash was already denied by ${ADMIN}`), 'answering a resolved one is refused at once');

  await tui.press(KEYS.escape);
  f = await tui.until((f) => f.includes('Claude waits for a follow-up (i)'), 'waiting for a follow-up', 30_000);
  assert.ok(f.includes(`✔ Bash allowed by ${ADMIN}`) || f.includes('✖ Bash denied'), f);
  assert.ok(existsSync(join(c.cwd, 'created.txt')), 'the approved command ran');
  assert.equal(existsSync(join(c.cwd, 'denied.txt')), false, 'the denied one did not');

  // i: a follow-up turn for Claude from the input line.
  await tui.press('i');
  await tui.until((f) => f.includes('To Claude:'), 'the input prompt');
  await tui.type('To Claude:', 'now add a test');
  await tui.press(KEYS.enter);
  f = await tui.until((f) => f.includes('◆ Claude: Follow-up answered.'), 'the answer to the follow-up', 30_000);
  assert.ok(f.includes(`▸ ${ADMIN}: now add a test`), f);
  assert.equal(lastUserText(c.api.requests[3]!), 'now add a test');

  // v: the raw stream-json, sanitized; v again: the timeline.
  await tui.press('v');
  // Long stream-json lines wrap: the rows are read joined.
  f = await tui.until((f) => f.includes('· raw · following') && f.split('\n').slice(3, -3).join('').includes('"type":"result"') && f.includes('» awaiting_input'), 'the raw output');
  for (const bad of ['\u001b', '\u0007', '\u202e']) assert.equal(f.includes(bad), false);
  await tui.press('v');
  await tui.until((f) => f.includes('· timeline · following') && f.includes('◆ Claude: Follow-up answered.'), 'the timeline again');
  // c cancels: Claude is interrupted, the run ends before the gateway closes.
  await tui.press('c', 'y');
  await tui.until((f) => f.includes('› cancelled'), 'cancelled', 30_000);
  await c.runner.exited;
});

test('tui: a viewer sees the approval and cannot answer it; another operator can', async (t) => {
  const c = await claudeRun(t, [{ text: 'Creating.', tools: [{ name: 'Bash', input: { command: 'touch v.txt', description: 'Create v.txt' } }] }, { text: 'Done.' }], { args: ['--input-wait', '0'] });
  const { token } = await createApiToken(c.g.gw.store, { name: 'watcher', role: 'viewer', userId: null, now: Date.now() });
  const tui = startTui({ url: c.g.url, token, fingerprint: c.g.fingerprint });
  t.after(() => tui.close());
  let f = await tui.until((f) => f.includes('⏳ 1 approval: Bash touch v.txt (a)'), 'the banner, for a viewer too', 60_000);
  assert.equal(/ i input /.test(f), false, 'no input key for a viewer');
  await tui.press('a');
  f = await tui.until((f) => f.includes('read only: answering needs the operator or admin role (you are viewer)'), 'the read-only panel');
  assert.ok(f.includes('"command": "touch v.txt"'), f);
  for (const key of ['y', 'A', 'n']) {
    await tui.press(key);
    await tui.until((f) => f.includes('viewers see approvals but cannot answer them (you are viewer)'), `${key} refused`);
  }
  assert.equal(f.includes('Deny Bash'), false, 'no deny prompt either');
  // Had the console sent it anyway, the gateway would refuse it as well.
  assert.ok(tui.client.answerApproval(c.run.id, c.seen.approvals[0]!.approvalId, 'allow'));
  await tui.until((f) => f.includes('this needs the operator role; you are viewer'), 'the gateway refusal');
  const open = (JSON.parse((await c.cli(['runs', 'approvals', c.run.id, '--json'])).stdout) as { approvals: Approval[] }).approvals;
  assert.deepEqual(open.map((a) => a.state), ['pending'], 'still waiting');
  assert.equal(c.g.gw.store.listAudit({ limit: 100 }).filter((e) => e.action === 'approval.answer').length, 0);

  assert.ok(c.operator.answerApproval(c.run.id, open[0]!.approvalId, 'allow'));
  await tui.until((f) => f.includes(`allowed by ${ADMIN}`), 'the viewer sees it resolved');
  assert.equal((await c.runner.exited).code, 0);
  await waitFor(() => (existsSync(join(c.cwd, 'v.txt')) ? true : undefined), 5000, 'v.txt');
});

test('approval round trip from the console, measured over several approvals (y pressed → Claude continues; → the console shows it resolved)', async (t) => {
  const N = 6;
  const steps = Array.from({ length: N }, (_, i) => ({ text: `Step ${i}.`, tools: [{ name: 'Bash', input: { command: `touch step-${i}.txt`, description: 'Touch' } }] }));
  const c = await claudeRun(t, [...steps, { text: 'All done.' }], { args: ['--input-wait', '0'] });
  const tui = startTui({ url: c.g.url, token: c.g.operatorToken, fingerprint: c.g.fingerprint });
  t.after(() => tui.close());
  await tui.until((f) => f.includes('⏳ 1 approval'), 'the first approval', 60_000);
  await tui.press('a');
  const toModel: number[] = [];
  const toScreen: number[] = [];
  for (let i = 0; i < N; i++) {
    await tui.until((f) => f.includes('1 approval open') && f.includes(`"command": "touch step-${i}.txt"`), `approval ${i} on screen`, 30_000);
    const pressed = performance.now();
    await tui.press('y');
    const next = (await c.api.waitForRequests(i + 2, 30_000))[i + 1]!;
    toModel.push(next.receivedAt - pressed);
    // The panel's row for it says who allowed it: the console saw it resolved.
    await waitFor(() => (tui.frame().split('\n').some((l) => l.includes(`touch step-${i}.txt`) && l.includes('allowed by operator.token')) ? true : undefined), 30_000, `approval ${i} resolved on screen`).catch((err: unknown) => {
      // Once seen failing under load (CI): say what the console showed and what the gateway holds.
      const held = c.g.gw.approvals.list(c.run.id, { all: true }).map((a) => `${a.approvalId} ${a.state}`).join(', ');
      throw new Error(`${(err as Error).message}\nthe gateway holds: ${held}\nthe console showed:\n${tui.frame()}`);
    });
    toScreen.push(performance.now() - pressed);
  }
  assert.equal((await c.runner.exited).code, 0, c.runner.stderr());
  for (let i = 0; i < N; i++) assert.ok(existsSync(join(c.cwd, `step-${i}.txt`)));
  const stats = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return `median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms, min ${sorted[0]!.toFixed(1)}, max ${sorted.at(-1)!.toFixed(1)} (n=${xs.length})`;
  };
  t.diagnostic(`console approval round trip, key press → Claude's next model request: ${stats(toModel)}`);
  t.diagnostic(`key press → the console shows it allowed (the runner's approval_resolved, through the gateway): ${stats(toScreen)}`);
});

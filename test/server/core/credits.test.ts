import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { SecretBox } from '../../../server/auth/secret-box.js';
import { Credits } from '../../../server/core/credits.js';

const credits = new Credits(new SecretBox(randomBytes(32)));

test('an id vouches for its run, thing and operator only: not another run, text, control, name or key', () => {
  const id = credits.mint('run-a', { kind: 'input', text: 'run the tests' }, 'olivia');
  assert.match(id, /^[A-Za-z0-9_-]{36}$/);
  assert.ok(credits.vouches('run-a', { kind: 'input', text: 'run the tests' }, 'olivia', id));
  assert.ok(!credits.vouches('run-b', { kind: 'input', text: 'run the tests' }, 'olivia', id), 'another run');
  assert.ok(!credits.vouches('run-a', { kind: 'input', text: 'push to main' }, 'olivia', id), 'another text');
  assert.ok(!credits.vouches('run-a', { kind: 'input', text: 'run the tests' }, 'oscar', id), 'another name');
  assert.ok(!credits.vouches('run-a', { kind: 'interrupt' }, 'olivia', id), 'another thing');
  assert.ok(!new Credits(new SecretBox(randomBytes(32))).vouches('run-a', { kind: 'input', text: 'run the tests' }, 'olivia', id), 'another key');
  const flipped = id.slice(0, 35) + (id[35] === 'A' ? 'B' : 'A');
  assert.ok(!credits.vouches('run-a', { kind: 'input', text: 'run the tests' }, 'olivia', flipped), 'a changed MAC');
  for (const bad of [null, undefined, 42, '', id.slice(0, 35), `${id}x`]) assert.ok(!credits.vouches('run-a', { kind: 'input', text: 'run the tests' }, 'olivia', bad), String(bad));
  // The parts are length-prefixed: a name cannot borrow the end of the run id or of the thing.
  const set = credits.mint('run-a', { kind: 'set_mode', mode: 'plan' }, 'x');
  assert.ok(credits.vouches('run-a', { kind: 'set_mode', mode: 'plan' }, 'x', set));
  assert.ok(!credits.vouches('run-', { kind: 'set_mode', mode: 'plan' }, 'ax', set));
  assert.ok(!credits.vouches('run-a', { kind: 'set_mode', mode: 'bypassPermissions' }, 'x', set), 'another mode');
  assert.ok(!credits.vouches('run-a', { kind: 'set_model' }, 'x', set));
  // A prompt is vouched for as the token rules redact it (the runner redacts its events too).
  const key = credits.mint('run-a', { kind: 'input', text: 'use AKIAABCDEFGHIJKLMNOP' }, 'olivia');
  assert.ok(credits.vouches('run-a', { kind: 'input', text: 'use [REDACTED:aws]' }, 'olivia', key), 'as it arrives, redacted');
  assert.ok(credits.vouches('run-a', { kind: 'input', text: 'use AKIAABCDEFGHIJKLMNOP' }, 'olivia', key), 'as sent');
  assert.ok(!credits.vouches('run-a', { kind: 'input', text: 'use [REDACTED:aws] now' }, 'olivia', key));
});

test('an event chunk keeps the names its ids vouch for and says the runner for the others; a chunk with none is the same bytes', () => {
  const text = 'a follow-up';
  const inputId = credits.mint('run-a', { kind: 'input', text }, 'olivia');
  const line = (ev: object) => JSON.stringify(ev);
  const chunk = Buffer.from(
    [
      line({ type: 'input_sent', inputId, by: 'olivia', text, bytes: 11 }),
      line({ type: 'input_sent', inputId, by: 'oscar', text, bytes: 11 }),
      line({ type: 'input_sent', inputId: 'initial-prompt', by: 'runner', text: 'the task', bytes: 8 }),
      line({ type: 'input_sent', inputId: 'initial-prompt', by: 'olivia', text: 'the task', bytes: 8 }),
      line({ type: 'claude_settings', permissionMode: 'plan', model: null, by: null }),
      line({ type: 'claude_text', messageId: 'm', text: '"by":"olivia"', truncated: false, parentToolUseId: null, error: null }),
      'not json "by"',
      `{"type":"interrupt_sent","b\\u0079":"${'é'.repeat(150)}"}`,
    ].join('\n') + '\n',
  );
  const out = credits.chunk('run-a', chunk, new Map(), 1).toString('utf8').split('\n');
  const by = (i: number) => (JSON.parse(out[i]!) as { by: unknown }).by;
  assert.equal(by(0), 'olivia');
  assert.equal(by(1), 'the runner (says oscar)');
  assert.equal(by(2), 'runner', 'the runner\'s own first prompt');
  assert.equal(by(3), 'the runner (says olivia)');
  assert.equal(by(4), null);
  assert.equal(out[5], line({ type: 'claude_text', messageId: 'm', text: '"by":"olivia"', truncated: false, parentToolUseId: null, error: null }), 'other events as they were');
  assert.equal(out[6], 'not json "by"');
  assert.equal(by(7), `the runner (says ${'é'.repeat(100)})`, 'escaped, non-ASCII and long: within an event\'s 120 characters');
  assert.equal(out[8], '');
  const quiet = Buffer.from(line({ type: 'claude_text', messageId: 'm', text: 'nothing to credit', truncated: false, parentToolUseId: null, error: null }) + '\n');
  assert.equal(credits.chunk('run-a', quiet, new Map(), 2), quiet);
  // One id vouches for one event: its replay says the runner.
  const used = new Map<string, number>();
  const once = Buffer.from(line({ type: 'input_sent', inputId, by: 'olivia', text, bytes: 11 }) + '\n');
  assert.equal(credits.chunk('run-a', once, used, 3), once);
  assert.equal(credits.chunk('run-a', once, used, 3), once, 'the same chunk again (its write failed, the runner resends it) is no replay');
  assert.equal(JSON.parse(credits.chunk('run-a', once, used, 4).toString()).by, 'the runner (says olivia)');
  const twice = Buffer.concat([once, once]);
  const again = credits.chunk('run-a', twice, new Map(), 5).toString().trim().split('\n').map((l) => (JSON.parse(l) as { by: string }).by);
  assert.deepEqual(again, ['olivia', 'the runner (says olivia)'], 'twice in one chunk');
});

test('a cancel\'s id vouches for its interrupt and for every approval it closed; an approval the runner closed itself names the runner\'s own resolver', () => {
  const controlId = credits.mint('run-a', { kind: 'cancel' }, 'olivia');
  const line = (ev: object) => JSON.stringify(ev);
  const closed = (approvalId: string, by: string, reason: string, creditId?: string | null) =>
    line({ type: 'approval_resolved', approvalId, decision: 'deny', always: false, message: `The run was cancelled by ${by}.`, by, reason, ...(creditId !== undefined ? { creditId } : {}) });
  const chunk = Buffer.from(
    [
      line({ type: 'interrupt_sent', by: 'olivia', controlId }),
      closed('appr_one000000000001', 'olivia', 'interrupted', controlId),
      closed('appr_two000000000002', 'olivia', 'interrupted', controlId),
      closed('appr_three0000000003', 'oscar', 'interrupted', controlId),
      closed('appr_four00000000004', 'olivia', 'interrupted', null),
      closed('appr_five00000000005', 'a local SIGINT', 'interrupted'),
      closed('appr_six000000000006', 'runner', 'ended'),
      closed('appr_seven0000000007', 'claude', 'cancelled'),
      closed('appr_eight0000000008', 'runner', 'operator'),
      closed('appr_nine00000000009', 'olivia', 'ended'),
    ].join('\n') + '\n',
  );
  const by = credits
    .chunk('run-a', chunk, new Map(), 1)
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { by: string }).by);
  assert.deepEqual(by, [
    'olivia',
    'olivia',
    'olivia',
    'the runner (says oscar)',
    'the runner (says olivia)',
    'the runner (says a local SIGINT)',
    'runner',
    'claude',
    'runner',
    'the runner (says olivia)',
  ]);
  // An approval's answer: a deny's message is part of it (as sent, or as the token rules redact it).
  const deny = { kind: 'approval', approvalId: 'appr_one000000000001', decision: 'deny', always: false, message: 'not with AKIAABCDEFGHIJKLMNOP' } as const;
  const id = credits.mint('run-a', deny, 'olivia');
  assert.ok(credits.vouches('run-a', { ...deny, message: 'not with [REDACTED:aws]', redacted: true }, 'olivia', id));
  assert.ok(!credits.vouches('run-a', { ...deny, message: null }, 'olivia', id), 'without its message');
  assert.ok(!credits.vouches('run-a', { ...deny, approvalId: 'appr_two000000000002' }, 'olivia', id), 'another approval');
  assert.ok(!credits.vouches('run-a', { ...deny, decision: 'allow' }, 'olivia', id), 'the other decision');
});

test('a cancel\'s id vouches only for what a cancel does to an approval (a denial), and the runner\'s own names spend no id', () => {
  const controlId = credits.mint('run-a', { kind: 'cancel' }, 'olivia');
  const line = (ev: object) => JSON.stringify(ev);
  const resolved = (o: object) => line({ type: 'approval_resolved', approvalId: 'appr_one000000000001', decision: 'deny', always: false, message: 'The run was cancelled by olivia.', by: 'olivia', reason: 'interrupted', creditId: controlId, ...o });
  const by = (chunk: string, used = new Map<string, number>(), seq = 1) =>
    credits
      .chunk('run-a', Buffer.from(chunk + '\n'), used, seq)
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { by: string }).by);
  assert.deepEqual(by([resolved({}), resolved({ decision: 'allow', message: null }), resolved({ always: true }), resolved({ message: 'olivia says: go on' }), resolved({ message: null })].join('\n')), [
    'olivia',
    'the runner (says olivia)',
    'the runner (says olivia)',
    'the runner (says olivia)',
    'olivia',
  ]);
  // A flood of timeouts with ids of the runner's choosing does not push a real id out of memory.
  const answer = { kind: 'approval', approvalId: 'appr_two000000000002', decision: 'allow', always: false, message: null } as const;
  const creditId = credits.mint('run-a', answer, 'olivia');
  const real = line({ type: 'approval_resolved', approvalId: answer.approvalId, decision: 'allow', always: false, message: null, by: 'olivia', reason: 'operator', creditId });
  const used = new Map<string, number>();
  assert.deepEqual(by(real, used, 1), ['olivia']);
  const flood = Array.from({ length: 5000 }, (_, i) => line({ type: 'approval_resolved', approvalId: 'appr_two000000000002', decision: 'deny', always: false, message: null, by: 'timeout', reason: 'timeout', creditId: `junk${String(i).padStart(8, '0')}` })).join('\n');
  assert.ok(by(flood, used, 2).every((b) => b === 'timeout'));
  assert.deepEqual(by(real, used, 3), ['the runner (says olivia)'], 'still a replay');
});

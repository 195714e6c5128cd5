import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Approval } from '../../../protocol/claude-control.js';
import type { RunSummary } from '../../../protocol/run.js';
import { LocalBus, runOfMessage } from '../../../server/live/bus.js';

const summary = (id: string) => ({ id, status: 'running' }) as unknown as RunSummary;

test('a listener of one run hears that run\'s messages of every topic, and no other run\'s; listeners of all runs hear all', () => {
  const bus = new LocalBus();
  const heard: string[] = [];
  const offs = [
    bus.on('run', (r) => heard.push(`a:run:${r.id}`), { run: 'a' }),
    bus.on('approval', ({ approval }) => heard.push(`a:approval:${approval.runId}`), { run: 'a' }),
    bus.on('artifacts', ({ runId }) => heard.push(`a:artifacts:${runId}`), { run: 'a' }),
    bus.on('run', (r) => heard.push(`b:run:${r.id}`), { run: 'b' }),
    bus.on('run', (r) => heard.push(`all:run:${r.id}`)),
  ];
  bus.publish('run', summary('b'));
  bus.publish('run', summary('a'));
  bus.publish('approval', { approval: { runId: 'a' } as Approval, created: true });
  bus.publish('approval', { approval: { runId: 'c' } as Approval, created: true });
  bus.publish('artifacts', { runId: 'b', artifacts: [] });
  bus.publish('artifacts', { runId: 'a', artifacts: [] });
  assert.deepEqual(heard, ['all:run:b', 'b:run:b', 'all:run:a', 'a:run:a', 'a:approval:a', 'a:artifacts:a']);
  // Off: nothing more for that listener; the others still hear.
  offs[0]!();
  heard.length = 0;
  bus.publish('run', summary('a'));
  assert.deepEqual(heard, ['all:run:a']);
});

test('a listener added or removed while a message is being delivered does not change that delivery', () => {
  const bus = new LocalBus();
  const heard: string[] = [];
  let offSecond = (): void => undefined;
  bus.on('run', () => {
    heard.push('first');
    offSecond();
    bus.on('run', () => heard.push('added'), { run: 'a' });
  }, { run: 'a' });
  offSecond = bus.on('run', () => heard.push('second'), { run: 'a' });
  bus.publish('run', summary('a'));
  assert.deepEqual(heard, ['first', 'second']);
  heard.length = 0;
  offSecond = () => undefined;
  bus.publish('run', summary('a'));
  assert.deepEqual(heard, ['first', 'added']);
});

test('a viewer\'s listener that throws is dropped; the others of its run still hear', () => {
  const bus = new LocalBus();
  const heard: string[] = [];
  bus.on('run', () => {
    throw new Error('renderer bug');
  }, { run: 'a' });
  bus.on('run', () => heard.push('ok'), { run: 'a' });
  bus.publish('run', summary('a'));
  bus.publish('run', summary('a'));
  assert.deepEqual(heard, ['ok', 'ok']);
});

test('the run of a message: summaries by id, approvals by their run, the rest by runId; none for auth or a malformed message', () => {
  assert.equal(runOfMessage('run', summary('r1')), 'r1');
  assert.equal(runOfMessage('approval', { approval: { runId: 'r2' } as Approval, created: false }), 'r2');
  assert.equal(runOfMessage('assist', { runId: 'r3', info: {} as never }), 'r3');
  assert.equal(runOfMessage('auth', { kind: 'user', id: 'u' } as never), undefined);
  assert.equal(runOfMessage('run', { id: 7 } as never), undefined);
  assert.equal(runOfMessage('approval', {} as never), undefined);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AssistInfo } from '../../../protocol/assist.js';
import { AssistService } from '../../../server/core/assist.js';
import { LocalBus } from '../../../server/live/bus.js';
import { silentLogger } from '../../../server/log.js';

const links = { ssh: 'ssh AbCdEfGhIjKlMnOpQrStUvWxY@nyc1.tmate.io', sshReadOnly: 'ssh ro-AbC@nyc1.tmate.io', web: 'https://tmate.io/t/AbCdEfGhIjKlMnOpQrStUvWxY', webReadOnly: null };

test('assist: links are kept only while the session is open, whatever state a runner reports them with', () => {
  const bus = new LocalBus(silentLogger);
  const heard: AssistInfo[] = [];
  bus.on('assist', ({ info }) => heard.push(info));
  const assist = new AssistService({ bus, log: silentLogger, now: () => 1 });
  const report = (state: AssistInfo['state']) => assist.report('r1', { requestId: 'q'.repeat(22), state, links, expiresAt: 1e12, reason: null });
  report('starting');
  assert.equal(assist.get('r1')?.links, null, 'starting: no links yet');
  report('active');
  assert.deepEqual(assist.get('r1')?.links, links);
  report('stopped');
  assert.equal(assist.get('r1')?.links, null, 'stopped: the links are gone');
  assert.deepEqual(heard.map((i) => [i.state, i.links !== null]), [['starting', false], ['active', true], ['stopped', false]], 'what the bus carried matches');
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { UsedIds } from '../../cli/runner/used-ids.js';
import { tempDir } from '../helpers/gateway.js';

test('request ids: each is taken once, across a restart, and a run takes at most its share (a flooding gateway grows neither memory nor the file)', () => {
  const file = join(tempDir('ccg-ids-'), 'request-ids');
  const ids = new UsedIds(file, 3);
  assert.equal(ids.claim('a'), null);
  assert.equal(ids.claim('a'), 'request id already used (replay)');
  assert.equal(ids.claim('b'), null);
  assert.equal(new UsedIds(file, 3).claim('b'), 'request id already used (replay)', 'remembered by a restarted runner');
  assert.equal(ids.claim('c'), null);
  assert.equal(ids.claim('d'), 'this run has had its 3 requests');
  assert.equal(readFileSync(file, 'utf8'), 'a\nb\nc\n');
});

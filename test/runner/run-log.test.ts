import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RunLog } from '../../cli/runner/run-log.js';
import { tempDir } from '../helpers/gateway.js';

test('the run log keeps the newest output within twice its cap on disk, and says what it left out', () => {
  const file = join(tempDir(), 'run.log');
  const log = new RunLog(file, 100_000);
  let all = '';
  for (let i = 0; i < 20_000; i++) {
    const line = `line ${i}\n`;
    all += line;
    log.append(Buffer.from(line));
  }
  const { data, omitted, total } = log.read(100_000);
  assert.equal(total, all.length);
  assert.equal(omitted, all.length - 100_000);
  assert.equal(data.toString(), all.slice(-100_000));
  assert.ok(statSync(file).size <= 2 * 100_000 + 64 * 1024, `bounded on disk (${statSync(file).size})`);
  log.append(Buffer.from('last\n'));
  log.close();
  const again = new RunLog(file, 100_000);
  assert.ok(again.read(10).data.toString().endsWith('last\n'), 'what was appended before close is on disk');
  again.close();
});

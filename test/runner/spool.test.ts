import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, rmSync } from 'node:fs';
import path, { join } from 'node:path';
import { test } from 'node:test';
import { defaultSpoolRoot, Spool } from '../../cli/runner/spool.js';
import { tempDir } from '../helpers/gateway.js';

test('spool keeps chunks until acknowledged and survives a reopen', (t) => {
  const dir = join(tempDir(), 'run');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s = Spool.open(dir);
  s.resetBase(5);
  for (let i = 0; i < 10; i++) s.append(5 + i, i % 2, Buffer.from(`chunk ${5 + i}\n`));
  assert.equal(s.maxSeq, 14);
  assert.equal(s.read(7)!.data.toString(), 'chunk 7\n');
  assert.equal(s.read(8)!.stream, 1);
  s.ack(9);
  assert.equal(s.minSeq, 10);
  assert.equal(s.read(9), undefined);
  s.close(false);

  // A torn record at the end (a crash mid-write) is dropped, the rest recovered.
  const seg = readdirSync(dir).find((f) => f.endsWith('.seg'))!;
  appendFileSync(join(dir, seg), Buffer.from([0, 0, 0, 0, 0, 0, 0, 15, 0, 0, 0, 0, 99, 1, 2]));
  const again = Spool.open(dir);
  assert.equal(again.minSeq, 5, 'acks are not persisted: the gateway tells what it has on welcome');
  assert.equal(again.maxSeq, 14);
  assert.equal(again.read(14)!.data.toString(), 'chunk 14\n');
  again.append(15, 0, Buffer.from('after reopen'));
  assert.equal(again.read(15)!.data.toString(), 'after reopen');
  again.ack(15);
  assert.equal(again.count, 0);
  assert.equal(again.bytes, 0);
  assert.deepEqual(readdirSync(dir), [], 'fully acknowledged segments are deleted');
  again.close(true);
});

test('spool rolls segments and deletes each once acknowledged', (t) => {
  const dir = join(tempDir(), 'run');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s = Spool.open(dir);
  const big = Buffer.alloc(256 * 1024, 1);
  for (let seq = 1; seq <= 80; seq++) s.append(seq, 0, big); // 20 MiB: three segments
  assert.ok(readdirSync(dir).length >= 3);
  s.ack(40);
  const left = readdirSync(dir).length;
  assert.ok(left < 3 && left >= 1, `segments left after half acked: ${left}`);
  assert.equal(s.read(41)!.data.length, big.length);
  s.close(true);
});

test('the default spool root: XDG_STATE_HOME, else ~/.local/state; %LOCALAPPDATA% on Windows, in Windows paths', () => {
  assert.equal(defaultSpoolRoot({ HOME: '/home/ann' }, '/nowhere', 'linux', path.posix), '/home/ann/.local/state/ccg/spool');
  assert.equal(defaultSpoolRoot({}, '/home/ann', 'linux', path.posix), '/home/ann/.local/state/ccg/spool');
  assert.equal(defaultSpoolRoot({ XDG_STATE_HOME: '/s', HOME: '/home/ann' }, '/home/ann', 'linux', path.posix), '/s/ccg/spool');
  assert.equal(defaultSpoolRoot({ LOCALAPPDATA: 'C:\\Users\\ann\\AppData\\Local' }, 'C:\\Users\\ann', 'win32', path.win32), 'C:\\Users\\ann\\AppData\\Local\\ccg\\spool');
  assert.equal(defaultSpoolRoot({}, 'C:\\Users\\ann', 'win32', path.win32), 'C:\\Users\\ann\\.local\\state\\ccg\\spool', 'no forward slash left in a Windows path');
  // A run's spool directory is the root and the run id (a fixed alphabet: no separator, no drive letter, valid on Windows).
  assert.equal(path.win32.join(defaultSpoolRoot({ LOCALAPPDATA: 'D:\\state' }, 'C:\\', 'win32', path.win32), '0123456789ab'), 'D:\\state\\ccg\\spool\\0123456789ab');
});

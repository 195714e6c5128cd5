import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { groupSpawnOptions, posixProcessTree, stopTree, windowsProcessTree } from '../../cli/runner/process-tree.js';
import { tempDir } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';

/** Alive and not a zombie waiting to be reaped (an orphaned grandchild is reaped by init, a moment later). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A child (sh) that starts a grandchild (sleep) and prints the grandchild's pid. */
function childWithGrandchild(options: { detached?: boolean }) {
  const child = spawn('/bin/sh', ['-c', 'sleep 300 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'], ...options });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, sig) => r(sig)));
  return { child, exited, grandchild: () => waitFor(() => (out.includes('\n') ? Number(out.trim()) : undefined), 5_000, 'the grandchild pid') };
}

test('stopping the tree ends the child and the grandchild it started', async (t) => {
  const { child, exited, grandchild } = childWithGrandchild(groupSpawnOptions);
  const gc = await grandchild();
  t.after(() => {
    for (const pid of [child.pid!, gc]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  assert.ok(alive(child.pid!) && alive(gc));
  assert.equal(stopTree(child.pid, 'SIGTERM'), true);
  assert.equal(await exited, 'SIGTERM');
  await waitFor(() => (alive(gc) ? undefined : true), 5_000, 'the grandchild to end');
});

test('a child that leads no group of its own is not a tree: stop says so, and the caller falls back to the child', async (t) => {
  const { child, exited, grandchild } = childWithGrandchild({ detached: false });
  const gc = await grandchild();
  t.after(() => {
    for (const pid of [child.pid!, gc]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  assert.equal(posixProcessTree.stop(child.pid!, 'SIGTERM'), false);
  assert.ok(alive(child.pid!) && alive(gc), 'nothing was signalled');
  assert.equal(stopTree(undefined, 'SIGTERM'), false);
  child.kill('SIGKILL');
  await exited;
});

test('the Windows tree is stopped with taskkill /T /F on the child, whatever the signal', async (t) => {
  // A stand-in taskkill records its arguments; the Windows code path itself runs unchanged.
  const bin = tempDir();
  writeFileSync(join(bin, 'taskkill'), `#!/bin/sh\nprintf '%s\\n' "$*" >> "${bin}/taskkill.args"\n`);
  chmodSync(join(bin, 'taskkill'), 0o755);
  const path = process.env['PATH'];
  process.env['PATH'] = `${bin}:${path}`;
  t.after(() => (process.env['PATH'] = path));
  assert.deepEqual(windowsProcessTree.spawnOptions, { detached: false, windowsHide: true }, 'no console window of its own');
  assert.equal(windowsProcessTree.stop(4242, 'SIGINT'), true);
  assert.equal(windowsProcessTree.stop(4243, 'SIGKILL'), true);
  const lines = await waitFor(() => {
    try {
      const l = readFileSync(join(bin, 'taskkill.args'), 'utf8').trim().split('\n');
      return l.length === 2 ? l.sort() : undefined;
    } catch {
      return undefined;
    }
  }, 5_000, 'two taskkill calls');
  assert.deepEqual(lines, ['/T /F /PID 4242', '/T /F /PID 4243']);
});

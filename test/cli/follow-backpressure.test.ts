import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { createCli } from '../../cli/main.js';
import { STREAM_EVENT } from '../../protocol/frames.js';
import { encodeEvent } from '../../protocol/runner-events.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';

const MiB = 1024 * 1024;

/** A stdout whose reader does not read until `release` (a `| less` nobody scrolls); it records the most it ever held. */
function stuckStdout() {
  const held: (() => void)[] = [];
  let released = false;
  let bytes = 0;
  let most = 0;
  const out = new Writable({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (released) done();
      else held.push(done);
    },
  });
  const write = out.write.bind(out);
  out.write = ((chunk: never, ...rest: never[]) => {
    const ok = write(chunk, ...rest);
    most = Math.max(most, out.writableLength);
    return ok;
  }) as typeof out.write;
  return {
    out,
    get bytes() {
      return bytes;
    },
    get most() {
      return most;
    },
    release() {
      released = true;
      for (const done of held.splice(0)) done();
    },
  };
}

for (const [command, stream] of [['logs', 0], ['events', STREAM_EVENT]] as const) {
  test(`runs ${command} --follow stops reading while its stdout is full: it holds a few MiB, not the run, and then gets all of it in order`, async (t) => {
    const g = await startGateway();
    t.after(() => g.close());
    const { run, token } = await g.gw.runs.create('flood', 'test');
    const r = await fakeRunner(g, run.id, token);
    t.after(() => r.close());
    const stdout = stuckStdout();
    const done = createCli().run(['runs', command, run.id, '--follow', ...(command === 'events' ? ['--json'] : [])], { stdout: stdout.out, stderr: new PassThrough(), env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...g.env } });
    // 16 MiB in 256 KiB chunks, each committed before the next.
    const text = (i: number, j: number) => encodeEvent({ type: 'claude_text', messageId: `m${i}-${j}`, text: `${i}.${j} `.padEnd(2000, 'x'), truncated: false, parentToolUseId: null, error: null });
    const line = (i: number) => (stream === STREAM_EVENT ? Buffer.concat(Array.from({ length: 120 }, (_, j) => text(i, j))) : Buffer.alloc(256 * 1024, `${i % 10}`));
    await r.output(stream, line(0));
    await waitFor(() => (stdout.bytes > 0 ? true : undefined), 10_000, 'the follower writing');
    let lastSeq = 0;
    for (let i = 1; i < 64; i++) lastSeq = await r.output(stream, line(i));
    r.send({ type: 'exit', code: 0, signal: null, lastSeq });
    await waitFor(() => (g.gw.runs.get(run.id)?.status === 'exited' ? true : undefined), 10_000, 'the run ended');
    stdout.release();
    assert.equal(await done, 0);
    const total = command === 'logs' ? 64 * 256 * 1024 : stdout.bytes;
    assert.equal(stdout.bytes, total, 'everything arrived');
    assert.ok(stdout.most < 6 * MiB, `held at most ${(stdout.most / MiB).toFixed(1)} MiB of a ${(total / MiB).toFixed(0)} MiB run`);
  });
}

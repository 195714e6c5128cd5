import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { ClaudeDriver } from '../../cli/runner/claude.js';
import type { DriverIO } from '../../cli/runner/driver.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { tempDir } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';

/**
 * A stand-in `claude` (a node script on the process boundary) for what the real one does not
 * do on demand: a character split across two writes, a control request ccg does not serve,
 * garbage lines, an oversized line.
 */
const FAKE = `
const rl = require('readline').createInterface({ input: process.stdin });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let n = 0;
rl.on('line', async (l) => {
  const m = JSON.parse(l);
  n++;
  if (n === 1) {
    const line = Buffer.from(JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 'héllo 👍 done' }] } }) + '\\n');
    const cut = line.indexOf(Buffer.from('👍')) + 2; // inside the emoji's four bytes
    process.stdout.write(line.subarray(0, cut));
    await new Promise((r) => setTimeout(r, 50));
    process.stdout.write(line.subarray(cut));
    process.stdout.write('this is not json\\n');
    out({ type: 'brand_new_thing', x: 1 });
    process.stdout.write(JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 'y'.repeat(300000) }] } }) + '\\n');
    out({ type: 'control_request', request_id: 'hook-1', request: { subtype: 'hook_callback', callback_id: 'x' } });
  } else if (m.type === 'control_response') {
    out({ type: 'assistant', message: { content: [{ type: 'text', text: 'got ' + m.response.subtype + ' for ' + m.response.request_id + ': ' + m.response.error } ] } });
    out({ type: 'result', subtype: 'success', is_error: false, result: 'ok', num_turns: 1 });
  }
});
rl.on('close', () => process.exit(0));
`;

test('the Claude driver: split UTF-8, unknown lines shown raw, oversized text capped, unserved control requests answered with an error', async () => {
  const dir = tempDir();
  const bin = `${dir}/claude`;
  writeFileSync(`${dir}/fake.cjs`, FAKE);
  writeFileSync(bin, `#!/bin/sh\nexec node ${dir}/fake.cjs\n`);
  chmodSync(bin, 0o755);
  const events: RunnerEvent[] = [];
  let exit: { code: number | null } | null = null;
  const io: DriverIO = {
    output: () => undefined,
    event: (e) => events.push(e),
    spawned: () => undefined,
    exited: (code) => (exit = { code }),
    status: () => undefined,
  };
  const driver = new ClaudeDriver({ argv: [bin], prompt: 'hi', cwd: dir, env: process.env, approvalTimeoutMs: 60_000, inputWaitMs: 0, echo: null });
  driver.start(io);
  await waitFor(() => exit ?? undefined, 15_000, 'the fake claude to exit');
  assert.equal(exit!.code, 0);
  const texts = events.filter((e): e is Extract<RunnerEvent, { type: 'claude_text' }> => e.type === 'claude_text');
  assert.equal(texts[0]!.text, 'héllo 👍 done', 'a character split across reads is intact');
  assert.equal(texts[1]!.truncated, true);
  assert.equal(texts[1]!.text.length, 64 * 1024);
  assert.equal(texts[2]!.text, 'got error for hook-1: ccg does not handle hook_callback requests');
  const raws = events.filter((e) => e.type === 'claude_raw');
  assert.deepEqual(raws.map((e) => e.type === 'claude_raw' && [e.claudeType, e.raw.slice(0, 30)]), [
    [null, 'this is not json'],
    ['brand_new_thing', '{"type":"brand_new_thing","x":'],
    ['control_request', '{"type":"control_request","req'],
  ]);
  assert.deepEqual(events.map((e) => e.type).slice(-2), ['claude_result', 'input_closed']);
  // Refusals are rate-limited, so a hostile gateway cannot flood the event stream.
  for (let i = 0; i < 100; i++) driver.handle({ type: 'resize', cols: 80, rows: 24 });
  assert.equal(events.filter((e) => e.type === 'control_refused').length, 30, 'at most 30 refusal events a minute');
});

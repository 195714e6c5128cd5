import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { FakeGateway } from '../helpers/fake-gateway.js';
import { tempDir } from '../helpers/gateway.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';

const RUN_ID = '7k2m9x4q3w8z';
const TOKEN = `ccgr_${randomBytes(32).toString('base64url')}`;
/** Terminal control: ESC, BEL, C1 CSI/OSC/ST, bidi overrides. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

test('a malicious gateway cannot write terminal escapes to the runner owner\'s terminal (status lines, errors)', async (t) => {
  const fake = await FakeGateway.start();
  t.after(() => fake.close());
  const runner = spawnCcg(['runner', 'start', '--run-id', RUN_ID, '--gateway', fake.url, '--cwd', tempDir('ccg-ws-'), '--quiet', '--no-collect', '--spool-dir', tempDir(), '--grace', '1s', '--', 'sleep', '60'], { CCG_RUN_TOKEN: TOKEN });
  t.after(() => {
    if (runner.child.exitCode === null) runner.child.kill('SIGKILL');
  });
  await fake.connected();
  await waitFor(() => (fake.texts.some((m) => m['type'] === 'started') ? true : undefined), 10_000, 'started');
  const clipboard = '\u001b]52;c;Y3VybCBldmlsfHNo\u0007';
  fake.send({ type: 'error', code: 'ERR_X', message: `${clipboard}pwned\u001b]0;owned title\u0007 \u001b[2J\u001b[H\u009b31m\r\nccg-runner: fake line` });
  fake.send({ type: 'error', code: 'ERR_BIG', message: `big${'x'.repeat(5000)}` });
  fake.send({ type: 'cancel', by: `${clipboard}\u001b[8mmallory\u202e` });
  const { code } = await runner.exited;
  assert.notEqual(code, null);
  const err = runner.stderr();
  assert.match(err, /gateway: ERR_X: pwned/, 'the text is shown');
  assert.match(err, /cancel requested by mallory/);
  assert.doesNotMatch(err, CONTROL, `no control character reached the terminal: ${JSON.stringify(err.slice(0, 400))}`);
  assert.doesNotMatch(err, /\nccg-runner: fake line/, 'a message cannot forge a line of its own');
  assert.doesNotMatch(err, /x{1025}/, 'an oversized error message is refused by the schema, not printed');
});

test('a gateway\'s close reason and refusal body are shown without their escapes', async (t) => {
  const fake = await FakeGateway.start();
  t.after(() => fake.close());
  fake.beforeWelcome = (ws) => ws.close(4401, 'ERR_UNAUTHORIZED: \u001b]52;c;ZXZpbA==\u0007\u001b[31mno');
  const spoolRoot = tempDir();
  const runner = spawnCcg(['runner', 'start', '--run-id', RUN_ID, '--gateway', fake.url, '--cwd', tempDir('ccg-ws-'), '--quiet', '--no-collect', '--spool-dir', spoolRoot, '--', 'true'], { CCG_RUN_TOKEN: TOKEN });
  const { code } = await runner.exited;
  assert.equal(code, 77);
  assert.match(runner.stderr(), /gateway closed the connection: ERR_UNAUTHORIZED: no/);
  assert.doesNotMatch(runner.stderr(), CONTROL);
  // Refused before anything was spooled: no spool directory is left behind.
  assert.deepEqual(readdirSync(spoolRoot), []);
});

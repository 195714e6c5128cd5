import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OperatorClient } from '../../cli/client/operator-client.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import { STREAM_EVENT, STREAM_STDOUT } from '../../protocol/frames.js';
import type { RunSummary } from '../../protocol/run.js';
import { itemsOfChunk } from '../../protocol/timeline.js';
import { claudeBinary, claudeEnv, trustForInteractive } from '../helpers/claude.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { lastUserText, startModelApi } from '../helpers/model-api.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';

/** Screen output without escape sequences and spaces (a TUI moves the cursor instead of printing blanks). */
const squash = (s: string) => s.replace(/\u001b\[[0-9;?<>=]*[ -/]*[@-~]|\u001b\][^\u0007]*\u0007|\u001b[()][0-9A-Za-z]|\u001b./g, '').replace(/\s+/g, '');

function watch(g: TestGateway, runId: string) {
  const seen = { screen: '', resized: [] as string[], notices: [] as string[] };
  const client = new OperatorClient({ gateway: g.url, token: g.operatorToken, fingerprint: g.fingerprint }, { reconnect: true });
  client.on('chunk', (c) => {
    if (c.stream === STREAM_STDOUT) seen.screen += Buffer.from(c.data).toString('utf8');
    if (c.stream === STREAM_EVENT) for (const i of itemsOfChunk(c)) if (i.event.type === 'pty_resized') seen.resized.push(`${i.event.cols}x${i.event.rows}`);
  });
  client.on('notice', (n) => seen.notices.push(n.code));
  client.subscribe(runId);
  client.start();
  return { client, seen };
}

test('--pty: any command in a real terminal; operators type into it and resize it', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const { client, seen } = watch(g, run.id);
  t.after(() => client.close());
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--spool-dir', tempDir(), '--quiet', '--pty', '--pty-size', '120x40', '--', 'sh', '-c', 'tty >/dev/null && echo is-a-tty; stty size; read a; echo "got:$a"; read b; stty size'],
    { CCG_RUN_TOKEN: run.token },
  );
  t.after(() => runner.child.kill('SIGKILL'));
  await waitFor(() => (seen.screen.includes('40 120') ? true : undefined), 15_000, `the initial size; screen: ${JSON.stringify(seen.screen)}`);
  assert.ok(seen.screen.includes('is-a-tty'));
  const show = JSON.parse((await runCli(['runs', 'show', run.id, '--json'], g.env)).stdout) as { run: RunSummary };
  assert.equal(show.run.runner?.pty, true);

  const typed = await runCli(['runs', 'input', run.id, 'hello pty', '--enter'], g.env);
  assert.equal(typed.code, 0, typed.stderr);
  await waitFor(() => (seen.screen.includes('got:hello pty') ? true : undefined), 10_000, 'the typed line echoed back');

  assert.ok(client.resize(run.id, 100, 30));
  await waitFor(() => (seen.resized.includes('100x30') ? true : undefined), 10_000, 'the resize event');
  assert.ok(client.sendInput(run.id, { data: Buffer.from('\r') }));
  const { code } = await runner.exited;
  assert.equal(code, 0, runner.stderr());
  await waitFor(() => (seen.screen.includes('30 100') ? true : undefined), 10_000, 'the new size inside the terminal');
  assert.deepEqual(seen.resized, ['120x40', '100x30']);
  assert.deepEqual(seen.notices, []);
});

test('--pty --cmd: interactive claude in a terminal, its screen streamed, a prompt typed by an operator reaches it, cancel ends it', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const api = await startModelApi([{ text: 'Hello from the pty stand-in.' }, { text: 'Second answer in the pty.' }]);
  t.after(() => api.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const cwd = tempDir('ccg-pty-ws-');
  const env = claudeEnv(api.url);
  trustForInteractive(env, cwd);
  const { client, seen } = watch(g, run.id);
  t.after(() => client.close());
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--spool-dir', tempDir(), '--quiet', '--pty', '--grace', '2s', '--cwd', cwd, '--claude-bin', claudeBinary(), '--cmd=--model=opus say hi'],
    { ...env, CCG_RUN_TOKEN: run.token },
  );
  t.after(() => runner.child.kill('SIGKILL'));
  await api.waitForRequests(1, 60_000);
  // A prompt that starts with '-' is the prompt, not an option of Claude's (a gateway chose it).
  assert.equal(lastUserText(api.requests[0]!), '--model=opus say hi');
  await waitFor(() => (squash(seen.screen).includes('Hellofromtheptystand-in.') ? true : undefined), 30_000, 'the answer on the streamed screen');

  // Type a follow-up the way a person would: the text, then Enter.
  assert.equal((await runCli(['runs', 'input', run.id, 'again please'], g.env)).code, 0);
  // Enter only once Claude shows the text in its prompt: sent together, they would read as a paste.
  await waitFor(() => (squash(seen.screen).includes('againplease') ? true : undefined), 30_000, 'the typed text on the streamed screen');
  assert.equal((await runCli(['runs', 'input', run.id, '\r'], g.env)).code, 0);
  await api.waitForRequests(2, 30_000);
  assert.equal(lastUserText(api.requests[1]!), 'again please');
  await waitFor(() => (squash(seen.screen).includes('Secondanswerinthepty.') ? true : undefined), 30_000, 'the second answer');

  assert.equal((await runCli(['runs', 'cancel', run.id], g.env)).code, 0);
  await runner.exited;
  const show = JSON.parse((await runCli(['runs', 'show', run.id, '--json'], g.env)).stdout) as { run: RunSummary };
  assert.equal(show.run.status, 'cancelled');
});

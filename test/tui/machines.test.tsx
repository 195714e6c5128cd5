import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { test } from 'node:test';
import { RunResponse } from '../../protocol/api.js';
import { claudeBinary, claudeEnv } from '../helpers/claude.js';
import { runCli } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';
import { startMachine } from '../helpers/machine.js';
import { lastUserText, startModelApi } from '../helpers/model-api.js';
import { waitFor } from '../helpers/processes.js';
import { gitWorkspace } from '../helpers/workspace.js';
import { KEYS, startTui } from './harness.js';

/**
 * The console and machines: with a machine online, `n` offers to start Claude there (workspace,
 * prompt, mode asked in the input line), the run starts on the real daemon and shows its reply;
 * `M` lists the machines.
 */
test('tui: n starts Claude on a machine, M lists the machines', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const api = await startModelApi([{ text: 'Started from the console.' }]);
  t.after(() => api.close());
  const repo = realpathSync(gitWorkspace());
  const machine = await startMachine(t, g, {
    name: 'tm1',
    config: { runnerArgs: ['--input-wait', '0', '--no-collect'], workspaces: { app: { dir: repo, modes: ['default', 'plan'] } } },
    env: claudeEnv(api.url), args: ['--claude-bin', claudeBinary()],
  });
  await machine.online();
  const tui = startTui({ url: g.url, token: g.operatorToken, fingerprint: g.fingerprint });
  t.after(() => tui.close());
  await tui.until((f) => f.includes('no runs yet'), 'the empty list');

  // `n` answers from the machines the console last fetched (at start, then every 5 s): until the
  // first answer is in, it is the plain name prompt, which Esc closes.
  await waitFor(async () => {
    await tui.press('n');
    const f = await tui.until((fr) => fr.includes('New run: start Claude on a machine (tm1)') || fr.includes('New run, name'), 'a new-run prompt');
    if (f.includes('New run: start Claude on a machine (tm1)')) return true;
    await tui.press(KEYS.escape);
    await tui.until((fr) => !fr.includes('New run, name'), 'the prompt closed');
    return undefined;
  }, 30_000, 'the machine offer');
  await tui.press(KEYS.enter);
  await tui.until((f) => f.includes('Prompt for Claude on tm1/app:'), 'the prompt');
  await tui.type('Prompt for Claude on tm1/app:', 'hello from the tui');
  await tui.press(KEYS.enter);
  await tui.until((f) => f.includes('Permission mode (default, plan): default'), 'the mode');
  await tui.press(KEYS.enter);
  const f = await tui.until((f) => /run [0-9a-z]{12} started on tm1/.test(f), 'started');
  const id = /run ([0-9a-z]{12}) started on tm1/.exec(f)![1]!;
  await tui.until((fr) => fr.includes('Started from the console.'), 'the reply in the output', 60_000);
  assert.equal(lastUserText(api.requests[0]!), 'hello from the tui');
  const run = await waitFor(async () => {
    const r = RunResponse.parse(JSON.parse((await runCli(['runs', 'show', id, '--json'], g.env)).stdout)).run;
    return r.status === 'exited' ? r : undefined;
  }, 60_000, 'the run ended');
  assert.equal(run.origin?.machine, 'tm1');

  await tui.press('M');
  await tui.until((fr) => fr.includes('Machines (1)') && /tm1\s+online/.test(fr), 'the machines screen');
  await tui.press(KEYS.escape);
  await tui.until((fr) => !fr.includes('Machines (1)'), 'back');
});

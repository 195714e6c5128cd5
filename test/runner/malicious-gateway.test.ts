import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { FakeGateway } from '../helpers/fake-gateway.js';
import { tempDir } from '../helpers/gateway.js';
import { spawnCcg, waitFor, type Proc } from '../helpers/processes.js';
import { GIT_ENV } from '../helpers/workspace.js';

const RUN_ID = '7k2m9x4q3w8z';
const TOKEN = `ccgr_${randomBytes(32).toString('base64url')}`;

function id(): string {
  return randomBytes(16).toString('base64url');
}

/** A git workspace with one commit, and an allowlist file outside it. */
function setup(commands: unknown[]): { ws: string; allowlist: string } {
  const ws = tempDir('ccg-ws-');
  writeFileSync(join(ws, 'README'), 'hello\n');
  for (const args of [['init', '-q'], ['add', 'README'], ['commit', '-q', '-m', 'first']]) {
    const r = spawnSync('git', args, { cwd: ws, env: { ...process.env, ...GIT_ENV } });
    assert.equal(r.status, 0, r.stderr.toString());
  }
  const allowlist = join(tempDir('ccg-conf-'), 'allowlist.json');
  writeFileSync(allowlist, JSON.stringify({ commands }));
  return { ws, allowlist };
}

function startRunner(fake: FakeGateway, ws: string, allowlist: string, env: Record<string, string> = {}): Proc {
  return spawnCcg(
    ['runner', 'start', '--run-id', RUN_ID, '--gateway', fake.url, '--allowlist', allowlist, '--cwd', ws, '--quiet', '--no-collect', '--spool-dir', tempDir(), '--', 'sleep', '120'],
    { CCG_RUN_TOKEN: TOKEN, ...env },
  );
}

async function stopRunner(fake: FakeGateway, runner: Proc): Promise<void> {
  if (runner.child.exitCode === null) {
    try {
      fake.send({ type: 'cancel', by: 'the test' });
    } catch {
      runner.child.kill('SIGKILL');
    }
  }
  await runner.exited;
}

const isAnswer = (rid: string) => (e: RunnerEvent) => 'requestId' in e && e.requestId === rid && e.type !== 'exec_started' && e.type !== 'collect_started';

test('a malicious gateway gets every off-list, smuggled, injected, oversized or replayed request refused, and nothing runs', async (t) => {
  const fake = await FakeGateway.start();
  t.after(() => fake.close());
  const { ws, allowlist } = setup([
    { name: 'mk', argv: ['touch', 'canary-mk'] },
    { name: 'show', argv: ['git', 'log', '-n', '1', '{rev}'], params: { rev: { pattern: '[A-Za-z0-9_.~^/]{1,64}' } } },
    { name: 'lenient', argv: ['git', 'log', '-n', '1', '{rev}'], params: { rev: { pattern: '.+' } } },
    { name: 'echo', argv: ['echo', '{msg}'], params: { msg: { pattern: '.{1,200}' } } },
  ]);
  const canaryOpt = join(ws, 'canary-opt');
  // Before the welcome nothing may run: a valid request there is ignored, not executed.
  const early = id();
  fake.beforeWelcome = (sock, n) => {
    if (n <= 2) sock.send(JSON.stringify({ type: 'exec', requestId: early, name: 'mk', params: {} }));
  };
  const runner = startRunner(fake, ws, allowlist);
  t.after(() => stopRunner(fake, runner));
  await fake.connected();
  assert.deepEqual(fake.hello?.commands.map((c) => c.name), ['mk', 'show', 'lenient', 'echo'], 'the runner advertises names only');
  assert.ok(!JSON.stringify(fake.hello).includes('touch'), 'argv is never advertised');
  await waitFor(() => (fake.texts.some((m) => m['type'] === 'started') ? true : undefined), 10_000, 'started');

  const first = id();
  const refused: [string, Record<string, unknown>][] = [
    ['a name not on the list', { type: 'exec', requestId: first, name: 'rm', params: {} }],
    ['argv in the name', { type: 'exec', requestId: id(), name: 'mk extra-arg', params: {} }],
    ['shell metacharacters in the name', { type: 'exec', requestId: id(), name: 'mk;touch pwned', params: {} }],
    ['command substitution in the name', { type: 'exec', requestId: id(), name: '$(touch pwned)', params: {} }],
    ['NUL in the name', { type: 'exec', requestId: id(), name: 'mk\u0000', params: {} }],
    ['another case', { type: 'exec', requestId: id(), name: 'MK', params: {} }],
    ['argv smuggled as an extra field', { type: 'exec', requestId: id(), name: 'mk', params: {}, argv: ['touch', 'pwned'] }],
    ['cwd and env smuggled', { type: 'exec', requestId: id(), name: 'echo', params: { msg: 'x' }, cwd: '/', env: { LD_PRELOAD: '/tmp/x.so' } }],
    ['; in a parameter', { type: 'exec', requestId: id(), name: 'show', params: { rev: 'HEAD;touch pwned' } }],
    ['$() in a parameter', { type: 'exec', requestId: id(), name: 'show', params: { rev: '$(touch pwned)' } }],
    ['backticks in a parameter', { type: 'exec', requestId: id(), name: 'show', params: { rev: '`touch pwned`' } }],
    ['a pipe in a parameter', { type: 'exec', requestId: id(), name: 'show', params: { rev: 'HEAD | touch pwned' } }],
    ['option injection (--output)', { type: 'exec', requestId: id(), name: 'lenient', params: { rev: `--output=${canaryOpt}` } }],
    ['option injection (short)', { type: 'exec', requestId: id(), name: 'lenient', params: { rev: `-o${canaryOpt}` } }],
    ['NUL in a parameter', { type: 'exec', requestId: id(), name: 'lenient', params: { rev: `HEAD\u0000--output=${canaryOpt}` } }],
    ['a newline in a parameter', { type: 'exec', requestId: id(), name: 'lenient', params: { rev: `HEAD\n--output=${canaryOpt}` } }],
    ['an undeclared parameter', { type: 'exec', requestId: id(), name: 'show', params: { rev: 'HEAD', output: canaryOpt } }],
    ['a missing parameter', { type: 'exec', requestId: id(), name: 'show', params: {} }],
    ['a parameter named like a prototype member', { type: 'exec', requestId: id(), name: 'show', params: { constructor: 'HEAD' } }],
    ['a name over 64 characters', { type: 'exec', requestId: id(), name: 'm'.repeat(65), params: {} }],
    ['a parameter value over 1024 characters', { type: 'exec', requestId: id(), name: 'lenient', params: { rev: 'a'.repeat(1025) } }],
    ['nine parameters', { type: 'exec', requestId: id(), name: 'show', params: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`p${i}`, 'x'])) }],
    ['params as an argv array', { type: 'exec', requestId: id(), name: 'mk', params: ['--output=x'] }],
    ['a name that is not a string', { type: 'exec', requestId: id(), name: ['mk'], params: {} }],
    ['an assist session the runner does not allow', { type: 'assist', requestId: id(), action: 'start' }],
    ['a collect request smuggling a glob', { type: 'collect', requestId: id(), globs: ['/etc/**'] }],
    ['the replay of a used request id, for a valid command', { type: 'exec', requestId: first, name: 'mk', params: {} }],
  ];
  for (const [, msg] of refused) fake.send(msg);
  // `__proto__` has to travel as raw JSON: an object literal would set the prototype instead.
  const protoId = id();
  fake.send(`{"type":"exec","requestId":"${protoId}","name":"show","params":{"__proto__":{"rev":"HEAD"}}}`);
  refused.push(['__proto__ in params', { requestId: protoId }]);
  const rawProto = id();
  fake.send(`{"type":"exec","requestId":"${rawProto}","name":"show","params":{"__proto__":"HEAD"}}`);
  refused.push(['__proto__ as a parameter name', { requestId: rawProto }]);

  // Messages with no usable request id cannot even be refused by id: they must simply do nothing.
  fake.send({ type: 'exec', requestId: 'short', name: 'mk', params: {} });
  fake.send({ type: 'exec', name: 'mk', params: {} });
  fake.send({ type: 'exec', requestId: `${'a'.repeat(65)}`, name: 'mk', params: {} });
  fake.send({ type: 'shell', cmd: 'touch pwned' });
  fake.send({ type: 'run', argv: ['touch', 'pwned'] });
  fake.send('touch pwned');
  fake.send(Buffer.from('touch pwned'));

  for (const [what, msg] of refused) {
    const rid = msg['requestId'] as string;
    const answer = await fake.event(isAnswer(rid), 15_000, `the answer to: ${what}`);
    assert.match(answer.type, /_refused$|^collect_done$/, `${what}: refused (${JSON.stringify(answer)})`);
    if (answer.type === 'collect_done') assert.match(answer.error ?? '', /malformed/, what);
  }
  // An id spent on a malformed request is spent too.
  const smuggled = refused.find(([what]) => what === 'argv smuggled as an extra field')![1]['requestId'] as string;
  fake.send({ type: 'exec', requestId: smuggled, name: 'mk', params: {} });
  await waitFor(() => (fake.events.filter((e) => 'requestId' in e && e.requestId === smuggled).length === 2 ? true : undefined), 15_000, 'the second refusal');
  assert.match((fake.events.filter((e) => 'requestId' in e && e.requestId === smuggled)[1] as { reason: string }).reason, /replay/);
  const replay = fake.events.filter((e) => e.type === 'exec_refused' && e.requestId === first);
  assert.equal(replay.length, 2, 'the replay of the first id is refused as such');
  assert.match((replay[1] as { reason: string }).reason, /replay/);

  // A frame larger than the runner accepts drops the connection; the runner reconnects (and
  // again ignores the valid request sent before the second welcome) and still runs nothing.
  fake.send({ type: 'exec', requestId: id(), name: 'mk', params: { pad: 'x'.repeat(2 * 1024 * 1024) } });
  await fake.connected(2);
  const sentinel = id();
  fake.send({ type: 'exec', requestId: sentinel, name: 'not-a-command', params: {} });
  await fake.event(isAnswer(sentinel), 15_000, 'the sentinel');

  assert.equal(fake.events.filter((e) => e.type === 'exec_started').length, 0, 'no command started');
  assert.ok(!fake.events.some((e) => 'requestId' in e && e.requestId === early), 'requests before the welcome are ignored');
  assert.deepEqual(readdirSync(ws).sort(), ['.git', 'README'], 'no canary, no "pwned": nothing ran');

  // Positive controls: the canaries are real. A valid request creates its file; the same id again
  // is refused; git really writes a file for --output (what the option-injection attempt wanted).
  const ok = id();
  fake.send({ type: 'exec', requestId: ok, name: 'mk', params: {} });
  const exit = await fake.event(isAnswer(ok), 15_000, 'mk to run');
  assert.equal(exit.type, 'exec_exit');
  assert.ok(existsSync(join(ws, 'canary-mk')), 'the allowed command ran');
  rmSync(join(ws, 'canary-mk'));
  fake.send({ type: 'exec', requestId: ok, name: 'mk', params: {} });
  await waitFor(() => (fake.events.filter((e) => 'requestId' in e && e.requestId === ok && e.type === 'exec_refused').length ? true : undefined), 15_000, 'the replay refusal');
  assert.ok(!existsSync(join(ws, 'canary-mk')), 'a replayed id runs nothing');
  spawnSync('git', ['log', '-n', '1', `--output=${canaryOpt}`], { cwd: ws });
  assert.ok(existsSync(canaryOpt), 'git log --output writes a file: the injection would have worked');

  // No shell: metacharacters in an allowed parameter reach the command as one literal argument.
  const lit = '$(touch pwned) `id` ; | && *';
  const echo = id();
  fake.send({ type: 'exec', requestId: echo, name: 'echo', params: { msg: lit } });
  await fake.event(isAnswer(echo), 15_000, 'echo');
  assert.ok(fake.commandText().includes(`${lit}\n`), fake.commandText());
  assert.ok(!existsSync(join(ws, 'pwned')));
});

test('allowlisted commands: timeouts kill the whole process group, output is capped, the environment is scrubbed, output is redacted', async (t) => {
  const fake = await FakeGateway.start();
  t.after(() => fake.close());
  const ghp = 'ghp_' + 'Zx9Qw8Er7T'.repeat(4);
  const { ws, allowlist } = setup([
    // The background sleep is a grandchild in the command's process group; it writes its pid first.
    { name: 'sleepy', argv: ['sh', '-c', 'sleep 300 & echo $! > bg.pid; wait'], timeout: '1s' },
    { name: 'big', argv: ['sh', '-c', 'yes 0123456789 | head -c 300000'], maxOutputBytes: 1000 },
    { name: 'env', argv: ['env'] },
    { name: 'leak', argv: ['printf', '%s\\n', ghp] },
    { name: 'fail', argv: ['sh', '-c', 'echo failing >&2; exit 3'] },
  ]);
  const runner = startRunner(fake, ws, allowlist, { DB_PASSWORD: 'correct-horse-battery', ANTHROPIC_API_KEY: 'sk-ant-api03-' + 'k'.repeat(40) });
  t.after(() => stopRunner(fake, runner));
  await fake.connected();
  await waitFor(() => (fake.texts.some((m) => m['type'] === 'started') ? true : undefined), 10_000, 'started');

  const run = async (name: string) => {
    const rid = id();
    const before = fake.commandOutput.length;
    fake.send({ type: 'exec', requestId: rid, name, params: {} });
    const ev = await fake.event(isAnswer(rid), 20_000, `${name} to finish`);
    assert.equal(ev.type, 'exec_exit', JSON.stringify(ev));
    return { ev: ev as Extract<RunnerEvent, { type: 'exec_exit' }>, out: Buffer.concat(fake.commandOutput.slice(before)).toString('utf8') };
  };

  const sleepy = await run('sleepy');
  assert.equal(sleepy.ev.timedOut, true);
  assert.match(sleepy.out, /timed out after 1 s/);
  const bgPid = Number(readFileSync(join(ws, 'bg.pid'), 'utf8'));
  assert.ok(bgPid > 0);
  await waitFor(() => {
    try {
      process.kill(bgPid, 0);
      return undefined;
    } catch {
      return true; // ESRCH: the grandchild is gone with its group
    }
  }, 10_000, 'the background grandchild to be killed');

  const big = await run('big');
  assert.equal(big.ev.truncated, true);
  assert.ok(big.out.startsWith('0123456789\n'.repeat(90)));
  assert.ok(big.out.length < 1200, `capped at 1000 bytes plus the note (${big.out.length})`);
  assert.match(big.out, /truncated at 1000 bytes/);

  const env = await run('env');
  assert.equal(env.ev.code, 0);
  assert.match(env.out, /^PATH=/m, 'harmless variables pass');
  assert.ok(!env.out.includes('DB_PASSWORD') && !env.out.includes('correct-horse'), 'secret variables do not reach commands');
  assert.ok(!env.out.includes('ANTHROPIC_API_KEY') && !env.out.includes('CCG_RUN_TOKEN'), env.out);

  const leak = await run('leak');
  assert.equal(leak.out, '[REDACTED:github]\n', 'command output is redacted before it leaves the runner');

  const fail = await run('fail');
  assert.equal(fail.ev.code, 3);
  assert.equal(fail.out, 'failing\n');
});

test('a gateway that lost output it had acknowledged is told so plainly, and the runner keeps its child and retries instead of hanging', async (t) => {
  const fake = await FakeGateway.start();
  t.after(() => fake.close());
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', RUN_ID, '--gateway', fake.url, '--quiet', '--no-collect', '--spool-dir', tempDir(), '--', process.execPath, '-e', 'let i = 0; setInterval(() => console.log(`line ${++i}`), 20)'],
    { CCG_RUN_TOKEN: TOKEN },
  );
  t.after(() => runner.child.kill('SIGKILL'));
  await fake.connected();
  await waitFor(() => (fake.receivedSeq >= 5 ? true : undefined), 15_000, 'five chunks acknowledged');
  // The gateway's store is replaced by an empty one (say, restored from an old backup).
  fake.receivedSeq = 0;
  fake.drop();
  await waitFor(() => (/asks for output from seq 1, but it acknowledged everything before seq \d+ .*lost stored output; reconnecting/.test(runner.stderr()) ? true : undefined), 15_000, 'the runner saying what the gateway did');
  assert.equal(runner.child.exitCode, null, 'the runner (and its child) go on');
  assert.equal(fake.receivedSeq, 0, 'nothing was sent past the gap');
});

test("a collect runs no filter driver the workspace's git config names (an edit-only Claude can write .git/config)", async (t) => {
  const fake = await FakeGateway.start();
  t.after(() => fake.close());
  const { ws, allowlist } = setup([]);
  const canary = join(tempDir('ccg-canary-'), 'ran');
  // What an agent allowed only to edit files can write inside the workspace.
  // Long entries first: a list of drivers read only in part left the last ones on.
  const junk = Array.from({ length: 20 }, (_, i) => `[filter "junk${i}"]\n\tclean = cat ${'x'.repeat(60_000)}\n`).join('');
  writeFileSync(join(ws, '.git', 'config'), `${readFileSync(join(ws, '.git', 'config'), 'utf8')}${junk}[filter "x"]\n\tclean = "touch ${canary}.clean; cat"\n[filter "p.q"]\n\tprocess = "touch ${canary}.process; false"\n`);
  writeFileSync(join(ws, '.gitattributes'), 'README filter=x\nother.txt filter=p.q\n');
  writeFileSync(join(ws, 'README'), 'changed\n');
  writeFileSync(join(ws, 'other.txt'), 'new\n');
  spawnSync('git', ['add', '-N', 'other.txt'], { cwd: ws, env: { ...process.env, ...GIT_ENV, GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'filter.p.q.process', GIT_CONFIG_VALUE_0: '' } });
  const runner = startRunner(fake, ws, allowlist);
  t.after(() => stopRunner(fake, runner));
  await fake.connected();
  const rid = id();
  fake.send({ type: 'collect', requestId: rid });
  const done = await fake.event(isAnswer(rid), 30_000, 'the collection');
  assert.equal(done.type, 'collect_done', JSON.stringify(done));
  assert.ok(!existsSync(`${canary}.clean`) && !existsSync(`${canary}.process`), 'no filter ran');
  // Positive control: the filters are real, and git runs them when nobody switches them off.
  spawnSync('git', ['diff'], { cwd: ws });
  assert.ok(existsSync(`${canary}.clean`), 'git diff runs the clean filter');
});

test('an exit_ack before the runner sent its exit is ignored; a welcome saying the run ended stops the child, and the runner ends with it', async (t) => {
  const fake = await FakeGateway.start();
  t.after(() => fake.close());
  const { ws, allowlist } = setup([]);
  const spool = tempDir('ccg-spool-');
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', RUN_ID, '--gateway', fake.url, '--allowlist', allowlist, '--cwd', ws, '--quiet', '--no-collect', '--grace', '1s', '--spool-dir', spool, '--', 'sh', '-c', 'echo started; while true; do echo tick; sleep 0.05; done'],
    { CCG_RUN_TOKEN: TOKEN },
  );
  t.after(() => stopRunner(fake, runner));
  await fake.connected();
  const pid = (await waitFor(() => fake.texts.find((m) => m.type === 'started'), 15_000, 'the child')).pid as number;
  fake.send({ type: 'exit_ack' });
  // Still running, still streaming: output after the bogus ack arrives (a sentinel, not a sleep).
  const seen = fake.childOutput.length;
  await waitFor(() => (fake.childOutput.length > seen + 2 ? true : undefined), 15_000, 'output after the bogus exit_ack');
  assert.equal(runner.child.exitCode, null, 'the runner runs on');
  assert.ok(existsSync(join(spool, RUN_ID)), 'its spool is kept');
  // Reconnected, the gateway says the run has ended (cancelled while the runner was away).
  fake.beforeWelcome = (sock) => {
    sock.send(JSON.stringify({ type: 'welcome', v: 1, runId: RUN_ID, nextSeq: 1, finished: true, exitCode: null, serverTime: Date.now(), limits: { maxChunkBytes: 262144, maxRunBytes: 2 ** 32 } }));
  };
  fake.drop();
  const code = await runner.exited;
  assert.notEqual(code, null, `the runner ended: ${runner.stderr()}`);
  assert.throws(() => process.kill(pid, 0), 'the child was stopped');
  assert.doesNotMatch(runner.stderr(), /ENOENT|Uncaught|TypeError/, runner.stderr());
});

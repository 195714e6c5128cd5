import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApiClient, MAX_JSON_RESPONSE_BYTES } from '../../cli/client/api.js';
import { CliError } from '../../cli/exit-codes.js';
import { createTuiApi } from '../../cli/tui/api.js';
import { ensureCertificate } from '../../server/tls.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/gateway.js';
import { CCG_BIN } from '../helpers/processes.js';

/**
 * A gateway that lies: a real HTTP(S) server on 127.0.0.1 answering each route with whatever the
 * test says (malformed JSON, wrong shapes, huge extra fields), and the real commands run against
 * it in-process. Every lie must end as one clear error line and exit 1, never a crash or a
 * half-printed answer; every good answer still works.
 */

type Answer = { status?: number; body: string | Buffer } | ((res: http.ServerResponse) => void);

interface Liar {
  url: string;
  fingerprint: string | null;
  /** What `METHOD /path` (query ignored) answers from now on. */
  answer(route: string, a: Answer | unknown): void;
  close(): Promise<void>;
}

async function startLiar(tls = false): Promise<Liar> {
  const routes = new Map<string, Answer>();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    const route = `${req.method} ${new URL(req.url ?? '/', 'http://x').pathname}`;
    const a = routes.get(route);
    if (!a) return void res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: `no ${route}` } }));
    if (typeof a === 'function') return a(res);
    res.writeHead(a.status ?? 200, { 'content-type': 'application/json' }).end(a.body);
  };
  let server: http.Server;
  let fingerprint: string | null = null;
  if (tls) {
    const files = ensureCertificate(tempDir('ccg-liar-tls-'), {});
    fingerprint = files.fingerprint;
    server = https.createServer({ cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) }, handler);
  } else {
    server = http.createServer(handler);
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    fingerprint,
    answer(route, a) {
      const isAnswer = typeof a === 'function' || (typeof a === 'object' && a !== null && 'body' in a);
      routes.set(route, isAnswer ? (a as Answer) : { body: JSON.stringify(a) });
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const RUN_ID = '7k2m9x4q3w8z';
const TOKEN = `ccgo_${'a'.repeat(43)}`;

const summary = (over: Record<string, unknown> = {}) => ({
  id: RUN_ID,
  name: 'nightly',
  status: 'running',
  runnerConnected: true,
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  startedAt: 1_700_000_000_000,
  endedAt: null,
  exitCode: null,
  signal: null,
  reason: null,
  lastSeq: 3,
  bytes: 12,
  createdBy: 'admin',
  runner: null,
  ...over,
});

async function liar(t: { after: (fn: () => Promise<void>) => void }, tls = false) {
  const l = await startLiar(tls);
  t.after(() => l.close());
  const env = { CCG_GATEWAY: l.url, CCG_TOKEN: TOKEN, ...(l.fingerprint ? { CCG_FINGERPRINT: l.fingerprint } : {}) };
  return { l, env };
}

/** The one error line a lie must end as: no stack, no escape sequence, exit 1. */
function assertRefused(r: { code: number; stdout: string; stderr: string }, route: string, detail: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '', 'nothing half-printed');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.ok(lines[0]!.startsWith(`ccg: gateway sent an unexpected response to ${route}: `), lines[0]);
  assert.match(lines[0]!, detail);
  assert.doesNotMatch(r.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, 'no control character reaches the terminal');
  assert.ok(lines[0]!.length < 700, 'bounded');
}

test('malformed JSON, a wrong top-level type or a missing field is one clear error, exit 1', async (t) => {
  const { l, env } = await liar(t);
  l.answer('GET /api/v1/runs', { body: '{"runs": [' });
  assertRefused(await runCli(['runs', 'list'], env), 'GET /api/v1/runs?limit=50', /: not JSON$/);

  l.answer('GET /api/v1/runs', []);
  assertRefused(await runCli(['runs', 'list'], env), 'GET /api/v1/runs?limit=50', /\(the whole answer\): .*expected object/);

  const { lastSeq: _, ...noLastSeq } = summary();
  l.answer('GET /api/v1/runs', { runs: [summary(), noLastSeq] });
  assertRefused(await runCli(['runs', 'list'], env), 'GET /api/v1/runs?limit=50', /runs\[1\]\.lastSeq: .*expected number/);

  l.answer(`GET /api/v1/runs/${RUN_ID}`, { run: summary({ status: 'exploded', name: { toString: 1 } }) });
  assertRefused(await runCli(['runs', 'show', RUN_ID], env), `GET /api/v1/runs/${RUN_ID}`, /run\.(status|name): /);

  // --json: the same, as the one JSON error line scripts read.
  const j = await runCli(['runs', 'show', RUN_ID, '--json'], env);
  assert.equal(j.code, 1);
  assert.equal(j.stdout, '');
  const err = (JSON.parse(j.stderr) as { error: { code: string; message: string; exit: number } }).error;
  assert.deepEqual([err.code, err.exit], ['ERR_BAD_RESPONSE', 1]);
  assert.match(err.message, /^gateway sent an unexpected response to GET \/api\/v1\/runs\/7k2m9x4q3w8z: run\./);
});

/** bin/ccg itself, spawned: the bundle, whose runs list and runs approve check answers by plan before zod. */
async function runBundled(argv: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CCG_BIN, ...argv], { env: { PATH: process.env['PATH'], HOME: tempDir('ccg-home-'), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code: code ?? -1, stdout, stderr };
}

test('bin/ccg (the bundle) refuses the same lies in the same words: what its plans do not accept, zod judges', async (t) => {
  const { l, env } = await liar(t, true);
  const list = 'GET /api/v1/runs?limit=50';
  const { lastSeq: _, ...noLastSeq } = summary();
  const lies: [unknown, RegExp][] = [
    [[], /\(the whole answer\): .*expected object/],
    [{ runs: [summary(), noLastSeq] }, /runs\[1\]\.lastSeq: .*expected number/],
    [{ runs: [summary({ status: 'exploded' })] }, /runs\[0\]\.status: /],
    [{ runs: [summary({ bytes: -1 })] }, /runs\[0\]\.bytes: /],
    [{ runs: [summary({ runner: { hostname: 'h', pid: 1, version: '1', mode: 'command', command: [], cwd: '/', remote: { input: true, approval: true, evil: 1 } } })] }, /runs\[0\]\.runner\.remote: /],
  ];
  for (const [body, detail] of lies) {
    l.answer('GET /api/v1/runs', body);
    const spawned = await runBundled(['runs', 'list'], env);
    assertRefused(spawned, list, detail);
    assert.equal(spawned.stderr, (await runCli(['runs', 'list'], env)).stderr, 'the same words as the unbundled command');
  }
  // A good answer, with fields this ccg does not know: dropped, as zod drops them.
  l.answer('GET /api/v1/runs', { runs: [summary({ future: '\u001b[31mred' })], more: true });
  const ok = await runBundled(['runs', 'list', '--json'], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout), { runs: [summary()] });

  const approval = `POST /api/v1/runs/${RUN_ID}/approvals/aJx2bbbbbbbbbbbbbbbbbbbbbb`;
  l.answer(approval, { approval: { approvalId: 'aJx2bbbbbbbbbbbbbbbbbbbbbb', toolName: 'Bash' } });
  const refused = await runBundled(['runs', 'approve', RUN_ID, 'aJx2bbbbbbbbbbbbbbbbbbbbbb'], env);
  assertRefused(refused, approval, /approval\.displayName: /);
  l.answer(approval, { approval: { approvalId: 'aJx2bbbbbbbbbbbbbbbbbbbbbb', toolName: 'Bash', displayName: null, toolUseId: null, input: { command: 'x'.repeat(70_000) }, inputTruncated: false, description: null, blockedPath: null, rule: null, expiresAt: 1, runId: RUN_ID, state: 'answered', requestedAt: 1, answer: null, resolution: null } });
  assertRefused(await runBundled(['runs', 'approve', RUN_ID, 'aJx2bbbbbbbbbbbbbbbbbbbbbb'], env), approval, /approval\.input: JSON value larger than/);
});

test('every command that reads a JSON answer checks it: create, cancel, commands, exec, collect, artifacts, assist, approvals, input, policy', async (t) => {
  const { l, env } = await liar(t);
  const base = `/api/v1/runs/${RUN_ID}`;
  const cases: [string[], string, unknown, RegExp][] = [
    [['runs', 'create'], 'POST /api/v1/runs', { id: RUN_ID, token: 'ccgr_x', run: summary() }, /runnerCommand: /],
    [['runs', 'cancel', RUN_ID], `POST ${base}/cancel`, { run: summary(), delivered: 'yes' }, /delivered: /],
    [['runs', 'commands', RUN_ID], `GET ${base}/commands`, { connected: true, commands: [{ name: 42 }] }, /commands\[0\]\.name: /],
    [['runs', 'exec', RUN_ID, 'status'], `POST ${base}/exec`, { requestId: 'r1', fromSeq: -4 }, /fromSeq: /],
    [['runs', 'collect', RUN_ID], `POST ${base}/collect`, { requestId: null, fromSeq: 1 }, /requestId: /],
    [['runs', 'artifacts', RUN_ID], `GET ${base}/artifacts`, { artifacts: {} }, /artifacts: /],
    [['runs', 'assist', RUN_ID, 'show'], `GET ${base}/assist`, { enabled: 'true', maxMinutes: null, assist: null }, /enabled: /],
    [['runs', 'assist', RUN_ID, 'start'], `POST ${base}/assist`, { fromSeq: 1 }, /requestId: /],
    [['runs', 'approvals', RUN_ID], `GET ${base}/approvals`, { approvals: [{ approvalId: 'x' }] }, /approvals\[0\]\./],
    [['runs', 'input', RUN_ID, 'hello'], `POST ${base}/input`, { inputId: 7, fromSeq: 1 }, /inputId: /],
    [['policy', 'show'], 'GET /api/v1/policy', { policy: { version: '1' } }, /policy\./],
  ];
  for (const [argv, route, body, detail] of cases) {
    l.answer(route, body);
    assertRefused(await runCli(argv, env), route.replace(/^(GET|POST) /, '$1 '), detail);
  }
});

test('huge extra fields are dropped, not printed; an answer past the size cap is refused unread', async (t) => {
  const { l, env } = await liar(t);
  const padding = 'P'.repeat(4 * 1024 * 1024);
  const created = { id: RUN_ID, token: 'ccgr_secret', runnerCommand: 'CCG_RUN_TOKEN=… ccg runner start', run: summary({ padding }), padding, evil: '\u001b]0;owned\u0007' };
  l.answer('POST /api/v1/runs', created);
  const r = await runCli(['runs', 'create', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(out).sort(), ['id', 'run', 'runnerCommand', 'token']);
  assert.ok(!r.stdout.includes('PPPP') && !r.stdout.includes('owned'), 'what the protocol does not define never reaches the output');

  // Past the cap: streamed, never buffered whole.
  let sent = 0;
  l.answer('GET /api/v1/runs', (res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const piece = Buffer.alloc(1024 * 1024, 0x20);
    res.write('{"runs":[],"x":"');
    const more = () => {
      while (sent <= MAX_JSON_RESPONSE_BYTES + 4 * piece.length) {
        sent += piece.length;
        if (!res.write(piece)) return void res.once('drain', more);
      }
      res.end('"}');
    };
    res.on('error', () => undefined);
    more();
  });
  assertRefused(await runCli(['runs', 'list'], env), 'GET /api/v1/runs?limit=50', new RegExp(`more than ${MAX_JSON_RESPONSE_BYTES} bytes$`));
});

test('hostile text in an answer (escape sequences in keys and values) is never echoed raw; a huge error body keeps the status line', async (t) => {
  const { l, env } = await liar(t, true);
  // AssistInfo is strict: an unknown key is the complaint, and its name is the gateway's text.
  const key = `\u001b]8;;https://evil.example\u0007click\u001b]8;;\u0007${'k'.repeat(2000)}`;
  l.answer(`GET /api/v1/runs/${RUN_ID}/assist`, {
    enabled: true,
    maxMinutes: 30,
    assist: { requestId: null, state: 'active', links: null, expiresAt: null, reason: null, updatedAt: 1, [key]: 1 },
  });
  const r = await runCli(['runs', 'assist', RUN_ID, 'show'], env);
  assertRefused(r, `GET /api/v1/runs/${RUN_ID}/assist`, /assist: /);
  assert.ok(!r.stderr.includes('evil.example\u0007'));

  // An error status with a body far past what is read: the status line, not a hang or a crash.
  l.answer(`GET /api/v1/runs/${RUN_ID}`, { status: 502, body: Buffer.alloc(8 * 1024 * 1024, 0x41) });
  const e = await runCli(['runs', 'show', RUN_ID], env);
  assert.equal(e.code, 1);
  assert.equal(e.stderr, 'ccg: gateway answered 502\n');
});

test('doctor checks the /healthz answer before reading the clock from it', async (t) => {
  const { l, env } = await liar(t);
  const clock = async () => {
    const r = await runCli(['doctor', '--data', tempDir(), '--json'], { ...env, CCG_CLAUDE_BIN: '/nonexistent/claude' });
    return (JSON.parse(r.stdout) as { checks: { name: string; level: string; detail: string }[] }).checks.find((c) => c.name === 'clock')!;
  };
  l.answer('GET /healthz', { ok: true, time: 'noon' });
  assert.deepEqual(await clock(), { name: 'clock', level: 'warn', detail: `${l.url} sent an unexpected /healthz answer` });
  l.answer('GET /healthz', { ok: true });
  assert.match((await clock()).detail, /does not report its time \(an older gateway\)/);
  l.answer('GET /healthz', { ok: true, time: Date.now() });
  assert.equal((await clock()).level, 'ok');
});

test('ccg login keeps nothing from a lying gateway; logout checks its answer too', async (t) => {
  const { l } = await liar(t);
  const home = tempDir('ccg-home-');
  const env = { XDG_CONFIG_HOME: home, CCG_PASSWORD: 'correct horse battery' };
  l.answer('POST /api/v1/login', { token: { value: 'ccgo_x' }, user: { name: 'admin', role: 'admin' } });
  const r = await runCli(['login', '--gateway', l.url, '--username', 'admin'], env);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^ccg: gateway sent an unexpected response to POST \/api\/v1\/login: token: /);
  assert.equal(existsSync(join(home, 'ccg', 'config.json')), false, 'no config saved');

  // A good answer is saved; a logout answer that does not say "revoked" keeps the login.
  l.answer('POST /api/v1/login', { token: TOKEN, user: { name: 'admin', role: 'admin' } });
  assert.equal((await runCli(['login', '--gateway', l.url, '--username', 'admin'], env)).code, 0);
  assert.equal(existsSync(join(home, 'ccg', 'config.json')), true);
  l.answer('POST /api/v1/logout', { revoked: 'maybe' });
  const out = await runCli(['logout'], env);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /^ccg: gateway sent an unexpected response to POST \/api\/v1\/logout: revoked: /);
  assert.equal(existsSync(join(home, 'ccg', 'config.json')), true, 'still signed in');
  l.answer('POST /api/v1/logout', { revoked: true });
  assert.equal((await runCli(['logout'], env)).code, 0);
  assert.equal(existsSync(join(home, 'ccg', 'config.json')), false);
});

test('the TUI API checks every answer it reads with the same error', async (t) => {
  const { l } = await liar(t);
  const api = createTuiApi(new ApiClient({ gateway: l.url, token: TOKEN, fingerprint: undefined }));
  l.answer(`GET /api/v1/runs/${RUN_ID}/chunks`, { chunks: [{ seq: 1, stream: 0, time: 1, data: 7 }], lastSeq: 1, more: false });
  l.answer('GET /api/v1/policy', { policy: null });
  l.answer(`POST /api/v1/runs/${RUN_ID}/cancel`, { run: summary({ lastSeq: -1 }), delivered: true });
  const refused = async (p: Promise<unknown>, re: RegExp) => {
    const err = await p.then(() => null, (e: unknown) => e);
    assert.ok(err instanceof CliError, String(err));
    assert.equal(err.code, 'ERR_BAD_RESPONSE');
    assert.match(err.message, re);
  };
  await refused(api.chunks(RUN_ID, { from: 1 }), /^gateway sent an unexpected response to GET \/api\/v1\/runs\/7k2m9x4q3w8z\/chunks\?from=1: chunks\[0\]\.data: /);
  await refused(api.getPolicy(), /GET \/api\/v1\/policy: policy: /);
  await refused(api.cancelRun(RUN_ID), /run\.lastSeq: /);
  // The TUI shows the message itself: control characters from the gateway are gone already.
  l.answer(`GET /api/v1/runs/${RUN_ID}/assist`, { enabled: true, maxMinutes: 5, assist: { requestId: null, state: 'active', links: null, expiresAt: null, reason: null, updatedAt: 1, '\u001b[2J\u009b31m': 1 } });
  await refused(api.assist(RUN_ID), /^[^\u0000-\u001f\u007f-\u009f]*assist: Unrecognized key/);
  // The good path: a valid answer comes back as the protocol types it.
  l.answer(`GET /api/v1/runs/${RUN_ID}/commands`, { connected: true, commands: [{ name: 'status', description: 'git status', params: [], timeoutMs: 60_000 }] });
  const cmds = await api.commands(RUN_ID);
  assert.deepEqual(cmds.mayRun, [], 'the schema default applies');
  assert.equal(cmds.commands[0]!.name, 'status');
});

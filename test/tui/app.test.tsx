import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { PolicyResponse } from '../../protocol/policy.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { spawnCcg, waitFor, type Proc } from '../helpers/processes.js';
import { freePort, startServe } from '../helpers/serve.js';
import { KEYS, startTui } from './harness.js';

const TICKER = fileURLToPath(new URL('../../../test/fixtures/ticker.mjs', import.meta.url));
const HELP_LINE = '↑↓ select  Enter output  n new  / filter  c cancel  r reconnect  ? help  q quit';
/** With a plain command run selected: its runner offers commands (status, diff, log by default). */
const HELP_RUN = '↑↓ select  Enter output  x commands  n new  / filter  c cancel  ? help  q quit';

const login = (g: TestGateway, token = g.operatorToken) => ({ url: g.url, token, fingerprint: g.fingerprint });

async function createRun(g: TestGateway, name: string): Promise<CreateRunResponse> {
  const r = await runCli(['runs', 'create', '--name', name, '--json'], g.env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as CreateRunResponse;
}

function startRunner(g: TestGateway, run: CreateRunResponse, args: string[]): Proc {
  return spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--spool-dir', tempDir(), '-q', '--', process.execPath, TICKER, ...args],
    { CCG_RUN_TOKEN: run.token },
  );
}

/** The output rows of a frame: between the output title bar and the input line. */
function outputRows(frame: string): string[] {
  const lines = frame.split('\n');
  const title = lines.findIndex((l, i) => i > 0 && l.startsWith('─ '));
  return lines.slice(title + 1, lines.length - 3);
}

test('tui: the list and the output update live, and every key in the help line does what it says', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const tui = startTui(login(g), { output: { tailBytes: 200, pageBytes: 200 } });
  t.after(() => tui.close());

  let f = await tui.until((f) => f.includes('no runs yet'), 'the empty list');
  assert.ok(f.includes(HELP_LINE), `the help line lists the keys:\n${f}`);
  assert.ok(f.includes('connected as operator.token (bootstrap) (admin)'));

  // Live list: a run created elsewhere appears, then turns running when its runner connects.
  const alpha = await createRun(g, 'alpha');
  await tui.until((f) => f.includes(alpha.id) && f.includes('created'), 'alpha in the list');
  const runner = startRunner(g, alpha, ['400', '40']);
  t.after(() => runner.child.kill('SIGKILL'));
  // Live output, followed; hostile sequences never reach the terminal.
  f = await tui.until((f) => /running\s+\S+ \S+\s+alpha/.test(f) && f.includes('tick 40'), 'alpha running with output');
  assert.ok(f.includes('alpha · running · following'));
  await tui.until((f) => f.includes('tick 60'), 'the output follows');
  for (const frame of [tui.frame()]) assert.equal(frame.includes('\x1b'), false, 'no escape sequence from the runner in the frame');

  // n: a new run, its id, its token once, the runner command.
  await tui.press('n');
  await tui.until((f) => f.includes('New run, name'), 'the name prompt');
  await tui.type('New run, name (Enter for a default):', 'beta');
  await tui.press(KEYS.enter);
  f = await tui.until((f) => f.includes('Token (shown once'), 'the new run screen');
  const created = /Run ([0-9a-z]{12}) created \(beta\)/.exec(f);
  assert.ok(created, f);
  const betaId = created[1]!;
  assert.match(f, /ccgr_[A-Za-z0-9_-]{43}/);
  assert.ok(f.includes('ccg runner start') && f.includes(`--run-id`) && f.includes(betaId));
  const listed = JSON.parse((await runCli(['runs', 'list', '--json'], g.env)).stdout) as { runs: { id: string; name: string }[] };
  assert.ok(listed.runs.some((r) => r.id === betaId && r.name === 'beta'), 'the run exists on the gateway');
  await tui.press(KEYS.escape);
  f = await tui.until((f) => f.includes('› created') && f.includes(betaId), 'beta selected in the list');

  // ↑/↓ select.
  await tui.press(KEYS.down);
  f = await tui.until((f) => /› running\s+\S+ \S+\s+alpha/.test(f), 'alpha selected');
  assert.ok(f.includes('alpha · running'));
  await tui.press(KEYS.up);
  await tui.until((f) => f.includes(`› created    ${betaId}`), 'beta selected again');
  await tui.press(KEYS.down);
  await tui.until((f) => /› running\s+\S+ \S+\s+alpha/.test(f), 'alpha selected again');

  // x: the commands the runner offers (the default allowlist) and this role may run; Esc closes.
  await tui.press('x');
  f = await tui.until((f) => f.includes('3 commands you may run') && f.includes('› status'), 'the commands panel');
  assert.ok(f.includes('diff') && f.includes('log'), f);
  await tui.press(KEYS.escape);
  await tui.until((f) => f.includes(HELP_RUN), 'the commands panel closed');

  // /: filter, live as typed; Esc in the prompt clears it.
  await tui.press('/');
  await tui.type('Filter:', 'alp');
  f = await tui.until((f) => f.includes('runs 1/2 matching "alp"'), 'the filter');
  assert.equal(f.includes(betaId), false);
  await tui.press(KEYS.enter);
  await tui.until((f) => f.includes('filter: alp'), 'the filter kept');
  await tui.press('/', KEYS.escape);
  await tui.until((f) => f.includes('runs 2 ') && f.includes(betaId), 'the filter cleared');

  // Enter: focus the output; PgUp scrolls back, g pages older output in from the store, f follows.
  await tui.press(KEYS.enter);
  f = await tui.until((f) => f.includes('PgUp older'), 'the output keys');
  await tui.press(KEYS.pageUp);
  await tui.until((f) => f.includes('scrolled back'), 'scrolled back');
  // Each g shows the top of what is loaded and pages in the one before (a g pressed while a page
  // loads goes to the new top once it is in): pressed until the start is on screen.
  await waitFor(async () => (tui.frame().includes('start of output') ? true : void (await tui.press('g'))), 30_000, 'the start of the output, paged in by g');
  f = tui.frame();
  assert.equal(outputRows(f)[0], 'tick 1', `the first line, sanitized:\n${f}`);
  assert.equal(outputRows(f)[1], 'tick 2');
  await tui.press('f');
  await tui.until((f) => f.includes('alpha · running · following'), 'following again');
  await tui.press(KEYS.escape);
  await tui.until((f) => f.includes(HELP_RUN), 'back in the list');

  // c: cancel, after a confirmation.
  await tui.press('c');
  await tui.until((f) => f.includes(`Cancel run ${alpha.id} (alpha)? y/n`), 'the confirmation');
  await tui.press('n');
  await tui.until((f) => f.includes('not done'), 'declined');
  await tui.press('c', 'y');
  await tui.until((f) => /› cancelled\s+\S+ \S+\s+alpha/.test(f), 'alpha cancelled');
  assert.equal((await runner.exited).code, 130);

  // r: reconnect now (a fresh socket and welcome).
  let welcomes = 0;
  tui.client.on('welcome', () => welcomes++);
  await tui.press('r');
  await waitFor(() => (welcomes >= 1 ? true : undefined), 10_000, 'a new welcome');
  await tui.until((f) => f.includes('● connected'), 'connected again');

  // ?: every key; ? closes it.
  await tui.press('?');
  f = await tui.until((f) => f.includes('Keys (Esc or ? closes)'), 'the keys screen');
  for (const word of ['select', 'output', 'new', 'filter', 'cancel', 'reconnect', 'policy', 'quit', 'follow', 'older']) assert.ok(f.includes(word), word);
  await tui.press('?');
  await tui.until((f) => f.includes(HELP_LINE), 'closed');

  // Resizes: the layout follows the size it is given.
  tui.rerender({ size: { columns: 60, rows: 16 } });
  f = await tui.until((f) => f.split('\n').length === 15, 'the smaller layout');
  assert.ok(f.split('\n').every((l) => l.length <= 60), f);
  tui.rerender({ size: { columns: 80, rows: 24 } });
  await tui.until((f) => f.split('\n').length === 23 && f.includes(HELP_LINE), 'back to 80×24');

  // q: quit.
  await tui.press('q');
  await waitFor(() => tui.exit(), 5000, 'exit');
  assert.deepEqual(tui.exit(), { code: 0 });
});

test('tui: "reconnecting…" while the gateway is down, then resumes with no line doubled or missing', async (t) => {
  // The gateway runs as its own process here, so that stopping it really drops every connection.
  const dataDir = tempDir();
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  let gw = await startServe(dataDir, port);
  t.after(() => gw.proc.child.kill('SIGKILL'));
  const g = { url: gw.url, fingerprint: gw.fingerprint, operatorToken: readFileSync(join(dataDir, 'operator.token'), 'utf8').trim() };
  const env = { CCG_GATEWAY: g.url, CCG_TOKEN: g.operatorToken, CCG_FINGERPRINT: g.fingerprint };
  const run = JSON.parse((await runCli(['runs', 'create', '--name', 'restart', '--json'], env)).stdout) as CreateRunResponse;
  const tui = startTui({ url: g.url, token: g.operatorToken, fingerprint: g.fingerprint }, { size: { columns: 80, rows: 200 } });
  t.after(() => tui.close());
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', run.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--spool-dir', tempDir(), '-q', '--', process.execPath, TICKER, '150', '40'],
    { CCG_RUN_TOKEN: run.token },
  );
  t.after(() => runner.child.kill('SIGKILL'));

  await tui.until((f) => f.includes('tick 30'), 'output flowing', 15_000);
  gw.proc.child.kill('SIGTERM');
  await gw.proc.exited;
  await tui.until((f) => f.includes('reconnecting…'), '"reconnecting…"');
  await new Promise((r) => setTimeout(r, 800));
  gw = await startServe(dataDir, port);
  const f = await tui.until((f) => f.includes('tick 150') && f.includes('exit 0'), 'the whole run, after the restart', 30_000);
  assert.ok(f.includes('● connected'));
  const ticks = outputRows(f).filter((l) => l.startsWith('tick '));
  assert.deepEqual(ticks, Array.from({ length: 150 }, (_, i) => `tick ${i + 1}`));
  assert.equal((await runner.exited).code, 0);
});



test('tui: admins edit the command policy; operators and viewers are told they cannot', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const tui = startTui(login(g));
  t.after(() => tui.close());
  await tui.until((f) => f.includes('(admin)'), 'connected as admin');
  await tui.press('p');
  await tui.until((f) => f.includes('default (any other)') && f.includes('version 0 (defaults)'), 'the policy screen');
  await tui.press('a');
  await tui.until((f) => f.includes('Command name:'), 'the name prompt');
  await tui.type('Command name:', 'deploy');
  await tui.press(KEYS.enter);
  await tui.until((f) => f.includes('› deploy') && f.includes('unsaved changes'), 'deploy added');
  // deploy: admin only (operator off), then viewers on for "any other" command.
  await tui.press(KEYS.right, ' ', KEYS.up, KEYS.right, ' ', 's');
  await tui.until((f) => f.includes('policy saved') && f.includes('version 1'), 'saved');
  const shown = JSON.parse((await runCli(['policy', 'show', '--json'], g.env)).stdout) as PolicyResponse;
  assert.deepEqual(shown.policy.commands, { deploy: ['admin'] });
  assert.deepEqual(shown.policy.default, ['admin', 'operator', 'viewer']);
  await tui.press(KEYS.escape);
  await tui.until((f) => f.includes('no runs yet'), 'closed');

  for (const role of ['operator', 'viewer'] as const) {
    const { token } = await createApiToken(g.gw.store, { name: `a ${role}`, role, userId: null, now: Date.now() });
    const other = startTui(login(g, token));
    t.after(() => other.close());
    await other.until((f) => f.includes(`(${role})`), `connected as ${role}`);
    await other.press('p');
    await other.until((f) => f.includes(`policy: needs the admin role (you are ${role})`), `${role}: no policy screen`);
    assert.equal(other.frame().includes('command policy'), false, 'the policy screen did not open');
    if (role === 'viewer') {
      await other.press('n');
      await other.until((f) => f.includes('new: needs the admin or operator role (you are viewer)'), 'viewer: no new run');
      assert.equal(other.frame().includes('New run, name'), false);
    }
  }
});

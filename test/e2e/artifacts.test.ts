import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { ArtifactInfo } from '../../protocol/artifacts.js';
import { createApiToken } from '../../server/auth/api-tokens.js';
import type { AuditEntry } from '../../server/store/types.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { spawnCcg, waitFor } from '../helpers/processes.js';
import { GIT_ENV, gitWorkspace } from '../helpers/workspace.js';

const GHP = 'ghp_' + 'Qm7Zr2Lx9Kw4'.repeat(3);
const DB_PASSWORD = 'correct-horse-battery-staple';

function get(g: TestGateway, path: string, token = g.operatorToken): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, g.url), { agent: new PinnedAgent(g.fingerprint), headers: { authorization: `Bearer ${token}` } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...filesUnder(p));
    else if (d.isFile()) out.push(p);
  }
  return out;
}

test('at exit the runner uploads the log, both diffs, the untracked list and its globbed files; downloads are safe attachments; no secret reaches the store', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const ws = gitWorkspace({ 'app.js': 'console.log(1);\n', 'config.js': 'module.exports = {};\n' });
  // The "agent" changes a tracked file (writing a token into it), stages another change, leaves
  // an untracked file, writes a coverage report, plants symlinks out of the workspace, and prints
  // secrets (its env's and the run token) to its output.
  const script = [
    `printf 'console.log(2);\\nconst key = "${GHP}";\\n' > app.js`,
    `printf 'module.exports = { debug: true };\\n' > config.js && git add config.js`,
    'echo scratch > notes.txt',
    'mkdir -p coverage/sub && printf "TN:\\nSF:app.js\\nend_of_record\\n" > coverage/lcov.info && printf "{\\"lines\\":97.5}" > coverage/sub/summary.json',
    `printf 'secret=${DB_PASSWORD}\\n' > coverage/leak.txt`,
    // A file named "-" holding a clipboard write and a title: for the operator's terminal.
    `printf '\\033[32mok\\033[0m \\033]52;c;cHduZWQ=\\007\\033]0;pwned\\007end\\n' > coverage/-`,
    'ln -s /etc/passwd coverage/passwd && ln -s /etc coverage/etc',
    'echo "password is $DB_PASSWORD"',
    `echo "token ${GHP}"`,
    'echo "run token $RUN_COPY"',
    'echo done >&2',
  ].join('\n');
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', c.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', ws, '--quiet', '--spool-dir', tempDir(), '--artifact', 'coverage/**', '--', 'sh', '-c', script],
    { CCG_RUN_TOKEN: c.token, DB_PASSWORD, RUN_COPY: c.token, ...GIT_ENV },
  );
  const { code } = await runner.exited;
  assert.equal(code, 0, runner.stderr());

  // The command line shown to viewers carries the token too: it is redacted like output.
  const shown = JSON.parse((await runCli(['runs', 'show', c.id, '--json'], g.env)).stdout) as { run: { runner: { command: string[] } } };
  assert.match(shown.run.runner.command.join(' '), /const key = "\[REDACTED:github\]"/);

  const list = await runCli(['runs', 'artifacts', c.id, '--json'], g.env);
  assert.equal(list.code, 0, list.stderr);
  const arts = (JSON.parse(list.stdout) as { artifacts: ArtifactInfo[] }).artifacts;
  const byName = Object.fromEntries(arts.map((a) => [a.name, a]));
  assert.deepEqual(Object.keys(byName).sort(), ['diff.patch', 'files/coverage/-', 'files/coverage/lcov.info', 'files/coverage/leak.txt', 'files/coverage/sub/summary.json', 'run.log', 'staged.patch', 'untracked.txt']);
  assert.equal(byName['diff.patch']!.kind, 'diff');
  assert.equal(byName['run.log']!.collection, null, 'collected at exit');
  assert.ok(arts.every((a) => a.redacted), 'all of these are text');

  const diff = (await get(g, `/api/v1/runs/${c.id}/artifacts/diff.patch`));
  assert.equal(diff.status, 200);
  assert.equal(diff.headers['content-type'], 'text/x-diff; charset=utf-8');
  assert.equal(diff.headers['content-disposition'], 'attachment; filename="diff.patch"');
  assert.equal(diff.headers['x-content-type-options'], 'nosniff');
  assert.equal(diff.headers['content-security-policy'], "default-src 'none'; sandbox");
  assert.equal(diff.headers['x-ccg-sha256'], createHash('sha256').update(diff.body).digest('hex'));
  const diffText = diff.body.toString();
  assert.match(diffText, /^-console\.log\(1\);$/m);
  assert.match(diffText, /^\+const key = "\[REDACTED:github\]";$/m);
  assert.ok(!diffText.includes('config.js'), 'the staged change is not in the unstaged diff');
  assert.match((await get(g, `/api/v1/runs/${c.id}/artifacts/staged.patch`)).body.toString(), /^\+module\.exports = \{ debug: true \};$/m);
  const untracked = (await get(g, `/api/v1/runs/${c.id}/artifacts/untracked.txt`)).body.toString().split('\n').filter(Boolean);
  assert.ok(untracked.includes('notes.txt') && untracked.includes('coverage/lcov.info'), untracked.join(','));
  const lcov = await get(g, `/api/v1/runs/${c.id}/artifacts/${encodeURIComponent('files/coverage/lcov.info')}`);
  assert.equal(lcov.headers['content-disposition'], 'attachment; filename="lcov.info"');
  assert.equal(lcov.body.toString(), 'TN:\nSF:app.js\nend_of_record\n');
  const summary = await get(g, `/api/v1/runs/${c.id}/artifacts/${encodeURIComponent('files/coverage/sub/summary.json')}`);
  assert.equal(summary.headers['content-type'], 'application/json');
  assert.equal((await get(g, `/api/v1/runs/${c.id}/artifacts/${encodeURIComponent('files/coverage/leak.txt')}`)).body.toString(), 'secret=[REDACTED:env:DB_PASSWORD]\n');

  // The CLI saves a download to a file named after the artifact, and refuses to overwrite it.
  const cwd = tempDir();
  const log = await runCli(['runs', 'artifacts', c.id, '--download', 'run.log', '-o', join(cwd, 'run.log')], g.env);
  assert.equal(log.code, 0, log.stderr);
  assert.equal(readFileSync(join(cwd, 'run.log'), 'utf8'), `password is [REDACTED:env:DB_PASSWORD]\ntoken [REDACTED:github]\nrun token [REDACTED:ccg-token]\ndone\n`);
  const again = await runCli(['runs', 'artifacts', c.id, '--download', 'run.log', '-o', join(cwd, 'run.log')], g.env);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /exists; pass --force/);
  const missing = await runCli(['runs', 'artifacts', c.id, '--download', 'nope.txt', '-o', '-'], g.env);
  assert.equal(missing.code, 66, missing.stderr);
  // --json: the SHA-256 of what was written (and the gateway's record agrees), no partial file left.
  const saved = await runCli(['runs', 'artifacts', c.id, '--download', 'run.log', '-o', join(cwd, 'again.log'), '--json'], g.env);
  assert.equal(saved.code, 0, saved.stderr);
  const savedJson = JSON.parse(saved.stdout) as { saved: string; bytes: number; sha256: string };
  assert.equal(savedJson.sha256, createHash('sha256').update(readFileSync(join(cwd, 'again.log'))).digest('hex'));
  assert.equal(savedJson.bytes, readFileSync(join(cwd, 'again.log')).length);
  assert.deepEqual(readdirSync(cwd).sort(), ['again.log', 'run.log'], 'nothing else in the directory');
  // --force into a symlink (or /dev/null, a FIFO): written through, never replaced by a file.
  writeFileSync(join(cwd, 'real.log'), 'old\n');
  symlinkSync(join(cwd, 'real.log'), join(cwd, 'link.log'));
  const through = await runCli(['runs', 'artifacts', c.id, '--download', 'run.log', '-o', join(cwd, 'link.log'), '--force'], g.env);
  assert.equal(through.code, 0, through.stderr);
  assert.ok(lstatSync(join(cwd, 'link.log')).isSymbolicLink(), 'the symlink stays');
  assert.equal(readFileSync(join(cwd, 'real.log'), 'utf8'), readFileSync(join(cwd, 'run.log'), 'utf8'));
  assert.equal((await runCli(['runs', 'artifacts', c.id, '--download', 'run.log', '-o', '/dev/null', '--force'], g.env)).code, 0);
  // stdout is one JSON document with --json: the artifact itself cannot go there too.
  const mixed = await runCli(['runs', 'artifacts', c.id, '--download', 'run.log', '-o', '-', '--json'], g.env);
  assert.equal(mixed.code, 1);
  assert.equal(mixed.stdout, '');
  assert.equal(JSON.parse(mixed.stderr).error.code, 'ERR_USAGE');
  // To a terminal (-o -): the workspace's escape sequences are dropped, colours kept; --raw, a
  // pipe: the bytes as they are. An artifact named "-" is saved as a file named "-", not to stdout.
  const onTty = await runCli(['runs', 'artifacts', c.id, '--download', 'files/coverage/-', '-o', '-'], g.env, { tty: true });
  assert.equal(onTty.code, 0, onTty.stderr);
  assert.equal(onTty.stdout, '\u001b[32mok\u001b[0m end\n');
  for (const [argv, tty] of [[['-o', '-', '--raw'], true], [['-o', '-'], false]] as const) {
    const raw = await runCli(['runs', 'artifacts', c.id, '--download', 'files/coverage/-', ...argv], g.env, { tty });
    assert.equal(raw.stdout, '\u001b[32mok\u001b[0m \u001b]52;c;cHduZWQ=\u0007\u001b]0;pwned\u0007end\n', argv.join(' '));
  }
  const here = process.cwd();
  process.chdir(cwd);
  try {
    const dash = await runCli(['runs', 'artifacts', c.id, '--download', 'files/coverage/-'], g.env, { tty: true });
    assert.equal(dash.code, 0, dash.stderr);
    assert.equal(dash.stdout, '', 'nothing on the terminal');
    assert.match(readFileSync(join(cwd, '-'), 'utf8'), /pwned/);
  } finally {
    process.chdir(here);
  }
  const stray = await runCli(['runs', 'artifacts', c.id, '-o', 'x.log'], g.env);
  assert.equal(stray.code, 1);
  assert.match(stray.stderr, /--output goes with --download/);

  // Content-addressed: each blob is stored under its own SHA-256; no secret is anywhere on disk.
  const blobs = filesUnder(join(g.dataDir, 'artifacts'));
  for (const b of blobs) assert.equal(createHash('sha256').update(readFileSync(b)).digest('hex'), b.split('/').pop(), b);
  assert.ok(blobs.length >= 6);
  for (const f of [...blobs, ...filesUnder(join(g.dataDir, 'db'))]) {
    const bytes = readFileSync(f);
    for (const secret of [GHP, DB_PASSWORD, c.token]) assert.equal(bytes.indexOf(secret), -1, `${secret.slice(0, 8)}… found in ${f}`);
  }

  const audit = (JSON.parse((await get(g, '/api/v1/audit')).body.toString()) as { entries: AuditEntry[] }).entries;
  assert.ok(audit.some((e) => e.action === 'artifact.upload' && e.detail?.['name'] === 'diff.patch'));
  assert.ok(audit.some((e) => e.action === 'artifacts.collected' && e.detail?.['trigger'] === 'exit' && e.detail?.['uploaded'] === 8));
  assert.ok(audit.some((e) => e.action === 'artifact.download' && e.detail?.['name'] === 'run.log'));
  const collected = await runCli(['runs', 'logs', c.id, '--json'], g.env);
  const done = collected.stdout.trim().split('\n').map((l) => JSON.parse(l) as { stream: string; text: string }).filter((l) => l.stream === 'event').map((l) => JSON.parse(l.text) as { type: string; skipped?: { name: string; reason: string }[] });
  const skipped = done.find((e) => e.type === 'collect_done')?.skipped ?? [];
  assert.deepEqual(skipped.map((s) => s.name).sort(), ['files/coverage/etc', 'files/coverage/passwd'], 'symlinks are skipped, never followed');
});

test('collect on request, per role; bad globs are refused at start', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = JSON.parse((await runCli(['runs', 'create', '--json'], g.env)).stdout) as CreateRunResponse;
  const ws = gitWorkspace();
  for (const bad of ['../outside/**', '/etc/*', 'a/../../b', 'x\\y']) {
    const r = await runCli(['runner', 'start', '--run-id', c.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', ws, '--artifact', bad, '--', 'true'], { CCG_RUN_TOKEN: c.token });
    assert.equal(r.code, 1, bad);
    assert.match(r.stderr, /--artifact/);
  }
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', c.id, '--gateway', g.url, '--fingerprint', g.fingerprint, '--cwd', ws, '--quiet', '--spool-dir', tempDir(), '--artifact', 'out/*.txt', '--', 'sh', '-c', 'echo started; i=0; while [ ! -f stop ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done'],
    { CCG_RUN_TOKEN: c.token },
  );
  // Cleanup only if the test failed half-way: the test itself ends the runner before the gateway closes.
  t.after(() => void (runner.child.exitCode === null && runner.child.kill('SIGKILL')));
  await waitFor(async () => {
    const r = await runCli(['runs', 'show', c.id, '--json'], g.env);
    return (JSON.parse(r.stdout) as { run: { status: string; runnerConnected: boolean } }).run.status === 'running' ? true : undefined;
  }, 15_000, 'the run to be running');
  mkdirSync(join(ws, 'out'));
  writeFileSync(join(ws, 'out/report.txt'), 'all green\n');

  const viewer = await createApiToken(g.gw.store, { name: 'viewer', role: 'viewer', userId: null, now: Date.now() });
  const denied = await runCli(['runs', 'collect', c.id, '--wait'], { ...g.env, CCG_TOKEN: viewer.token });
  assert.equal(denied.code, 77, denied.stderr);

  const r = await runCli(['runs', 'collect', c.id, '--wait', '--json'], g.env);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { requestId: string; uploaded: { name: string }[] };
  assert.deepEqual(out.uploaded.map((u) => u.name).sort(), ['diff.patch', 'files/out/report.txt', 'run.log', 'staged.patch', 'untracked.txt']);
  const arts = (JSON.parse((await runCli(['runs', 'artifacts', c.id, '--json'], { ...g.env, CCG_TOKEN: viewer.token })).stdout) as { artifacts: ArtifactInfo[] }).artifacts;
  assert.ok(arts.every((a) => a.collection === out.requestId), 'viewers may list; every artifact answers the request');
  const report = await get(g, `/api/v1/runs/${c.id}/artifacts/${encodeURIComponent('files/out/report.txt')}`, viewer.token);
  assert.equal(report.body.toString(), 'all green\n');
  const logText = (await get(g, `/api/v1/runs/${c.id}/artifacts/run.log`)).body.toString();
  assert.equal(logText, 'started\n');
  assert.equal(statSync(join(g.dataDir, 'artifacts', 'tmp')).isDirectory(), true);
  assert.deepEqual(readdirSync(join(g.dataDir, 'artifacts', 'tmp')), [], 'no upload leftovers');

  // At exit they are collected again, replacing the requested ones.
  writeFileSync(join(ws, 'stop'), '');
  assert.equal((await runner.exited).code, 0, runner.stderr());
  const final = (JSON.parse((await runCli(['runs', 'artifacts', c.id, '--json'], g.env)).stdout) as { artifacts: ArtifactInfo[] }).artifacts;
  assert.ok(final.length === 5 && final.every((a) => a.collection === null), JSON.stringify(final));
  // The run is over: nothing more to collect.
  const late = await runCli(['runs', 'collect', c.id], g.env);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /has ended \(exited\)/);
});

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MALLOC_TUNABLE } from '../../bench/lib/procs.js';
import { groupSpawnOptions, stopTree } from '../../cli/runner/process-tree.js';
import { tempDir } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { writeCloudflaredStandin } from '../helpers/standins.js';

/**
 * The seed's spellings (issue 18): ./run.sh, run.ps1 and ./scripts/cloudflare-tunnel.sh are
 * ccg's own `npm start` and `ccg tunnel` under another name, run here as real processes.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ENGINES = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
const MINIMUM = /^>=(\d+\.\d+)$/.exec(ENGINES)![1]!;

interface Script {
  /** Sends `sig` to the script's process group (the script execs node, which leads it). */
  signal: (sig: NodeJS.Signals) => void;
  stdout: () => string;
  stderr: () => string;
  running: () => boolean;
  exited: Promise<number | null>;
}

/** Runs a shell script as its own process group, stopped (with anything it started, npm ci included) when the test ends. */
function runScript(t: TestContext, script: string, args: string[], env: NodeJS.ProcessEnv): Script {
  const child = spawn('/bin/sh', [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], ...groupSpawnOptions });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  let running = true;
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      running = false;
      resolve(code);
    }),
  );
  t.after(() => stopTree(child.pid, 'SIGKILL'));
  return { signal: (sig) => stopTree(child.pid, sig), stdout: () => out, stderr: () => err, running: () => running, exited };
}

/** Waits for `ccg serve --json`'s ready line, asks /healthz, stops the gateway and checks it stopped cleanly. */
async function checkServes(s: Script, data: string, boundMs: number): Promise<void> {
  const ready = await waitFor(() => {
    if (!s.running()) {
      throw new Error(`run.sh exited before the gateway was ready: ${s.stderr().slice(-3000)}`);
    }
    const line = s.stdout().split('\n').find((l) => l.includes('"ready"'));
    return line ? (JSON.parse(line) as { url: string; fingerprint: string }) : undefined;
  }, boundMs, 'the gateway started by run.sh');
  assert.match(ready.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the --host passed through');
  assert.notEqual(new URL(ready.url).port, '3100', '--port 0 passed through');
  const health = await request(ready, 'GET', '/healthz');
  assert.equal(health.status, 200);
  assert.equal(health.json.ok, true);
  assert.ok(existsSync(join(data, 'operator.token')), '--data passed through');
  s.signal('SIGTERM');
  assert.equal(await s.exited, 0, s.stderr());
  assert.match(s.stderr(), /ccg: shutting down/);
}

/** The serve arguments every run.sh test passes, each visible in what the gateway does. */
const serveArgs = (data: string) => ['--port', '0', '--host', '127.0.0.1', '--data', data, '--json', '--log-level', 'warn'];

test('run.sh refuses a missing or too-old Node with a clear message, before installing anything', async (t) => {
  // A copy with no node_modules: were the check missing, npm ci would start (and the fake node let it "pass").
  const dir = tempDir();
  for (const f of ['run.sh', 'package.json']) copyFileSync(join(ROOT, f), join(dir, f));
  const bin = tempDir();
  writeFileSync(join(bin, 'node'), '#!/bin/sh\necho 18.19.0\n');
  chmodSync(join(bin, 'node'), 0o755);
  const old = runScript(t, join(dir, 'run.sh'), [], { PATH: `${bin}:${process.env['PATH']}` });
  assert.equal(await old.exited, 1);
  assert.equal(old.stderr(), `run.sh: Node 18.19.0 is too old: ccg needs Node ${MINIMUM} or newer (https://nodejs.org/)\n`);
  assert.ok(!existsSync(join(dir, 'node_modules')));

  // No node at all: a PATH with only the tools run.sh needs before its check.
  const tools = tempDir();
  for (const tool of ['sed', 'dirname']) symlinkSync(spawnSync('/bin/sh', ['-c', `command -v ${tool}`]).stdout.toString().trim(), join(tools, tool));
  const none = runScript(t, join(dir, 'run.sh'), [], { PATH: tools });
  assert.equal(await none.exited, 1);
  assert.match(none.stderr(), new RegExp(`^run\\.sh: Node\\.js is not installed \\(ccg needs Node ${MINIMUM.replace('.', '\\.')} or newer`));
});

test('run.sh passes its arguments to ccg serve (installed dependencies: no npm ci)', async (t) => {
  // A copy of the work tree sharing its node_modules and build, with a lock file older than the install.
  const dir = tempDir();
  for (const f of ['run.sh', 'package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(dir, f));
  for (const d of ['bin', 'dist', 'node_modules']) symlinkSync(join(ROOT, d), join(dir, d));
  utimesSync(join(dir, 'package-lock.json'), new Date(0), new Date(0));
  const data = tempDir();
  const s = runScript(t, join(dir, 'run.sh'), serveArgs(data), { PATH: process.env['PATH'], HOME: process.env['HOME'] });
  await checkServes(s, data, 20_000);
  assert.doesNotMatch(s.stderr(), /npm ci/);
});

test("run.sh gives node glibc's trim threshold the bench uses, unless the caller chose one", async (t) => {
  // Only the environment matters here: a node that prints it and exits. (The gateway's own
  // /proc/PID/environ cannot show it: glibc splits GLIBC_TUNABLES in place as it reads it.)
  const dir = tempDir();
  for (const f of ['run.sh', 'package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(dir, f));
  for (const d of ['dist', 'node_modules']) symlinkSync(join(ROOT, d), join(dir, d));
  utimesSync(join(dir, 'package-lock.json'), new Date(0), new Date(0));
  const bin = tempDir();
  writeFileSync(join(bin, 'node'), `#!/bin/sh\n[ "$1" = -p ] && { echo ${process.versions.node}; exit 0; }\necho "GLIBC_TUNABLES=$GLIBC_TUNABLES"\n`);
  chmodSync(join(bin, 'node'), 0o755);
  for (const [given, expected] of [
    [undefined, MALLOC_TUNABLE],
    ['glibc.malloc.arena_max=4', `glibc.malloc.arena_max=4:${MALLOC_TUNABLE}`],
    ['glibc.malloc.trim_threshold=1048576', 'glibc.malloc.trim_threshold=1048576'],
  ] as const) {
    const s = runScript(t, join(dir, 'run.sh'), [], { PATH: `${bin}:${process.env['PATH']}`, ...(given ? { GLIBC_TUNABLES: given } : {}) });
    assert.equal(await s.exited, 0, s.stderr());
    assert.equal(s.stdout(), `GLIBC_TUNABLES=${expected}\n`);
  }
  // The setting docs/OPERATIONS.md tells a unit to give: the same one.
  assert.ok(readFileSync(join(ROOT, 'docs/OPERATIONS.md'), 'utf8').includes(`Environment=GLIBC_TUNABLES=${MALLOC_TUNABLE}`));
});

// The one test that installs for real (about a minute; from the npm cache where it can, else the
// registry). It clones the checkout's HEAD: uncommitted changes are not in the clone.
test('run.sh in a fresh clone: npm ci, then a gateway that answers /healthz', { timeout: 400_000 }, async (t) => {
  const clone = tempDir('ccg-clone-');
  t.after(() => rmSync(clone, { recursive: true, force: true }));
  const cloned = spawnSync('git', ['clone', '--quiet', '--no-hardlinks', ROOT, clone], { encoding: 'utf8' });
  if (cloned.status !== 0) return t.skip(`not a git checkout: ${cloned.stderr.trim()}`);
  assert.ok(!existsSync(join(clone, 'node_modules')));
  const data = tempDir();
  const s = runScript(t, join(clone, 'run.sh'), serveArgs(data), { PATH: process.env['PATH'], HOME: process.env['HOME'], npm_config_prefer_offline: 'true' });
  await checkServes(s, data, 360_000);
  assert.match(s.stderr(), /installing dependencies \(npm ci\)/);
  assert.ok(existsSync(join(clone, 'node_modules/.package-lock.json')));
});

test('scripts/cloudflare-tunnel.sh is ccg tunnel with the same arguments', async (t) => {
  const bin = tempDir();
  writeCloudflaredStandin(bin, 'named');
  const s = runScript(t, join(ROOT, 'scripts/cloudflare-tunnel.sh'), ['--name', 'ccg', '--hostname', 'ccg.example.com', '--url', 'http://127.0.0.1:3999', '--json'], {
    PATH: `${bin}:${process.env['PATH']}`,
    HOME: process.env['HOME'],
  });
  const line = await waitFor(() => (s.stdout().includes('\n') ? s.stdout() : undefined), 15_000, 'the JSON line');
  const ready = JSON.parse(line.trim()) as { url: string; mode: string };
  assert.equal(ready.url, 'https://ccg.example.com');
  assert.equal(ready.mode, 'named');
  assert.deepEqual(readFileSync(join(bin, 'cloudflared.args'), 'utf8').trim().split('\n'), ['tunnel', '--no-autoupdate', '--name', 'ccg', '--hostname', 'ccg.example.com', '--url', 'http://127.0.0.1:3999']);
  s.signal('SIGTERM');
  assert.equal(await s.exited, 0, s.stderr());
});

test('run.ps1 takes the same steps as run.sh (no PowerShell package can be installed here to run it)', () => {
  const ps1 = readFileSync(join(ROOT, 'run.ps1'), 'utf8');
  const sh = readFileSync(join(ROOT, 'run.sh'), 'utf8');
  assert.match(ps1, /^\$ErrorActionPreference = 'Stop'$/m);
  // The same minimum: both read package.json's engines; run.ps1's pattern applied to it gives run.sh's number.
  assert.match(ps1, /ConvertFrom-Json\)\.engines\.node/);
  const pattern = /-notmatch '([^']+)'/.exec(ps1)![1]!;
  const m = new RegExp(pattern).exec(ENGINES)!;
  assert.equal(`${m[1]}.${m[2]}`, MINIMUM);
  assert.match(ps1, /\[version\]\$have -lt \$need/);
  assert.match(ps1, /Node \$have is too old: ccg needs Node \$need or newer/);
  assert.match(sh, /Node \$have is too old: ccg needs Node \$need_major\.\$need_minor or newer/);
  // The same install rule and the same command, arguments passed through, from the repository's directory.
  for (const [s, lock, ci, build, serve, cd] of [
    [sh, /node_modules\/\.package-lock\.json.*package-lock\.json -nt node_modules\/\.package-lock\.json/, /^  npm ci\b/m, /^  npm run build\b/m, /^exec node bin\/ccg serve "\$@"$/m, /^cd "\$\(dirname "\$0"\)"$/m],
    [ps1, /\$installed = 'node_modules\\\.package-lock\.json'[\s\S]*'package-lock\.json'\)\.LastWriteTimeUtc -gt/, /^  & npm ci$/m, /^  & npm run build$/m, /^& node bin\/ccg serve @args$/m, /^Set-Location -LiteralPath \$PSScriptRoot$/m],
  ] as const) {
    for (const re of [lock, ci, build, serve, cd]) assert.match(s, re);
  }
  assert.match(ps1, /^exit \$LASTEXITCODE$/m, "ccg serve's exit code is run.ps1's");
  assert.equal((ps1.match(/if \(\$LASTEXITCODE -ne 0\) \{ exit \$LASTEXITCODE \}/g) ?? []).length, 2, 'a failed npm ci or build stops it');
});

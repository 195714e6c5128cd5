// How long `ccg tui` takes, in a real terminal, to show the runs and then live output.
// Starts its own gateway (`ccg serve`, temp data dir) and a runner printing a line every 50 ms,
// then opens `ccg tui` in a private tmux server at 80x24 N times (default 10), polling
// capture-pane every 5 ms. Times include starting node and loading ccg.
// Usage: npm run build && node scripts/measure-tui.mjs [N]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.argv[2] ?? 10);
const root = fileURLToPath(new URL('..', import.meta.url));
const ccg = join(root, 'bin/ccg');
const data = mkdtempSync(join(tmpdir(), 'ccg-measure-'));
const socket = `ccg-measure-${process.pid}`;
const tmux = (...a) => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...a], { encoding: 'utf8' });
const children = [];

function start(args, env = {}) {
  const child = spawn(process.execPath, [ccg, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return { child, out: () => out };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(check, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

try {
  const gw = start(['serve', '--data', data, '--port', '0', '--json', '--log-level', 'warn']);
  const ready = JSON.parse(await until(() => gw.out().split('\n')[0] || undefined, 15000, 'gateway'));
  const env = { CCG_GATEWAY: ready.url, CCG_TOKEN: readFileSync(join(data, 'operator.token'), 'utf8').trim(), CCG_FINGERPRINT: ready.fingerprint };
  const run = JSON.parse(spawnSync(process.execPath, [ccg, 'runs', 'create', '--name', 'measure', '--json'], { env: { ...process.env, ...env }, encoding: 'utf8' }).stdout);
  const ticker = join(root, 'test/fixtures/ticker.mjs');
  start(['runner', 'start', '--run-id', run.id, '--spool-dir', join(data, 'spool'), '-q', '--', process.execPath, ticker, '100000', '50'], { ...env, CCG_RUN_TOKEN: run.token });
  await sleep(1500);

  const q = (v) => `'${String(v).replace(/'/g, `'\\''`)}'`;
  const vars = [`PATH=${process.env.PATH}`, `HOME=${process.env.HOME}`, 'TERM=xterm-256color', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  const listed = [];
  const output = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    tmux('new-session', '-d', '-s', 'm', '-x', '80', '-y', '24', `env -i ${vars.map(q).join(' ')} ${q(process.execPath)} ${q(ccg)} tui`);
    let seenRun = 0;
    await until(() => {
      const s = tmux('capture-pane', '-t', 'm', '-p');
      if (!seenRun && s.includes(run.id)) seenRun = performance.now() - t0;
      return /^tick \d+$/m.test(s) ? true : undefined;
    }, 20000, 'output');
    listed.push(seenRun);
    output.push(performance.now() - t0);
    tmux('kill-session', '-t', 'm');
    await sleep(200);
  }
  const stats = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return { median: Math.round(s[Math.floor(s.length / 2)]), min: Math.round(s[0]), max: Math.round(s.at(-1)) };
  };
  const bare = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, [ccg, '--version']);
    bare.push(performance.now() - t0);
  }
  console.log(JSON.stringify({ runs: N, runsListedMs: stats(listed), liveOutputMs: stats(output), nodeAndCcgStartMs: stats(bare) }, null, 1));
} finally {
  spawnSync('tmux', ['-L', socket, 'kill-server']);
  for (const c of children) c.kill('SIGKILL');
  await sleep(200);
  rmSync(data, { recursive: true, force: true });
}

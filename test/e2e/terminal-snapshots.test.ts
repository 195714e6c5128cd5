import assert from 'node:assert/strict';
import https from 'node:https';
import { test } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { newScreen, writeScreen } from '../../protocol/terminal-screen.js';
import { runCli } from '../helpers/cli.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { addUsers, pageUser } from '../helpers/users.js';
import { ptyRun } from '../helpers/terminal.js';

/** Prints numbered 50-byte lines until `process.argv[1]` bytes were written. */
const LINES = `const n=+process.argv[1];let s='';for(let i=1;s.length<n;i++)s+=('line '+String(i).padStart(6,'0')+' '+'x'.repeat(36)).slice(0,48)+'\\r\\n';process.stdout.write(s.slice(0,n));`;

interface Opened {
  bytes: number;
  ms: number;
  snapshot: { cols: number; rows: number; data: string } | null;
  outBytes: number;
}

/** Opens a run's terminal stream as the page does and reads it to its `end`: what a viewer is sent. */
function openTerminal(g: TestGateway, runId: string, cookie: string): Promise<Opened> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = https.get(new URL(`/runs/${runId}/term`, g.url), { agent: new PinnedAgent(g.fingerprint), headers: { accept: 'text/event-stream', cookie } }, (res) => {
      let bytes = 0;
      let text = '';
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        text += d.toString('utf8');
        if (!/\nevent: end\n/.test(text)) return;
        const ms = performance.now() - started;
        req.destroy();
        const snap = /event: snapshot\n(?:id: \d+\n)?data: (.*)\n/.exec(text);
        const outs = [...text.matchAll(/event: out\n(?:id: \d+\n)?data: (.*)\n/g)].map((m) => Buffer.from(m[1]!, 'base64').length);
        resolve({ bytes, ms, snapshot: snap ? (JSON.parse(snap[1]!) as Opened['snapshot']) : null, outBytes: outs.reduce((a, b) => a + b, 0) });
      });
    });
    req.on('error', reject);
  });
}

test('opening a finished 1,000,000-byte pty run sends as little as a 1,000-byte one: the latest screen snapshot, not the history', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olive', role: 'operator' }]);
  const small = await ptyRun(t, g, ['node', '-e', LINES, '1000'], { size: '80x24' });
  const big = await ptyRun(t, g, ['node', '-e', LINES, '1000000'], { size: '80x24' });
  for (const r of [small, big]) assert.equal((await r.runner.exited).code, 0, r.runner.stderr());

  // The gateway takes a last snapshot when a run ends, covering all of its output.
  for (const { run } of [small, big]) {
    // The stored end (the run record's lastSeq is written with progress, once a second, and may lag).
    const last = await g.gw.store.lastSeq(run.id);
    await waitFor(() => (g.gw.store.latestTermSnapshot(run.id)?.seq === last ? true : undefined), 60_000, `the final snapshot of ${run.id}`);
  }
  const c = await pageUser(g, 'olive');
  const pageBytes = async (id: string) => Buffer.byteLength((await c.get(`/runs/${id}`)).body);
  const s = await openTerminal(g, small.run.id, c.cookieHeader());
  const b = await openTerminal(g, big.run.id, c.cookieHeader());
  const sTotal = s.bytes + (await pageBytes(small.run.id));
  const bTotal = b.bytes + (await pageBytes(big.run.id));
  t.diagnostic(`1,000-byte run: ${sTotal} bytes (page + terminal stream ${s.bytes}), stream read in ${s.ms.toFixed(1)} ms`);
  t.diagnostic(`1,000,000-byte run: ${bTotal} bytes (page + terminal stream ${b.bytes}), stream read in ${b.ms.toFixed(1)} ms`);
  assert.ok(bTotal <= 2 * sTotal, `the big run cost ${bTotal} bytes, the small one ${sTotal}`);
  assert.equal(b.outBytes, 0, 'nothing after the final snapshot is replayed');

  // The snapshot is the right screen: the last 23 lines and the cursor on the empty row below.
  const screen = newScreen(b.snapshot!.cols, b.snapshot!.rows);
  await writeScreen(screen, b.snapshot!.data);
  const rows = Array.from({ length: 24 }, (_, i) => screen.term.buffer.active.getLine(screen.term.buffer.active.baseY + i)?.translateToString(true) ?? '');
  screen.term.dispose();
  const lastLine = Math.ceil(1_000_000 / 50);
  assert.equal(rows[22], `line ${String(lastLine).padStart(6, '0')} ${'x'.repeat(36)}`.slice(0, 48));
  assert.equal(rows[0], `line ${String(lastLine - 22).padStart(6, '0')} ${'x'.repeat(36)}`.slice(0, 48));
});

test('a viewer of a live pty run gets the latest snapshot and only the output after it; a gateway restarted on the same data rebuilds its screen from the snapshot', async (t) => {
  const dataDir = tempDir();
  let g = await startGateway({ dataDir });
  t.after(() => g.close());
  await addUsers(g, [{ name: 'olive', role: 'operator' }]);
  // 300,000 bytes, then it waits for a line and prints what it got.
  const script = `${LINES}process.stdin.once('data',(d)=>{process.stdout.write('\\r\\nGOT '+d.toString().trim()+'\\r\\n');setTimeout(()=>process.exit(0),500);});`;
  const { run, runner } = await ptyRun(t, g, ['node', '-e', script, '300000'], { size: '80x24' });
  await waitFor(() => ((g.gw.store.latestTermSnapshot(run.id)?.seq ?? 0) > 0 && g.gw.runs.committedSeq(run.id) > 0 ? true : undefined), 30_000, 'a snapshot of the live run');
  // Output stopped (all 300,000 bytes are in; a runner slowed by a busy machine can pause for
  // longer than the idle timer mid-way): the 3 s timer snapshots the rest.
  await waitFor(() => ((g.gw.runs.get(run.id)?.bytes ?? 0) >= 300_000 ? true : undefined), 30_000, 'the whole output stored');
  await waitFor(() => (g.gw.store.latestTermSnapshot(run.id)?.seq === g.gw.runs.committedSeq(run.id) ? true : undefined), 30_000, 'the idle snapshot');
  const c = await pageUser(g, 'olive');
  const live = await openUntil(g, run.id, c.cookieHeader(), (text) => text.includes('event: snapshot'));
  assert.ok(live.bytes < 16 * 1024, `a live viewer was sent ${live.bytes} bytes of a 300,000-byte run`);

  // Restart the gateway on the same data: the runner reconnects, the screen is rebuilt from the
  // snapshot, and new output lands on it.
  const port = Number(new URL(g.url).port);
  await g.close();
  // The port frees once the old gateway's connections are gone.
  g = await waitFor(() => startGateway({ dataDir, port }).catch(() => undefined), 30_000, 'the gateway listening again');
  const c2 = await pageUser(g, 'olive');
  await waitFor(() => (g.gw.runs.summary(g.gw.runs.mustGet(run.id)).runnerConnected ? true : undefined), 60_000, 'the runner back');
  assert.equal((await runCli(['runs', 'input', run.id, 'after restart', '--enter'], g.env)).code, 0);
  assert.equal((await runner.exited).code, 0, runner.stderr());
  await waitFor(() => (g.gw.store.latestTermSnapshot(run.id)?.seq === g.gw.runs.get(run.id)?.lastSeq ? true : undefined), 60_000, 'the final snapshot after the restart');
  const end = await openTerminal(g, run.id, c2.cookieHeader());
  const screen = newScreen(end.snapshot!.cols, end.snapshot!.rows);
  await writeScreen(screen, end.snapshot!.data);
  const rows = Array.from({ length: 24 }, (_, i) => screen.term.buffer.active.getLine(i)?.translateToString(true) ?? '');
  screen.term.dispose();
  assert.ok(rows.some((r) => r === 'GOT after restart'), rows.join('\n'));
  // The lines before the restart are still on the rebuilt screen, above it.
  assert.ok(rows.some((r) => r.startsWith(`line ${String(Math.ceil(300_000 / 50)).padStart(6, '0')}`)), rows.join('\n'));
});

/** Opens the terminal stream and reads until `done` says so (a live run has no `end`). */
function openUntil(g: TestGateway, runId: string, cookie: string, done: (text: string) => boolean): Promise<{ bytes: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(new URL(`/runs/${runId}/term`, g.url), { agent: new PinnedAgent(g.fingerprint), headers: { accept: 'text/event-stream', cookie } }, (res) => {
      let bytes = 0;
      let text = '';
      let timer: NodeJS.Timeout | null = null;
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        text += d.toString('utf8');
        // Whatever the stream sends at once; then a quiet moment ends the read.
        if (done(text) && !timer) timer = setTimeout(() => {
          req.destroy();
          resolve({ bytes, text });
        }, 1000);
      });
    });
    req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
  });
}

import assert from 'node:assert/strict';
import https from 'node:https';
import { test } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { newScreen, writeScreen } from '../../protocol/terminal-screen.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
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
    await waitFor(() => {
      const last = g.gw.runs.get(run.id)?.lastSeq ?? -1;
      return g.gw.store.latestTermSnapshot(run.id)?.seq === last ? true : undefined;
    }, 60_000, `the final snapshot of ${run.id}`);
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

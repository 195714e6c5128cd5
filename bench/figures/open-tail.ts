import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { STREAM_STDOUT } from '../../protocol/frames.js';
import { PROTOCOL_VERSION } from '../../protocol/run.js';
import { SecretBox } from '../../server/auth/secret-box.js';
import { LocalBus } from '../../server/live/bus.js';
import { silentLogger } from '../../server/log.js';
import { RunService } from '../../server/core/runs.js';
import { Credits } from '../../server/core/credits.js';
import { LmdbStore } from '../../server/store/lmdb-store.js';
import type { Target } from '../lib/clients.js';
import { median } from '../lib/stats.js';

/**
 * Writes runs of `lines` stored lines (one line per chunk: the most keys per line, the worst
 * case for the store) straight into a stopped gateway's data directory, through the same
 * RunService and LmdbStore the gateway uses. Returns the run ids.
 */
export async function seedRuns(dataDir: string, sizes: number[]): Promise<string[]> {
  const store = LmdbStore.open(dataDir);
  const box = SecretBox.fromDataDir(dataDir);
  const runs = new RunService({ store, bus: new LocalBus(), box, credits: new Credits(box), log: silentLogger, now: Date.now, maxRuns: 1e9, maxRunBytes: 1e12 });
  const ids: string[] = [];
  for (const lines of sizes) {
    const { run } = await runs.create(`bench ${lines} lines`, 'bench');
    let bytes = 0;
    let last: Promise<void> = Promise.resolve();
    const t0 = Date.now();
    for (let seq = 1; seq <= lines; seq++) {
      const data = Buffer.from(`line ${seq} of a long run: INFO compiled src/feature/module-${seq % 97}.ts in ${seq % 53} ms\n`, 'latin1');
      bytes += data.length;
      last = store.appendChunk(run.id, { seq, stream: STREAM_STDOUT, time: t0 + seq, data });
      if (seq % 20_000 === 0) await last; // one LMDB transaction per batch, bounded memory
    }
    await last;
    await store.putRun({ ...run, status: 'exited', exitCode: 0, startedAt: t0, endedAt: Date.now(), lastSeq: lines, bytes });
    ids.push(run.id);
  }
  await store.close();
  return ids;
}

export interface OpenTailResult {
  small: number;
  huge: number;
  smallFirst: number;
  hugeFirst: number;
  tail: number;
}

/**
 * Time from sending `subscribe {tail}` on an open operator socket to `caught_up`, with the tail's
 * chunks received in between: what a viewer waits for when it opens a run. Median of `rounds`,
 * small and huge alternating; the first open of each is reported apart (cold caches).
 */
export async function measureOpenTail(t: Target, smallId: string, hugeId: string, o: { tail: number; rounds: number }): Promise<OpenTailResult> {
  const url = new URL('/v1/operator', t.url);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url, {
    headers: { authorization: `Bearer ${t.operatorToken}` },
    ...(t.fingerprint ? { agent: new PinnedAgent(t.fingerprint) } : {}),
    perMessageDeflate: false,
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'hello', v: PROTOCOL_VERSION }));
  let chunks = 0;
  let waiting: ((n: number) => void) | null = null;
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      chunks++;
      return;
    }
    if (String(data).includes('"caught_up"')) waiting?.(chunks);
  });
  const open = async (runId: string): Promise<number> => {
    chunks = 0;
    const got = new Promise<number>((r) => (waiting = r));
    const t0 = performance.now();
    ws.send(JSON.stringify({ type: 'subscribe', runId, tail: o.tail }));
    const n = await got;
    const ms = performance.now() - t0;
    ws.send(JSON.stringify({ type: 'unsubscribe', runId }));
    if (n !== o.tail) throw new Error(`open tail: expected ${o.tail} chunks, got ${n}`);
    return ms;
  };
  const hugeFirst = await open(hugeId);
  const smallFirst = await open(smallId);
  const small: number[] = [];
  const huge: number[] = [];
  for (let i = 0; i < o.rounds; i++) {
    huge.push(await open(hugeId));
    small.push(await open(smallId));
  }
  ws.close();
  return { small: median(small), huge: median(huge), smallFirst, hugeFirst, tail: o.tail };
}

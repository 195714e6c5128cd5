import { SecretBox } from '../../../server/auth/secret-box.js';
import { RunService } from '../../../server/core/runs.js';
import { Credits } from '../../../server/core/credits.js';
import { LocalBus } from '../../../server/live/bus.js';
import { silentLogger } from '../../../server/log.js';
import type { RunnerLink } from '../../../server/core/runs.js';
import { LmdbStore, type LmdbStoreOptions } from '../../../server/store/lmdb-store.js';
import type { RunnerInfo } from '../../../protocol/run.js';
import type { GatewayToRunner } from '../../../protocol/runner-messages.js';
import { CcgError } from '../../../protocol/errors.js';
import { tempDir } from '../../helpers/gateway.js';

/** The core services on a real LMDB store in a temp dir and an in-process bus, no transport. */
export function coreHarness(o: LmdbStoreOptions = {}) {
  const dataDir = tempDir('ccg-core-');
  const store = LmdbStore.open(dataDir, o);
  const bus = new LocalBus(silentLogger);
  let clock = 1_700_000_000_000;
  const now = () => clock;
  const box = SecretBox.fromDataDir(dataDir);
  const credits = new Credits(box);
  const runs = new RunService({ store, bus, box, credits, log: silentLogger, now, maxRuns: 100, maxRunBytes: 1024 * 1024 });
  return {
    credits,
    dataDir,
    store,
    bus,
    runs,
    now,
    tick: (ms: number) => void (clock += ms),
    close: async () => {
      await runs.flush();
      await store.close();
    },
  };
}

/** What a runner socket would be: it records what the gateway sends the runner. */
export function recordingLink(): RunnerLink & { sent: GatewayToRunner[]; kicked: CcgError[] } {
  const sent: GatewayToRunner[] = [];
  const kicked: CcgError[] = [];
  return {
    sent,
    kicked,
    sendCancel: (cancel) => void sent.push({ type: 'cancel', ...cancel }),
    sendExec: (msg) => void sent.push(msg),
    send: (msg) => void sent.push(msg),
    kick: (code) => void kicked.push(code),
  };
}

export const RUNNER_INFO: RunnerInfo = { hostname: 'box', pid: 1, version: 'test', mode: 'claude', command: ['claude'], cwd: '/w', pty: false, commands: [] };

/** Ingests one chunk and resolves when it is committed (and its fan-out ran). */
export function ingest(runs: RunService, runId: string, seq: number, stream: number, data: string | Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = runs.ingest(runId, { seq, stream, time: seq, data: Buffer.isBuffer(data) ? data : Buffer.from(data) }, resolve, reject);
    if (r === 'duplicate') resolve(seq);
  });
}

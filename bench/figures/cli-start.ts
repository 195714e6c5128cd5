import { spawn } from 'node:child_process';
import { ApiClient } from '../../cli/client/api.js';
import { CreateRunResponse } from '../../protocol/api.js';
import type { Target } from '../lib/clients.js';
import { CCG_BIN } from '../lib/procs.js';
import { median } from '../lib/stats.js';

export interface CliStartResult {
  /** Medians, spawn → exit, in ms. */
  node: number;
  version: number;
  runsList: number;
  runsApprove: number;
  rounds: number;
  /** Exit codes of the last round (runs approve answers 1: the run has no such approval). */
  exits: Record<string, number | null>;
}

function spawnToExit(args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; code: number | null }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: 'ignore', env });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve({ ms: performance.now() - t0, code }));
  });
}

/**
 * `ccg` start-up as a script sees it: spawn → exit of `ccg --version`, `ccg runs list --json`
 * and `ccg runs approve RUN APPROVAL` (a real run, an approval the gateway does not have: the
 * whole start-up and one request), each round beside `node -e ''`, so machine drift hits all alike.
 */
export async function measureCliStart(t: Target, o: { rounds: number }): Promise<CliStartResult> {
  const api = new ApiClient({ gateway: t.url, token: t.operatorToken!, fingerprint: t.fingerprint ?? undefined });
  const run = await api.json('POST', '/api/v1/runs', CreateRunResponse, { name: 'bench cli start' });
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], CCG_GATEWAY: t.url, CCG_TOKEN: t.operatorToken!, CCG_FINGERPRINT: t.fingerprint ?? '' };
  const cases = {
    node: ['-e', ''],
    version: [CCG_BIN, '--version'],
    runsList: [CCG_BIN, 'runs', 'list', '--json'],
    runsApprove: [CCG_BIN, 'runs', 'approve', run.id, 'bench0approval00000'],
  } as const;
  const times: Record<keyof typeof cases, number[]> = { node: [], version: [], runsList: [], runsApprove: [] };
  const exits: Record<string, number | null> = {};
  for (let i = 0; i <= o.rounds; i++) {
    for (const [name, args] of Object.entries(cases) as [keyof typeof cases, readonly string[]][]) {
      const r = await spawnToExit([...args], env);
      exits[name] = r.code;
      if (i > 0) times[name].push(r.ms); // round 0 warms the file cache
    }
  }
  return { node: median(times.node), version: median(times.version), runsList: median(times.runsList), runsApprove: median(times.runsApprove), rounds: o.rounds, exits };
}

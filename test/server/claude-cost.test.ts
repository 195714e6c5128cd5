import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import type { RunRecord } from '../../server/store/types.js';
import { runCli } from '../helpers/cli.js';
import { fakeRunner } from '../helpers/fake-runner.js';
import { startGateway } from '../helpers/gateway.js';

const init = (sessionId: string): RunnerEvent => ({ type: 'claude_init', sessionId, model: null, cwd: null, version: null, permissionMode: null, tools: [] }) as RunnerEvent;
const result = (costUsd: number): RunnerEvent =>
  ({ type: 'claude_result', subtype: 'success', isError: false, result: 'ok', costUsd, usage: { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheCreationTokens: 0 }, numTurns: 1, durationMs: 1, durationApiMs: 1, denials: [], stopReason: null, terminalReason: null, errors: [], apiErrorStatus: null }) as RunnerEvent;

test("a run's Claude cost: the sum of its sessions' last totals, one record change per chunk however many results it holds, and thousands of sessions cost no more than a few", async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const created = await runCli(['runs', 'create', '--name', 'cost', '--json'], g.env);
  const run = JSON.parse(created.stdout) as CreateRunResponse;
  const r = await fakeRunner(g, run.id, run.token);
  t.after(() => r.close());
  // Every change of this run's record (the store's own method, counted on its way through), but
  // for the output's progress, written lazily once a second.
  let writes = 0;
  const store = g.gw.store;
  const putRun = store.putRun.bind(store);
  store.putRun = (rec: RunRecord, urgency) => {
    if (rec.id === run.id && urgency !== 'lazy') writes++;
    return putRun(rec, urgency);
  };

  // Two sessions, one resumed: 0.5 + 0.25, then session a reports 0.75 in all (its last total counts).
  await r.events(init('session-a'), result(0.5), init('session-b'), result(0.25), init('session-a'), result(0.75));
  let rec = g.gw.runs.get(run.id)!;
  assert.equal(rec.claude?.costUsd, 1);
  assert.equal(rec.claude?.lastTurnCostUsd, 0.25, 'the last turn: session a went from 0.5 to 0.75');

  // A hostile runner: 6 chunks of 400 new sessions with a result each (2,400 results). Each
  // result used to rewrite and announce the record and add up every session so far.
  const before = writes;
  for (let c = 0; c < 6; c++) {
    const evs: RunnerEvent[] = [];
    for (let i = 0; i < 400; i++) evs.push(init(`s-${c}-${i}`), result(0.001));
    await r.events(...evs);
  }
  rec = g.gw.runs.get(run.id)!;
  assert.ok(Math.abs(rec.claude!.costUsd! - (1 + 2.4)) < 1e-9, `cost ${rec.claude?.costUsd}`);
  // One change per chunk (each result rewrote the record: 2,406 writes).
  assert.equal(writes - before, 6, `${writes - before} record changes for 6 chunks`);
});

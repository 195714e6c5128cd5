import type { TestContext } from 'node:test';
import { OperatorClient } from '../../cli/client/operator-client.js';
import type { CreateRunResponse } from '../../protocol/api.js';
import type { Approval } from '../../protocol/claude-control.js';
import { STREAM_EVENT, STREAM_STDOUT } from '../../protocol/frames.js';
import type { RunSummary } from '../../protocol/run.js';
import type { RunnerEvent } from '../../protocol/runner-events.js';
import { itemsOfChunk } from '../../protocol/timeline.js';
import { claudeBinary, claudeEnv } from './claude.js';
import { runCli } from './cli.js';
import { startGateway, tempDir, type TestGateway } from './gateway.js';
import { startModelApi, type ModelApi, type ModelStep } from './model-api.js';
import { spawnCcg, waitFor, type Proc } from './processes.js';

/** What an operator client subscribed to the run saw, as it arrived. */
export interface Seen {
  events: RunnerEvent[];
  /** performance.now() when each event arrived, parallel to `events`. */
  eventTimes: number[];
  approvals: Approval[];
  runs: RunSummary[];
  stdout: string;
  notices: { code: string; message: string }[];
}

/** Enough of a gateway to run against: an in-process one, or a `ccg serve` process. */
export type GatewayRef = Pick<TestGateway, 'url' | 'fingerprint' | 'operatorToken' | 'env'>;

export interface ClaudeRun {
  /** The in-process gateway (undefined when the test passed a `ccg serve` process). */
  g: TestGateway;
  api: ModelApi;
  run: CreateRunResponse;
  runner: Proc;
  /** The workspace Claude works in. */
  cwd: string;
  operator: OperatorClient;
  seen: Seen;
  /** Waits until the operator has seen an event matching `pred`. */
  event<T extends RunnerEvent['type']>(type: T, pred?: (e: Extract<RunnerEvent, { type: T }>) => boolean, ms?: number): Promise<Extract<RunnerEvent, { type: T }>>;
  /** The run's stored timeline, from the gateway's events endpoint. */
  stored(): Promise<RunnerEvent[]>;
  cli(args: string[]): ReturnType<typeof runCli>;
}

/**
 * A real gateway, the model stand-in scripted with `steps`, a run, the real `claude` driven by a
 * real `ccg runner start --cmd PROMPT` process, and an operator client watching the run.
 */
export async function claudeRun(t: TestContext, steps: ModelStep[], opts: { prompt?: string; args?: string[]; gateway?: GatewayRef; name?: string; env?: Record<string, string>; createArgs?: string[]; runnerGateways?: string } = {}): Promise<ClaudeRun> {
  const g = (opts.gateway ?? (await startGateway())) as TestGateway;
  if (!opts.gateway) t.after(() => g.close());
  const api = await startModelApi(steps);
  t.after(() => api.close());
  const run = JSON.parse((await runCli(['runs', 'create', '--json', ...(opts.name ? ['--name', opts.name] : []), ...(opts.createArgs ?? [])], g.env)).stdout) as CreateRunResponse;
  const cwd = tempDir('ccg-claude-ws-');
  const seen: Seen = { events: [], eventTimes: [], approvals: [], runs: [], stdout: '', notices: [] };
  const operator = new OperatorClient({ gateway: g.url, token: g.operatorToken, fingerprint: g.fingerprint }, { reconnect: true, client: 'test' });
  operator.on('chunk', (c) => {
    if (c.stream === STREAM_EVENT) {
      for (const item of itemsOfChunk(c)) {
        seen.events.push(item.event);
        seen.eventTimes.push(performance.now());
      }
    }
    if (c.stream === STREAM_STDOUT) seen.stdout += Buffer.from(c.data).toString('utf8');
  });
  operator.on('approval', (a) => seen.approvals.push(a.approval));
  operator.on('run', (r) => seen.runs.push(r));
  operator.on('notice', (n) => seen.notices.push(n));
  operator.subscribe(run.id);
  operator.start();
  t.after(() => operator.close());
  await waitFor(() => (operator.state === 'open' ? true : undefined), 10_000, 'operator socket');
  const runner = spawnCcg(
    [
      'runner', 'start', '--run-id', run.id, '--gateway', opts.runnerGateways ?? g.url, '--fingerprint', g.fingerprint, '--claude-bin', claudeBinary(),
      '--spool-dir', tempDir(), '--cwd', cwd, '--quiet', '--no-collect', '--grace', '5s', ...(opts.args ?? []), '--cmd', opts.prompt ?? 'do the thing',
    ],
    { ...claudeEnv(api.url), ...opts.env, CCG_RUN_TOKEN: run.token },
  );
  t.after(() => {
    if (runner.child.exitCode === null && runner.child.signalCode === null) runner.child.kill('SIGKILL');
  });
  return {
    g,
    api,
    run,
    runner,
    cwd,
    operator,
    seen,
    event(type, pred, ms = 30_000) {
      return waitFor(() => seen.events.find((e) => e.type === type && (!pred || pred(e as never))) as never, ms, `the operator to see ${type}; runner said: ${runner.stderr().slice(-600)}`);
    },
    async stored() {
      const res = await runCli(['runs', 'events', run.id, '--json'], g.env);
      return res.stdout.trim().split('\n').filter(Boolean).map((l) => {
        const { seq: _s, time: _t, ...ev } = JSON.parse(l) as Record<string, unknown>;
        return ev as RunnerEvent;
      });
    },
    cli: (args) => runCli(args, g.env),
  };
}

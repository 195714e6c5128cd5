import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { AddMachineResponse, ListMachinesResponse, type MachineSummary } from '../../protocol/machine.js';
import { runCli } from './cli.js';
import { tempDir, type TestGateway } from './gateway.js';
import { spawnCcg, waitFor, type Proc } from './processes.js';

export interface TestMachine {
  name: string;
  token: string;
  configFile: string;
  stateDir: string;
  /** The daemon process (replaced by restart()). */
  proc: Proc;
  /** Starts the daemon again (after a kill), same token, config and state. */
  restart(): Promise<Proc>;
  /** Waits until the gateway lists the machine online (optionally: with this predicate). */
  online(pred?: (m: MachineSummary) => boolean): Promise<MachineSummary>;
}

/** The machine as the gateway lists it. */
export async function machineOf(g: Pick<TestGateway, 'env'>, name: string): Promise<MachineSummary | undefined> {
  const res = await runCli(['machines', 'list', '--json'], g.env);
  return ListMachinesResponse.parse(JSON.parse(res.stdout)).machines.find((m) => m.name === name);
}

/**
 * Adds a machine on the gateway (`ccg machines add`; unless its token is given), writes its config file and starts a real
 * `ccg machine start` daemon process with the token in its environment.
 */
export async function startMachine(
  t: TestContext,
  g: Pick<TestGateway, 'env' | 'url' | 'fingerprint'>,
  o: { name: string; config: unknown; env?: Record<string, string>; args?: string[]; token?: string; bin?: string },
): Promise<TestMachine> {
  let token = o.token;
  if (!token) {
    const added = await runCli(['machines', 'add', o.name, '--json'], g.env);
    if (added.code !== 0) throw new Error(`machines add failed: ${added.stderr}`);
    token = AddMachineResponse.parse(JSON.parse(added.stdout)).token;
  }
  const dir = tempDir('ccg-machine-');
  const configFile = join(dir, 'machine.json');
  writeFileSync(configFile, JSON.stringify(o.config));
  const stateDir = join(dir, 'state');
  const spawnIt = () =>
    spawnCcg(['machine', 'start', '--gateway', g.url, '--fingerprint', g.fingerprint, '--name', o.name, '--config', configFile, '--state-dir', stateDir, '--heartbeat', '1s', ...(o.args ?? [])], {
      ...o.env, CCG_MACHINE_TOKEN: token!,
    }, o.bin ? { bin: o.bin } : {});
  const m: TestMachine = {
    name: o.name, token: token!, configFile, stateDir,
    proc: spawnIt(),
    async restart() {
      m.proc = spawnIt();
      return m.proc;
    },
    online: (pred) => waitFor(async () => {
      const got = await machineOf(g, o.name);
      return got?.online && (!pred || pred(got)) ? got : undefined;
    }, 30_000, `machine ${o.name} online; daemon said: ${m.proc.stderr().slice(-800)}`),
  };
  t.after(() => {
    if (m.proc.child.exitCode === null && m.proc.child.signalCode === null) m.proc.child.kill('SIGKILL');
    // The runners it started are detached (they outlive the daemon): ended here by their recorded pids.
    for (const r of machineRuns(stateDir)) {
      try {
        process.kill(r.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
  return m;
}

/** The daemon's records of the runs it started (`<state>/runs/*.json`). */
export function machineRuns(stateDir: string): { runId: string; pid: number; dir: string; workspace: string; endedAt: number | null }[] {
  const dir = join(stateDir, 'runs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { runId: string; pid: number; dir: string; workspace: string; endedAt: number | null });
}

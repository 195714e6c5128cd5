import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { spawnCcg, waitFor, type Proc } from './processes.js';

/** A `ccg serve` running as its own process (so a test can kill -9 it, or watch it crash). */
export interface ServeProc {
  proc: Proc;
  url: string;
  fingerprint: string;
  pid: number;
  /** The one-time setup code while no admin exists. */
  setupCode: string | null;
  operatorToken: string;
  /** CCG_GATEWAY, CCG_TOKEN, CCG_FINGERPRINT for runCli / spawnCcg. */
  env: Record<string, string>;
  alive(): boolean;
  /** SIGTERM, then SIGKILL after 10 s; resolves once it has exited. */
  stop(): Promise<void>;
}
/** The older name of ServeProc. */
export type Served = ServeProc;

/** A TCP port that was free a moment ago (for restarting a gateway on the same port). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Starts `ccg serve --data DIR [ARGS…]` on loopback (port 0 picks one) and waits for its ready line. */
export async function startServe(dataDir: string, port = 0, env: Record<string, string> = {}, args: string[] = []): Promise<ServeProc> {
  const proc = spawnCcg(['serve', '--data', dataDir, '--port', String(port), '--host', '127.0.0.1', '--json', '--log-level', 'warn', ...args], env);
  const ready = await waitFor(() => {
    if (proc.child.exitCode !== null) throw new Error(`ccg serve exited ${proc.child.exitCode}: ${proc.stderr().slice(-2000)}`);
    const line = proc.stdout().toString().split('\n').find((l) => l.includes('"ready"'));
    return line ? (JSON.parse(line) as { url: string; fingerprint: string; setupCode?: string | null }) : undefined;
  }, 20_000, 'gateway ready line');
  const operatorToken = readFileSync(`${dataDir}/operator.token`, 'utf8').trim();
  const alive = () => proc.child.exitCode === null && proc.child.signalCode === null;
  return {
    proc,
    url: ready.url,
    fingerprint: ready.fingerprint,
    pid: proc.child.pid!,
    setupCode: ready.setupCode ?? null,
    operatorToken,
    env: { CCG_GATEWAY: ready.url, CCG_TOKEN: operatorToken, CCG_FINGERPRINT: ready.fingerprint },
    alive,
    async stop() {
      if (!alive()) return;
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}

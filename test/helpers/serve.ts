import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { spawnCcg, waitFor, type Proc } from './processes.js';

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface ServeProc {
  proc: Proc;
  url: string;
  fingerprint: string;
  /** The one-time setup code while no admin exists. */
  setupCode: string | null;
  operatorToken: string;
  env: Record<string, string>;
}
/** The older name of ServeProc. */
export type Served = ServeProc;

/** `ccg serve` as a real process (so it can be killed like one), ready when it prints its JSON ready line. */
export async function startServe(dataDir: string, port: number, env: Record<string, string> = {}): Promise<ServeProc> {
  const proc = spawnCcg(['serve', '--data', dataDir, '--port', String(port), '--host', '127.0.0.1', '--json', '--log-level', 'warn'], env);
  const ready = await waitFor(() => {
    const line = proc.stdout().toString().split('\n').find((l) => l.includes('"ready"'));
    return line ? (JSON.parse(line) as { url: string; fingerprint: string; setupCode: string | null }) : undefined;
  }, 15_000, `gateway ready line; stderr: ${proc.stderr().slice(-500)}`);
  const operatorToken = readFileSync(`${dataDir}/operator.token`, 'utf8').trim();
  return { proc, ...ready, operatorToken, env: { CCG_GATEWAY: ready.url, CCG_TOKEN: operatorToken, CCG_FINGERPRINT: ready.fingerprint } };
}

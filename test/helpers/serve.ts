import { createServer } from 'node:net';
import { spawnCcg, waitFor, type Proc } from './processes.js';

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface Served {
  proc: Proc;
  url: string;
  fingerprint: string;
  setupCode: string | null;
}

/** Starts `ccg serve` as a real process on a given port and waits for its ready line. */
export async function startServe(dataDir: string, port: number, env: Record<string, string> = {}): Promise<Served> {
  const proc = spawnCcg(['serve', '--data', dataDir, '--port', String(port), '--host', '127.0.0.1', '--json', '--log-level', 'warn'], env);
  const ready = await waitFor(() => {
    const line = proc.stdout().toString().split('\n').find((l) => l.includes('"ready"'));
    return line ? (JSON.parse(line) as { url: string; fingerprint: string; setupCode: string | null }) : undefined;
  }, 15_000, 'gateway ready line');
  return { proc, ...ready };
}

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway, type Gateway, type GatewayOptions } from '../../server/gateway.js';
import { silentLogger } from '../../server/log.js';

export interface TestGateway {
  url: string;
  fingerprint: string;
  operatorToken: string;
  dataDir: string;
  gw: Gateway;
  env: Record<string, string>;
  close(): Promise<void>;
}

export function tempDir(prefix = 'ccg-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A real gateway on an ephemeral loopback port with a temp data dir. */
export async function startGateway(opts: Partial<GatewayOptions> = {}): Promise<TestGateway> {
  const dataDir = opts.dataDir ?? tempDir();
  const gw = await createGateway({ host: '127.0.0.1', port: 0, log: silentLogger, ...opts, dataDir });
  const operatorToken = readFileSync(gw.operatorTokenFile, 'utf8').trim();
  return {
    url: gw.url,
    fingerprint: gw.fingerprint!,
    operatorToken,
    dataDir,
    gw,
    env: { CCG_GATEWAY: gw.url, CCG_TOKEN: operatorToken, CCG_FINGERPRINT: gw.fingerprint ?? '' },
    async close() {
      await gw.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TemplatedApp } from 'uWebSockets.js';
import { CcgError } from '../../protocol/errors.js';
import type { Logger } from '../log.js';
import { route } from '../respond.js';

/** The single-file runner as the gateway serves it: its bytes and their SHA-256. */
export interface RunnerFile {
  bytes: Buffer;
  sha256: string;
}

export const RUNNER_FILE_PATH = '/ccg-runner.mjs';

/**
 * The single-file runner built by `npm run build` (dist/runner/ccg-runner.mjs), read once; null
 * when it was not built (a gateway run from the sources without the build step).
 */
export function loadRunnerFile(file: URL | string = new URL('../../runner/ccg-runner.mjs', import.meta.url)): RunnerFile | null {
  try {
    const bytes = readFileSync(file);
    return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  } catch {
    return null;
  }
}

/**
 * `GET /ccg-runner.mjs`: public (it is the published code, holding no secret), sent as an
 * attachment. Whoever fetches it checks its SHA-256 against the one shown to them on the page or
 * by `ccg machines add`, and the gateway's certificate against the pin.
 */
export function mountRunnerFile(app: TemplatedApp, log: Logger, file: RunnerFile | null): void {
  route(app, 'get', RUNNER_FILE_PATH, log, () => {
    if (!file) throw new CcgError('ERR_NOT_FOUND', 'this gateway has no single-file runner (run `npm run build`)');
    return {
      status: 200,
      headers: { 'content-type': 'text/javascript; charset=utf-8', 'content-disposition': 'attachment; filename="ccg-runner.mjs"', 'x-content-sha256': file.sha256, 'cache-control': 'no-cache' },
      body: file.bytes,
    };
  });
}

/**
 * Two lines for a machine with Node and nothing else: fetch the single-file runner over the pinned
 * connection (the certificate's SHA-256 and the file's are both checked before it is written),
 * then start the machine daemon with it. The token goes through the environment.
 */
export function singleFileCommands(o: { url: string; fingerprint: string | null; sha256: string; name: string; token: string }): string[] {
  const pin = o.fingerprint
    ? `const c=r.socket.getPeerCertificate();if("sha256:"+String(c.fingerprint256).replace(/:/g,"").toLowerCase()!==p)throw Error("certificate does not match the pin");`
    : '';
  const fetch = `node -e 'const[u,p,s]=process.argv.slice(1);require("https").get(u,{rejectUnauthorized:${o.fingerprint ? 'false' : 'true'}},r=>{${pin}const b=[];r.on("data",d=>b.push(d)).on("end",()=>{const x=Buffer.concat(b);if(require("crypto").createHash("sha256").update(x).digest("hex")!==s)throw Error("file hash mismatch");require("fs").writeFileSync("ccg-runner.mjs",x);console.log("ccg-runner.mjs verified")})})' ${o.url}${RUNNER_FILE_PATH} ${o.fingerprint ?? '-'} ${o.sha256}`;
  const start = [`CCG_MACHINE_TOKEN=${o.token}`, 'node', 'ccg-runner.mjs', 'machine', 'start', '--gateway', o.url, ...(o.fingerprint ? ['--fingerprint', o.fingerprint] : []), '--name', o.name].join(' ');
  return [fetch, start];
}

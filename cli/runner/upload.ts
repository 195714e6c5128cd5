import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { uploadPath, type ArtifactInfo, type ArtifactKind } from '../../protocol/artifacts.js';
import { HEADER_CONTENT_SHA256, signRequest } from '../../protocol/signing.js';
import { agentFor } from '../client/pinned-agent.js';

export interface UploadTarget {
  gateway: string;
  runId: string;
  token: string;
  fingerprint: string | undefined;
}

export interface UploadItem {
  name: string;
  kind: ArtifactKind;
  /** The collect request id, or `exit`. */
  collection: string;
  truncated: boolean;
  originalBytes: number | null;
  body: Buffer;
}

/** An upload the gateway refused for good (a 4xx other than 408/429): retrying cannot help. */
export class UploadRefused extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/**
 * Uploads one artifact: `POST /api/v1/runner/runs/{id}/artifacts?name=…&kind=…`, the raw bytes as
 * the body, signed with the run token like every runner request (PROTOCOL.md). The body's SHA-256
 * goes in `x-ccg-content-sha256` too, so the gateway can check the signature before reading the
 * body. Network errors and 5xx/408/429 answers are retried with backoff until `deadline`.
 */
export async function uploadArtifact(t: UploadTarget, item: UploadItem, deadline: number): Promise<ArtifactInfo> {
  const query = new URLSearchParams({ name: item.name, kind: item.kind, collection: item.collection, truncated: item.truncated ? '1' : '0' });
  if (item.originalBytes !== null) query.set('originalBytes', String(item.originalBytes));
  const target = `${uploadPath(t.runId)}?${query.toString()}`;
  const sha = createHash('sha256').update(item.body).digest('hex');
  for (let attempt = 0; ; attempt++) {
    try {
      return await once(t, target, sha, item.body);
    } catch (err) {
      if (err instanceof UploadRefused) throw err;
      const delay = Math.random() * Math.min(5000, 200 * 2 ** attempt);
      if (Date.now() + delay > deadline) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

function once(t: UploadTarget, target: string, sha: string, body: Buffer): Promise<ArtifactInfo> {
  const url = new URL(target, t.gateway);
  // Signed afresh on every attempt: a nonce is good once.
  const headers = {
    ...signRequest(t.token, { method: 'POST', target, runId: t.runId, bodySha256: sha }),
    [HEADER_CONTENT_SHA256]: sha,
    'content-type': 'application/octet-stream',
    'content-length': String(body.length),
  };
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<ArtifactInfo>((resolve, reject) => {
    const req = mod.request(url, { method: 'POST', headers, agent: agentFor(url, t.fingerprint), timeout: 60_000 });
    req.on('timeout', () => req.destroy(new Error('upload timed out')));
    req.on('error', reject);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        let parsed: { artifact?: ArtifactInfo; error?: { code?: string; message?: string } } = {};
        try {
          parsed = JSON.parse(Buffer.concat(parts).toString('utf8')) as typeof parsed;
        } catch {
          /* not JSON */
        }
        if (status >= 200 && status < 300 && parsed.artifact) return resolve(parsed.artifact);
        const code = parsed.error?.code ?? `HTTP_${status}`;
        const message = `${code}: ${parsed.error?.message ?? `gateway answered ${status}`}`;
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) reject(new UploadRefused(status, code, message));
        else reject(new Error(message));
      });
    });
    req.end(body);
  });
}

import type { TemplatedApp } from 'uWebSockets.js';
import { UploadQuery, artifactBasename, isArtifactName, type ArtifactsResponse, type CollectResponse } from '../../protocol/artifacts.js';
import { CcgError } from '../../protocol/errors.js';
import { RUN_ID_RE } from '../../protocol/ids.js';
import { Redaction } from '../../protocol/redaction.js';
import { isFinal } from '../../protocol/run.js';
import { HEADER_CONTENT_SHA256 } from '../../protocol/signing.js';
import type { ArtifactService, Upload } from '../core/artifacts.js';
import { checkRunnerSignature, claimRunnerNonce, type RunnerAuthDeps } from '../auth/runner-auth.js';
import { requireRole, type Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { RunService } from '../core/runs.js';
import type { AuthStore } from '../store/types.js';
import { route, type Ctx } from '../respond.js';
import { streamFile } from './send-file.js';

export interface ArtifactsApiOptions extends RunnerAuthDeps {
  runs: RunService;
  store: AuthStore;
  artifacts: ArtifactService;
  log: Logger;
  who: (ctx: Ctx) => Principal;
}

/**
 * Artifacts over HTTP: the runner's signed upload, and the operator's list, download and
 * collect-now request.
 */
export function mountArtifactsApi(app: TemplatedApp, o: ArtifactsApiOptions): void {
  const runIdParam = (ctx: Ctx) => {
    const id = ctx.params[0] ?? '';
    if (!RUN_ID_RE.test(id)) throw new CcgError('ERR_RUN_NOT_FOUND', `no run with id ${id.slice(0, 40)}`);
    return id;
  };

  // ---- runner: POST /api/v1/runner/runs/{id}/artifacts?name=…&kind=…&collection=…  (signed, raw body)
  route(app, 'post', '/api/v1/runner/runs/:id/artifacts', o.log, async (ctx) => {
    const pathId = ctx.params[0] ?? '';
    const params = new URLSearchParams(ctx.query);
    const keys = [...params.keys()];
    if (new Set(keys).size !== keys.length) throw new CcgError('ERR_BAD_REQUEST', 'a query parameter is repeated');
    const q = UploadQuery.safeParse(Object.fromEntries(params));
    if (!q.success) {
      const i = q.error.issues[0];
      throw new CcgError('ERR_BAD_REQUEST', `${i?.path.join('.') || 'query'}: ${i?.message ?? 'invalid'}`);
    }
    const declared = ctx.headers[HEADER_CONTENT_SHA256] ?? '';
    if (!/^[0-9a-f]{64}$/.test(declared)) throw new CcgError('ERR_BAD_REQUEST', `${HEADER_CONTENT_SHA256} must be the body's lowercase hex SHA-256`);
    const lengthHeader = ctx.headers['content-length'];
    if (!lengthHeader || !/^[0-9]{1,15}$/.test(lengthHeader)) throw new CcgError('ERR_BAD_REQUEST', 'content-length is required (chunked uploads are not accepted)');
    const length = Number(lengthHeader);
    if (length > o.artifacts.limits.maxArtifactBytes) throw new CcgError('ERR_TOO_LARGE', `artifact of ${length} bytes exceeds the gateway's limit of ${o.artifacts.limits.maxArtifactBytes}`);
    // Signature before the body: a request the run's token did not sign never gets a byte stored.
    const { run, signed } = checkRunnerSignature(o, { method: 'POST', target: ctx.target, headers: ctx.headers, bodySha256: declared });
    // The token opens only its own run: the path must name the run that signed.
    if (run.id !== pathId) throw new CcgError('ERR_FORBIDDEN', 'the request is signed for another run than the one in its path');
    if (isFinal(run.status)) throw new CcgError('ERR_RUN_FINISHED', `run ${run.id} is already ${run.status}`);
    const upload = o.artifacts.begin(run.id, {
      name: q.data.name,
      kind: q.data.kind,
      truncated: q.data.truncated === '1',
      originalBytes: q.data.originalBytes !== undefined ? Number(q.data.originalBytes) : null,
      collection: q.data.collection === 'exit' ? null : q.data.collection,
    }, length);
    const nonce = claimRunnerNonce(o, signed);
    nonce.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
    try {
      await receive(ctx, upload);
      await nonce;
      const token = o.runs.tokenOf(run);
      const info = await upload.finish(declared, new Redaction({ literals: token ? [{ kind: 'ccg-token', value: token }] : [] }));
      await o.store.appendAudit({
        at: Date.now(), actor: 'runner', action: 'artifact.upload', target: run.id, from: ctx.remote,
        detail: { name: info.name, kind: info.kind, bytes: info.bytes, sha256: info.sha256, truncated: info.truncated },
      });
      o.log.info('artifact.stored', { run: run.id, name: info.name, bytes: info.bytes, sha256: info.sha256 });
      return { status: 201, json: { artifact: info } };
    } catch (err) {
      upload.abort();
      throw err;
    }
  });

  // ---- operators
  route(app, 'get', '/api/v1/runs/:id/artifacts', o.log, (ctx) => {
    o.who(ctx);
    const id = runIdParam(ctx);
    o.runs.mustGet(id);
    const out: ArtifactsResponse = { artifacts: o.artifacts.list(id) };
    return { status: 200, json: out };
  });

  // The name is one path segment: `/` inside it is sent as %2F (encodeURIComponent).
  route(app, 'get', '/api/v1/runs/:id/artifacts/:name', o.log, async (ctx) => {
    const p = o.who(ctx);
    const id = runIdParam(ctx);
    o.runs.mustGet(id);
    return sendArtifact(o, ctx, p, id, ctx.params[1] ?? '');
  });

  route(app, 'post', '/api/v1/runs/:id/collect', o.log, async (ctx) => {
    const p = o.who(ctx);
    const id = runIdParam(ctx);
    return { status: 202, json: await requestCollect(o, p, id, ctx.remote) };
  });
}

/**
 * Streams one stored artifact as a download (API and run page alike): authorised by the caller,
 * audited as `artifact.download`, sent as an attachment that no browser renders as a page.
 */
export async function sendArtifact(o: Pick<ArtifactsApiOptions, 'store' | 'artifacts'>, ctx: Ctx, p: Principal, id: string, name: string): Promise<{ streamed: true }> {
  const info = isArtifactName(name) ? o.artifacts.get(id, name) : undefined;
  if (!info) throw new CcgError('ERR_NOT_FOUND', `run ${id} has no artifact named ${JSON.stringify(name.slice(0, 100))}`);
  await o.store.appendAudit({ at: Date.now(), actor: p.name, action: 'artifact.download', target: id, from: ctx.remote, detail: { name: info.name, sha256: info.sha256 } });
  if (ctx.aborted()) return { streamed: true };
  streamFile(ctx, o.artifacts.blobPath(info.sha256), info.bytes, {
    'content-type': info.contentType,
    // The name is restricted to [A-Za-z0-9._+@-] segments: no quote, CR or LF can reach this header.
    'content-disposition': `attachment; filename="${artifactBasename(info.name)}"`,
    'content-security-policy': "default-src 'none'; sandbox",
    'x-ccg-sha256': info.sha256,
  });
  return { streamed: true };
}

/** Asks the run's runner to collect its artifacts now (operators and admins), audited as `artifacts.collect`. */
export async function requestCollect(o: Pick<ArtifactsApiOptions, 'store' | 'runs'>, p: Principal, id: string, from: string | null): Promise<CollectResponse> {
  requireRole(p, 'operator');
  const out: CollectResponse = o.runs.request(id, (requestId) => ({ type: 'collect', requestId }));
  await o.store.appendAudit({ at: Date.now(), actor: p.name, action: 'artifacts.collect', target: id, from, detail: { requestId: out.requestId } });
  return out;
}

/** Reads the request body into the upload as it arrives; rejects past its length or when the client goes away. */
function receive(ctx: Ctx, upload: Upload): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failed = false;
    ctx.onAborted(() => {
      failed = true;
      reject(new CcgError('ERR_BAD_REQUEST', 'client went away during the upload'));
    });
    ctx.res.onData((ab, isLast) => {
      if (failed) return;
      try {
        upload.write(Buffer.from(ab)); // written synchronously: uWS reuses the buffer after this callback
      } catch (err) {
        failed = true;
        reject(err instanceof CcgError ? err : new CcgError('ERR_STORAGE', 'could not store the upload'));
        return;
      }
      if (isLast) resolve();
    });
  });
}

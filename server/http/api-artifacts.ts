import type { TemplatedApp } from 'uWebSockets.js';
import { UploadQuery, type ArtifactsResponse } from '../../protocol/artifacts.js';
import { CcgError } from '../../protocol/errors.js';
import { Redaction } from '../../protocol/redaction.js';
import { isFinal, runEnded } from '../../protocol/run.js';
import { HEADER_CONTENT_SHA256 } from '../../protocol/signing.js';
import type { ArtifactService, Upload } from '../core/artifacts.js';
import type { Requests } from '../core/requests.js';
import { checkRunnerSignature, claimRunnerNonce, type RunnerAuthDeps } from '../auth/runner-auth.js';
import type { Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { RunService } from '../core/runs.js';
import type { AuthStore } from '../store/types.js';
import { runIdParam } from './stored-stream.js';
import { route, type Ctx } from '../respond.js';
import { sendArtifact } from './send-file.js';

export interface ArtifactsApiOptions extends RunnerAuthDeps {
  runs: RunService;
  store: AuthStore;
  artifacts: ArtifactService;
  requests: Requests;
  log: Logger;
  who: (ctx: Ctx) => Principal;
}

/**
 * Artifacts over HTTP: the runner's signed upload, and the operator's list, download and
 * collect-now request.
 */
export function mountArtifactsApi(app: TemplatedApp, o: ArtifactsApiOptions): void {
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
    if (isFinal(run.status)) throw runEnded(run.id, run.status);
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
      // The token may have been revoked while the body arrived: nothing of it is kept then.
      if (o.runs.get(run.id)?.revokedBy) throw new CcgError('ERR_RUN_REVOKED', `the token of run ${run.id} was revoked`);
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
    const opened = await o.requests.openArtifact({ principal: p, from: ctx.remote }, runIdParam(ctx), ctx.params[1] ?? '', 'download');
    return sendArtifact(ctx, opened);
  });

  route(app, 'post', '/api/v1/runs/:id/collect', o.log, async (ctx) => {
    const p = o.who(ctx);
    const id = runIdParam(ctx);
    return { status: 202, json: await o.requests.collect({ principal: p, from: ctx.remote }, id) };
  });
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

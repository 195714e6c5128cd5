import { CcgError } from '../../protocol/errors.js';
import {
  HEADER_NONCE,
  HEADER_RUN_ID,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  SIGNATURE_WINDOW_S,
  checkSignedHeaders,
  signatureMatches,
  type SignedHeaders,
} from '../../protocol/signing.js';
import type { AuthStore, RunRecord, RunStore } from '../store/types.js';
import { isRunId } from '../../protocol/ids.js';

export interface RunnerAuthDeps {
  /** The runs (core/runs.ts's RunService): a run by id, and its token for the signature check. */
  runs: { get(id: string): RunRecord | undefined; tokenOf(run: RunRecord): string | undefined };
  /** Nonces; on a cluster also `fetchRun`, for a run another node created a moment ago. */
  store: AuthStore & Partial<Pick<RunStore, 'fetchRun'>>;
  now: () => number;
}

/**
 * Verifies a signed runner request (the WebSocket upgrade or an HTTP call): header shape, clock
 * window, the HMAC keyed by that run's token (constant-time), then the nonce, which is recorded
 * durably before this resolves so a replay is refused even after a gateway restart.
 * Throws a CcgError naming what was wrong.
 */
export async function verifyRunnerRequest(
  deps: RunnerAuthDeps,
  req: { method: string; target: string; headers: Record<string, string>; body?: Uint8Array },
): Promise<RunRecord> {
  // A cluster: a run created on another node a moment ago may not have reached this node's copy
  // yet (a runner behind a load balancer can be that quick). Asked of the server once, and only
  // for a well-formed run id (a made-up one costs one read, like any refused upgrade).
  const runId = req.headers[HEADER_RUN_ID];
  if (deps.store.fetchRun && runId !== undefined && isRunId(runId) && !deps.runs.get(runId)) await deps.store.fetchRun(runId);
  const { run, signed } = checkRunnerSignature(deps, req);
  await claimRunnerNonce(deps, signed);
  return run;
}

/**
 * The synchronous part of the verification: everything but the nonce. A streamed upload runs it
 * before reading the body (with the hash the runner declared), so a request that is not signed
 * by the run's token is refused before a byte of its body is stored.
 */
export function checkRunnerSignature(
  deps: RunnerAuthDeps,
  req: { method: string; target: string; headers: Record<string, string>; body?: Uint8Array; bodySha256?: string },
): { run: RunRecord; signed: SignedHeaders } {
  const h: Partial<SignedHeaders> = {
    runId: req.headers[HEADER_RUN_ID],
    timestamp: req.headers[HEADER_TIMESTAMP],
    nonce: req.headers[HEADER_NONCE],
    signature: req.headers[HEADER_SIGNATURE],
  };
  const now = deps.now();
  const shape = checkSignedHeaders(h, now);
  if (!shape.ok) throw new CcgError(shape.code, shape.message);
  const signed = h as SignedHeaders;
  const run = deps.runs.get(signed.runId);
  if (!run) throw new CcgError('ERR_RUN_NOT_FOUND', `no run with id ${signed.runId}`);
  const token = deps.runs.tokenOf(run);
  if (!token || !signatureMatches(token, signed, req)) {
    throw new CcgError('ERR_SIGNATURE_INVALID', 'signature does not match this run (wrong token, run, path or body)');
  }
  // A revoked token is refused for good: reconnects, uploads, everything it signs.
  if (run.revokedBy) throw new CcgError('ERR_RUN_REVOKED', `the token of run ${run.id} was revoked`);
  return { run, signed };
}

/** Records the nonce of a verified request; throws ERR_NONCE_REPLAY when it was used before. */
export async function claimRunnerNonce(deps: RunnerAuthDeps, signed: SignedHeaders): Promise<void> {
  // Kept for twice the window past the signed time: long enough that the timestamp check
  // alone refuses it afterwards.
  const expiresAt = Number(signed.timestamp) * 1000 + 2 * SIGNATURE_WINDOW_S * 1000;
  if (!(await deps.store.claimNonce(signed.nonce, expiresAt))) {
    throw new CcgError('ERR_NONCE_REPLAY', 'this nonce was already used: every request needs a fresh one');
  }
}

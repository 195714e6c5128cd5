import type { TemplatedApp } from 'uWebSockets.js';
import { ChunksQuery, type ChunksResponse, type ScreenResponse } from '../../protocol/api.js';
import { CcgError } from '../../protocol/errors.js';
import { RUN_ID_RE } from '../../protocol/ids.js';
import type { Principal } from '../auth/operator-auth.js';
import type { Logger } from '../log.js';
import type { RunService } from '../core/runs.js';
import type { RunStore, TermSnapshotStore } from '../store/types.js';
import { route, type Ctx } from '../respond.js';

export interface ChunksApiOptions {
  runs: RunService;
  store: RunStore & TermSnapshotStore;
  log: Logger;
  who: (ctx: Ctx) => Principal;
}

/**
 * `GET /api/v1/runs/{id}/chunks?from=N | before=N`: a bounded range of stored output as JSON.
 * The TUI pages older output in with `before` when the operator scrolls back; only that range is
 * read, so scrolling a run with a million chunks costs what scrolling a small one does.
 */
export function mountChunksApi(app: TemplatedApp, o: ChunksApiOptions): void {
  route(app, 'get', '/api/v1/runs/:id/chunks', o.log, async (ctx) => {
    o.who(ctx);
    const id = ctx.params[0] ?? '';
    if (!RUN_ID_RE.test(id)) throw new CcgError('ERR_RUN_NOT_FOUND', `no run with id ${id.slice(0, 40)}`);
    o.runs.mustGet(id);
    const q = ChunksQuery.safeParse(Object.fromEntries(new URLSearchParams(ctx.query)));
    if (!q.success) {
      const issue = q.error.issues[0];
      throw new CcgError('ERR_BAD_REQUEST', `${issue?.path.length ? `${issue.path.join('.')}: ` : ''}${issue?.message ?? 'bad query'}`);
    }
    const lastSeq = await o.runs.latestSeq(id);
    const limits = { limit: q.data.limit, maxBytes: q.data.maxBytes };
    let chunks;
    let more: boolean;
    if (q.data.before !== undefined) {
      chunks = await o.store.readChunksBefore(id, Math.min(q.data.before, lastSeq + 1), limits);
      more = (chunks[0]?.seq ?? 1) > 1;
    } else {
      // Never past the committed seq: what is not yet acknowledged is not yet output.
      chunks = (await o.store.readChunks(id, q.data.from ?? 1, limits)).filter((c) => c.seq <= lastSeq);
      const last = chunks.at(-1)?.seq ?? (q.data.from ?? 1) - 1;
      more = last < lastSeq;
    }
    const out: ChunksResponse = {
      chunks: chunks.map((c) => ({ seq: c.seq, stream: c.stream, time: c.time, data: Buffer.from(c.data).toString('base64') })),
      lastSeq,
      more,
    };
    return { status: 200, json: out };
  });

  // A pty run's latest screen: the TUI's terminal pane starts from it (O(screen), not O(history)).
  route(app, 'get', '/api/v1/runs/:id/screen', o.log, async (ctx) => {
    o.who(ctx);
    const id = ctx.params[0] ?? '';
    if (!RUN_ID_RE.test(id)) throw new CcgError('ERR_RUN_NOT_FOUND', `no run with id ${id.slice(0, 40)}`);
    o.runs.mustGet(id);
    // The snapshot first: the seq it covers is never past the lastSeq read after it.
    const snap = o.store.latestTermSnapshot(id);
    const lastSeq = await o.runs.latestSeq(id);
    const out: ScreenResponse = { snapshot: snap ? { seq: snap.seq, cols: snap.cols, rows: snap.rows, data: snap.data } : null, lastSeq };
    return { status: 200, json: out };
  });
}

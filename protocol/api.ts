import { z } from 'zod';
import { BudgetUsd } from './claude-run-state.js';
import { AdvertisedCommand, RunName, RunStatus, RunSummary } from './run.js';

/** The operator HTTP API (`/api/v1/…`, `Authorization: Bearer ccgo_…`). */

export const CreateRunRequest = z
  .object({
    name: RunName.optional(),
    /** A spending limit for Claude in US dollars: the runner passes it to claude as --max-budget-usd. */
    maxBudgetUsd: BudgetUsd.optional(),
  })
  .strict();
export type CreateRunRequest = z.infer<typeof CreateRunRequest>;

export const CreateRunResponse = z.object({
  id: z.string(),
  /** Shown once. The gateway keeps it only encrypted and never returns it again. */
  token: z.string(),
  /** The command to run on the Claude machine, with the token passed through the environment. */
  runnerCommand: z.string(),
  run: RunSummary,
});
export type CreateRunResponse = z.infer<typeof CreateRunResponse>;

export const ListRunsQuery = z.object({
  status: RunStatus.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const ListRunsResponse = z.object({ runs: z.array(RunSummary) });
export type ListRunsResponse = z.infer<typeof ListRunsResponse>;

export const RunResponse = z.object({ run: RunSummary });
export type RunResponse = z.infer<typeof RunResponse>;

export const CancelResponse = z.object({ run: RunSummary, delivered: z.boolean() });
export type CancelResponse = z.infer<typeof CancelResponse>;

/** `POST /api/v1/runs/:id/revoke`: the run after it, and whether a runner was connected (and cut off). */
export const RevokeResponse = z.object({ run: RunSummary, connected: z.boolean() });
export type RevokeResponse = z.infer<typeof RevokeResponse>;

/** The store's state as anyone may see it: whether it takes writes, and which kind it is. */
export const StoreState = z.object({ ok: z.boolean(), kind: z.string().min(1).max(32) });
export type StoreState = z.infer<typeof StoreState>;

/**
 * `GET /healthz` (always 200 while the gateway answers) and `GET /readyz` (200, or 503 with `ok`
 * false while the store takes no writes): the gateway's clock (ms since the epoch) and its store's
 * state. Older gateways omit `time` and `store` and have no /readyz.
 */
export const HealthResponse = z.object({ ok: z.boolean(), time: z.number().optional(), store: StoreState.optional() });

/**
 * `GET /api/v1/health` (any signed-in role): the store's own report (`Store.health()`): a line for
 * a person, and for a clustered store this node, its NATS servers and what is degraded.
 */
export const StoreHealthResponse = z.object({
  time: z.number(),
  store: z.object({
    ok: z.boolean(),
    kind: z.string().min(1).max(32),
    detail: z.string().max(4000),
    cluster: z
      .object({
        nodeId: z.string().max(64),
        server: z.string().max(1000).nullable(),
        servers: z.array(z.string().max(1000)).max(64),
        name: z.string().max(256).nullable(),
        replicas: z.number().int().min(0).max(64),
        degraded: z.array(z.string().max(256)).max(256),
      })
      .optional(),
  }),
});
export type StoreHealthResponse = z.infer<typeof StoreHealthResponse>;
export type HealthResponse = z.infer<typeof HealthResponse>;

export const ExecRequest = z
  .object({
    name: z.string().min(1).max(64),
    params: z.record(z.string().max(64), z.string().max(1024)).default({}),
  })
  .strict();
export type ExecRequest = z.infer<typeof ExecRequest>;

export const ExecResponse = z.object({ requestId: z.string(), fromSeq: z.number().int().positive() });
export type ExecResponse = z.infer<typeof ExecResponse>;

export const CommandsResponse = z.object({
  connected: z.boolean(),
  commands: z.array(AdvertisedCommand),
  /** The names the caller's role may run under the gateway's command policy. */
  mayRun: z.array(z.string()).default([]),
});
export type CommandsResponse = z.infer<typeof CommandsResponse>;

/**
 * `GET /api/v1/runs/{id}/chunks`: a range of stored chunks as JSON, for paging (the TUI's scroll
 * back) and scripts. `from=N`: chunks with seq ≥ N, oldest first. `before=N`: the newest chunks
 * with seq < N (still returned oldest first). Stops at `limit` chunks or once `maxBytes` is passed.
 */
const Seq = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
export const ChunksQuery = z
  .object({
    from: Seq.optional(),
    before: Seq.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
    maxBytes: z.coerce.number().int().min(1).max(1024 * 1024).default(256 * 1024),
  })
  .strict()
  .refine((q) => !(q.from !== undefined && q.before !== undefined), 'give from or before, not both');
export type ChunksQuery = z.infer<typeof ChunksQuery>;

export const ApiChunk = z.object({
  seq: z.number().int().positive(),
  /** 0 stdout, 1 stderr, 2 allowlisted-command output, 3 runner events (JSON lines). */
  stream: z.number().int().nonnegative(),
  time: z.number(),
  /** The bytes, base64. */
  data: z.string(),
});
export type ApiChunk = z.infer<typeof ApiChunk>;

export const ChunksResponse = z.object({
  chunks: z.array(ApiChunk),
  /** The run's committed seq when the request was answered. */
  lastSeq: z.number().int().nonnegative(),
  /** True when there is more in the direction read (older for `before`, newer for `from`). */
  more: z.boolean(),
});
export type ChunksResponse = z.infer<typeof ChunksResponse>;

/**
 * `GET /api/v1/runs/{id}/screen`: the latest screen snapshot of a `--pty` run (null before the
 * first one): `data` redraws the screen on a fresh terminal of `cols`×`rows`, as it was after
 * chunk `seq`. A viewer starts from it and applies the chunks after `seq`.
 */
export const ScreenResponse = z.object({
  snapshot: z
    .object({
      seq: z.number().int().nonnegative(),
      cols: z.number().int().min(2).max(1000),
      rows: z.number().int().min(2).max(500),
      data: z.string().max(16 * 1024 * 1024),
    })
    .nullable(),
  lastSeq: z.number().int().nonnegative(),
});
export type ScreenResponse = z.infer<typeof ScreenResponse>;

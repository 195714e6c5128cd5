import { z } from 'zod';
import { AdvertisedCommand, RunName, RunStatus, RunSummary } from './run.js';

/** The operator HTTP API (`/api/v1/…`, `Authorization: Bearer ccgo_…`). */

export const CreateRunRequest = z.object({ name: RunName.optional() }).strict();
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

export const CancelResponse = z.object({ run: RunSummary, delivered: z.boolean() });

export const ExecRequest = z
  .object({
    name: z.string().min(1).max(64),
    params: z.record(z.string().max(64), z.string().max(1024)).default({}),
  })
  .strict();
export type ExecRequest = z.infer<typeof ExecRequest>;

export const ExecResponse = z.object({ requestId: z.string(), fromSeq: z.number().int().positive() });
export type ExecResponse = z.infer<typeof ExecResponse>;

export const CommandsResponse = z.object({ connected: z.boolean(), commands: z.array(AdvertisedCommand) });
export type CommandsResponse = z.infer<typeof CommandsResponse>;

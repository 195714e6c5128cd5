import type { z } from 'zod';
import type { ListRunsResponse as ListRunsSchema } from '../../protocol/api.js';
import type { ApprovalResponse as ApprovalSchema } from '../../protocol/claude-control.js';
import type { Plan } from '../../protocol/plan-parse.js';
import { PLANS } from './plans.js';

/**
 * A response schema the CLI can use without loading zod: its plan, which accepts the usual answer
 * (protocol/plan-parse.ts), and the zod schema itself, loaded only when the plan is unsure.
 * ApiClient.json takes either this or a zod schema, with the same result and the same errors.
 */
export interface LazySchema<T> {
  plan: Plan;
  load(): Promise<z.ZodType<T>>;
}

/** `GET /api/v1/runs` (protocol/api.ts ListRunsResponse). */
export const ListRunsResponse: LazySchema<z.infer<typeof ListRunsSchema>> = {
  plan: PLANS.ListRunsResponse,
  load: async () => (await import('../../protocol/api.js')).ListRunsResponse,
};

/** `POST /api/v1/runs/{id}/approvals/{approvalId}` (protocol/claude-control.ts ApprovalResponse). */
export const ApprovalResponse: LazySchema<z.infer<typeof ApprovalSchema>> = {
  plan: PLANS.ApprovalResponse,
  load: async () => (await import('../../protocol/claude-control.js')).ApprovalResponse,
};

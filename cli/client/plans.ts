import { ListRunsResponse } from '../../protocol/api.js';
import { ApprovalResponse } from '../../protocol/claude-control.js';
import type { Plan } from '../../protocol/plan-parse.js';
import { planOf } from '../../protocol/schema-plan.js';
import { SavedConfig } from '../config-schema.js';

/**
 * The plans (protocol/plan-parse.ts) of the schemas the CLI checks without zod: the answers of
 * `ccg runs list` and `ccg runs approve`, and the saved login. Derived from the zod schemas here;
 * scripts/bundle-cli.mjs replaces this module in the bundle by its value, as JSON, so the bundle
 * loads neither zod nor these schemas to use them.
 */
export const PLANS: Record<'ListRunsResponse' | 'ApprovalResponse' | 'SavedConfig', Plan> = {
  ListRunsResponse: planOf(ListRunsResponse),
  ApprovalResponse: planOf(ApprovalResponse),
  SavedConfig: planOf(SavedConfig),
};

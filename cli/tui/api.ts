import type { ChunksResponse, CreateRunResponse } from '../../protocol/api.js';
import type { CommandPolicy, PolicyResponse, PolicyUpdate } from '../../protocol/policy.js';
import type { RunSummary } from '../../protocol/run.js';
import type { ApiClient } from '../client/api.js';

/** The HTTP actions of the TUI, as an interface so the app can be given any implementation. */
export interface TuiApi {
  createRun(name: string | undefined): Promise<CreateRunResponse>;
  cancelRun(id: string): Promise<{ run: RunSummary; delivered: boolean }>;
  /** A bounded page of stored output (`before`: the newest chunks older than that seq). */
  chunks(id: string, q: { before?: number; from?: number; maxBytes?: number; limit?: number }): Promise<ChunksResponse>;
  getPolicy(): Promise<CommandPolicy>;
  setPolicy(update: PolicyUpdate): Promise<CommandPolicy>;
}

export function createTuiApi(api: ApiClient): TuiApi {
  return {
    createRun: (name) => api.json<CreateRunResponse>('POST', '/api/v1/runs', name ? { name } : {}),
    cancelRun: (id) => api.json('POST', `/api/v1/runs/${encodeURIComponent(id)}/cancel`),
    chunks: (id, q) => {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
      return api.json<ChunksResponse>('GET', `/api/v1/runs/${encodeURIComponent(id)}/chunks?${params}`);
    },
    getPolicy: async () => (await api.json<PolicyResponse>('GET', '/api/v1/policy')).policy,
    setPolicy: async (update) => (await api.json<PolicyResponse>('PUT', '/api/v1/policy', update)).policy,
  };
}

import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { CancelResponse, ChunksResponse, CommandsResponse, ScreenResponse, CreateRunResponse, ExecResponse } from '../../protocol/api.js';
import { ArtifactsResponse, CollectResponse, type ArtifactInfo } from '../../protocol/artifacts.js';
import { AssistActionResponse, AssistResponse } from '../../protocol/assist.js';
import { PolicyResponse, type CommandPolicy, type PolicyUpdate } from '../../protocol/policy.js';
import { ListMachinesResponse, StartRunResponse, type MachineSummary, type StartRunRequest } from '../../protocol/machine.js';
import { ApprovalResponse, ControlResponse, SessionResponse, type AnswerPlanRequest } from '../../protocol/claude-control.js';
import type { PermissionMode, QuestionAnswers } from '../../protocol/claude-steer.js';
import type { ApiClient } from '../client/api.js';

/** A text artifact as the pager reads it: at most `maxBytes`, or why it cannot be shown. */
export interface ArtifactText {
  /** Null when the artifact is not text (it can still be saved). */
  text: string | null;
  contentType: string;
  /** Only the first `maxBytes` were read. */
  cut: boolean;
}

/** The HTTP actions of the TUI, as an interface so the app can be given any implementation. */
export interface TuiApi {
  createRun(name: string | undefined): Promise<CreateRunResponse>;
  cancelRun(id: string): Promise<CancelResponse>;
  /** A bounded page of stored output (`before`: the newest chunks older than that seq). */
  chunks(id: string, q: { before?: number; from?: number; maxBytes?: number; limit?: number }): Promise<ChunksResponse>;
  /** A pty run's latest screen snapshot (null before the first). */
  screen(id: string): Promise<ScreenResponse>;
  getPolicy(): Promise<CommandPolicy>;
  setPolicy(update: PolicyUpdate): Promise<CommandPolicy>;
  /** The runner's advertised commands, and which of them the caller's role may run. */
  commands(id: string): Promise<CommandsResponse>;
  exec(id: string, name: string, params: Record<string, string>): Promise<ExecResponse>;
  artifacts(id: string): Promise<ArtifactInfo[]>;
  collect(id: string): Promise<CollectResponse>;
  artifactText(id: string, name: string, maxBytes: number): Promise<ArtifactText>;
  /** Saves an artifact to `path` (mode 0600); refuses an existing file unless `overwrite`. */
  saveArtifact(id: string, name: string, path: string, overwrite: boolean): Promise<{ bytes: number }>;
  assist(id: string): Promise<AssistResponse>;
  assistAction(id: string, action: 'start' | 'stop'): Promise<AssistActionResponse>;
  /** Machines (optional: an API without them leaves `n` and `m` as they were). */
  machines?(): Promise<MachineSummary[]>;
  /** Starts Claude on a machine. */
  startOnMachine?(name: string, body: StartRunRequest): Promise<StartRunResponse>;
  /** Answers Claude's questions (AskUserQuestion). */
  answerQuestions(id: string, approvalId: string, answers: QuestionAnswers): Promise<unknown>;
  /** Approves Claude's plan (in a mode) or keeps it planning. */
  answerPlan(id: string, approvalId: string, body: AnswerPlanRequest): Promise<unknown>;
  /** The session's mode and model, and the modes an operator may switch to. */
  session(id: string): Promise<SessionResponse>;
  setMode(id: string, mode: PermissionMode): Promise<unknown>;
  setModel(id: string, model: string): Promise<unknown>;
  /** Stops Claude's current turn; the session stays open. */
  interrupt(id: string): Promise<unknown>;
}

const TEXT_TYPES = /^(text\/|application\/(json|x-ndjson)\b)/;

/** The TUI's actions over `api`: each JSON answer is checked against its protocol schema there. */
export function createTuiApi(api: ApiClient): TuiApi {
  const run = (id: string) => `/api/v1/runs/${encodeURIComponent(id)}`;
  const artifact = (id: string, name: string) => `${run(id)}/artifacts/${encodeURIComponent(name)}`;
  return {
    createRun: (name) => api.json('POST', '/api/v1/runs', CreateRunResponse, name ? { name } : {}),
    machines: async () => (await api.json('GET', '/api/v1/machines', ListMachinesResponse)).machines,
    startOnMachine: (name, body) => api.json('POST', `/api/v1/machines/${encodeURIComponent(name)}/runs`, StartRunResponse, body),
    cancelRun: (id) => api.json('POST', `${run(id)}/cancel`, CancelResponse),
    chunks: (id, q) => {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
      return api.json('GET', `${run(id)}/chunks?${params}`, ChunksResponse);
    },
    screen: (id) => api.json('GET', `${run(id)}/screen`, ScreenResponse),
    getPolicy: async () => (await api.json('GET', '/api/v1/policy', PolicyResponse)).policy,
    setPolicy: async (update) => (await api.json('PUT', '/api/v1/policy', PolicyResponse, update)).policy,
    commands: (id) => api.json('GET', `${run(id)}/commands`, CommandsResponse),
    exec: (id, name, params) => api.json('POST', `${run(id)}/exec`, ExecResponse, { name, params }),
    artifacts: async (id) => (await api.json('GET', `${run(id)}/artifacts`, ArtifactsResponse)).artifacts,
    collect: (id) => api.json('POST', `${run(id)}/collect`, CollectResponse),
    async artifactText(id, name, maxBytes) {
      const res = await api.open('GET', artifact(id, name));
      const contentType = String(res.headers['content-type'] ?? '');
      if (!TEXT_TYPES.test(contentType)) {
        res.destroy();
        return { text: null, contentType, cut: false };
      }
      const length = Number(res.headers['content-length'] ?? NaN);
      const parts: Buffer[] = [];
      let size = 0;
      for await (const part of res as AsyncIterable<Buffer>) {
        parts.push(part);
        size += part.length;
        if (size > maxBytes) break; // leaving the loop destroys the response
      }
      const cut = size > maxBytes || (Number.isFinite(length) && length > maxBytes);
      const data = Buffer.concat(parts).subarray(0, maxBytes);
      // A NUL says "binary", whatever the name claimed.
      if (data.subarray(0, 8192).includes(0)) return { text: null, contentType, cut: false };
      return { text: data.toString('utf8'), contentType, cut };
    },
    async saveArtifact(id, name, path, overwrite) {
      const res = await api.open('GET', artifact(id, name));
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      await pipeline(res, createWriteStream(path, { mode: 0o600, flags: overwrite ? 'w' : 'wx' }));
      return { bytes };
    },
    assist: (id) => api.json('GET', `${run(id)}/assist`, AssistResponse),
    assistAction: (id, action) => api.json('POST', `${run(id)}/assist`, AssistActionResponse, { action }),
    answerQuestions: (id, approvalId, answers) => api.json('POST', `${run(id)}/approvals/${encodeURIComponent(approvalId)}/answers`, ApprovalResponse, { answers }),
    answerPlan: (id, approvalId, body) => api.json('POST', `${run(id)}/approvals/${encodeURIComponent(approvalId)}/plan`, ApprovalResponse, body),
    session: (id) => api.json('GET', `${run(id)}/session`, SessionResponse),
    setMode: (id, mode) => api.json('POST', `${run(id)}/mode`, ControlResponse, { mode }),
    setModel: (id, model) => api.json('POST', `${run(id)}/model`, ControlResponse, { model }),
    interrupt: (id) => api.json('POST', `${run(id)}/interrupt`, ControlResponse, {}),
  };
}

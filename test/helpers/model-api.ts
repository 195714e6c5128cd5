import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A scripted local stand-in for the Anthropic Messages API, for running the real `claude` binary
 * offline (ANTHROPIC_BASE_URL=http://127.0.0.1:PORT). The real thing cannot run here; this is the
 * process boundary. It answers `POST /v1/messages` (Claude Code sends `?beta=true`) with
 * `stream: true` using the Messages API's server-sent event sequence: message_start,
 * content_block_start / ping / content_block_delta… / content_block_stop per block,
 * message_delta with the stop reason and usage, message_stop.
 *
 * Each request takes the next scripted step; with none left it answers a short text.
 */

export interface ToolCall {
  name: string;
  input: unknown;
  /** Defaults to toolu_ccg_<request>_<block>. */
  id?: string;
}

export interface ModelStep {
  /** An assistant text block (sent in a few deltas, as the real API does). */
  text?: string;
  /** tool_use blocks after the text; the stop reason becomes tool_use. */
  tools?: ToolCall[];
  /**
   * Stall after the first text delta and never finish: the request hangs until the client
   * closes it (an interrupt or a cancel). Needs `text`.
   */
  stall?: boolean;
  /** Wait this long after the first text delta before the rest (a slow model). */
  delayMs?: number;
  /** Answer with an HTTP error instead (e.g. 500 overloaded). */
  httpError?: { status: number; type: string; message: string };
  /** Stream `text` in this many deltas, `everyMs` apart (a long reply written slowly; see streamedPieces). */
  stream?: { pieces: number; everyMs: number };
}

export interface ModelRequest {
  n: number;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: {
    model?: string;
    stream?: boolean;
    max_tokens?: number;
    messages?: { role: string; content: unknown }[];
    tools?: { name: string }[];
  } & Record<string, unknown>;
  /** Set when the client went away before the response ended. */
  aborted: boolean;
  /** performance.now() when the request body was complete. */
  receivedAt: number;
}

export interface ModelApi {
  url: string;
  requests: ModelRequest[];
  /** Appends steps to the script. */
  script(...steps: ModelStep[]): void;
  /**
   * Answers the requests `when` picks with `step`, ahead of the script (each route once): e.g. a
   * subagent's request, told apart by its prompt, while the main conversation follows the script.
   */
  route(when: (req: ModelRequest) => boolean, step: ModelStep): void;
  /** Steps not yet used. */
  remaining(): number;
  /** Resolves once `n` message requests have arrived. */
  waitForRequests(n: number, ms?: number): Promise<ModelRequest[]>;
  close(): Promise<void>;
}

/** The last part of the last user turn of a request: its text, or a tool result's content (Claude Code puts system reminders in earlier parts). */
export function lastUserText(req: ModelRequest): string {
  const msgs = req.body.messages ?? [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i]!;
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) {
      const p = (m.content as { type?: string; text?: string; content?: unknown }[]).at(-1);
      if (!p) return '';
      return p.type === 'text' ? (p.text ?? '') : p.type === 'tool_result' ? (typeof p.content === 'string' ? p.content : JSON.stringify(p.content)) : '';
    }
  }
  return '';
}

function pieces(s: string, n: number): string[] {
  if (s.length <= n) return [s];
  const size = Math.ceil(s.length / n);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

export async function startModelApi(initial: ModelStep[] = []): Promise<ModelApi> {
  const steps: ModelStep[] = [...initial];
  const requests: ModelRequest[] = [];
  const waiters = new Set<() => void>();
  const open = new Set<http.ServerResponse>();
  const routes: Route[] = [];
  let counter = 0;

  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      let body: ModelRequest['body'] = {};
      try {
        body = JSON.parse(Buffer.concat(parts).toString('utf8')) as ModelRequest['body'];
      } catch {
        /* keep {} */
      }
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ input_tokens: 42 }));
        return;
      }
      if (req.method !== 'POST' || path !== '/v1/messages') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'not here' } }));
        return;
      }
      const n = ++counter;
      const record: ModelRequest = { n, method: req.method, url: req.url ?? '', headers: req.headers, body, aborted: false, receivedAt: performance.now() };
      requests.push(record);
      for (const w of waiters) w();
      const step = takeRoute(routes, record) ?? steps.shift() ?? { text: '(the model stand-in has no scripted reply left)' };
      void respond(record, step, res);
    });
  });

  async function respond(record: ModelRequest, step: ModelStep, res: http.ServerResponse): Promise<void> {
    if (step.httpError) {
      res.writeHead(step.httpError.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: step.httpError.type, message: step.httpError.message } }));
      return;
    }
    open.add(res);
    res.on('close', () => {
      open.delete(res);
      if (!res.writableFinished) record.aborted = true;
    });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'request-id': `req_ccg_${record.n}` });
    const event = (type: string, data: Record<string, unknown>) => {
      if (!res.destroyed) res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    };
    const usage = { input_tokens: 100 + record.n, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 };
    event('message_start', {
      message: { id: `msg_ccg_${record.n}`, type: 'message', role: 'assistant', model: record.body.model ?? 'claude-stand-in', content: [], stop_reason: null, stop_sequence: null, usage },
    });
    event('ping', {});
    let index = 0;
    let outputTokens = 0;
    if (step.text !== undefined) {
      event('content_block_start', { index, content_block: { type: 'text', text: '' } });
      const parts = step.stream ? streamedPieces(step.text, step.stream.pieces) : pieces(step.text, 3);
      event('content_block_delta', { index, delta: { type: 'text_delta', text: parts[0] } });
      if (step.stall) return; // hang until the client goes away
      if (step.delayMs) await new Promise((r) => setTimeout(r, step.delayMs));
      for (const p of parts.slice(1)) {
        if (step.stream) await new Promise((r) => setTimeout(r, step.stream!.everyMs));
        event('content_block_delta', { index, delta: { type: 'text_delta', text: p } });
      }
      event('content_block_stop', { index });
      outputTokens += Math.ceil(step.text.length / 4);
      index++;
    }
    for (const tool of step.tools ?? []) {
      const id = tool.id ?? `toolu_ccg_${record.n}_${index}`;
      event('content_block_start', { index, content_block: { type: 'tool_use', id, name: tool.name, input: {} } });
      for (const p of pieces(JSON.stringify(tool.input), 2)) event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: p } });
      event('content_block_stop', { index });
      outputTokens += 20;
      index++;
    }
    event('message_delta', { delta: { stop_reason: step.tools?.length ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: outputTokens || 1 } });
    event('message_stop', {});
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script: (...more) => void steps.push(...more),
    route: (when, step) => void routes.push({ when, step }),
    remaining: () => steps.length,
    waitForRequests(n, ms = 30_000) {
      if (requests.length >= n) return Promise.resolve(requests.slice(0, n));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the model stand-in got ${requests.length} requests, not ${n}, within ${ms} ms`));
        }, ms);
        const check = () => {
          if (requests.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(requests.slice(0, n));
        };
        waiters.add(check);
      });
    },
    async close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- steps that ask for Claude Code's interactive tools (AskUserQuestion, edits, ExitPlanMode)

export interface StandInQuestion {
  question: string;
  header: string;
  options: { label: string; description: string }[];
  multiSelect?: boolean;
}

/** Claude asks the person questions with options (AskUserQuestion); the answer comes back as its tool result. */
export function askStep(questions: StandInQuestion[], text = 'I have a question first.'): ModelStep {
  return { text, tools: [{ name: 'AskUserQuestion', input: { questions: questions.map((q) => ({ ...q, multiSelect: q.multiSelect ?? false })) } }] };
}

/** Claude edits a real file (Edit: old_string → new_string). */
export function editStep(filePath: string, oldString: string, newString: string, text = 'Editing the file.'): ModelStep {
  return { text, tools: [{ name: 'Edit', input: { file_path: filePath, old_string: oldString, new_string: newString } }] };
}

/** Claude writes a whole file (Write). */
export function writeStep(filePath: string, content: string, text = 'Writing the file.'): ModelStep {
  return { text, tools: [{ name: 'Write', input: { file_path: filePath, content } }] };
}

/** Claude, in plan mode, presents its plan and asks to leave plan mode (ExitPlanMode with `plan`). */
export function planStep(plan: string, text = 'Here is my plan.'): ModelStep {
  return { text, tools: [{ name: 'ExitPlanMode', input: { plan } }] };
}

/** The text of every tool result in the last user turn of a request (what Claude sent back to the model). */
export function toolResults(req: ModelRequest): string[] {
  const last = (req.body.messages ?? []).filter((m) => m.role === 'user').at(-1);
  if (!last || !Array.isArray(last.content)) return [];
  return (last.content as { type?: string; content?: unknown }[])
    .filter((p) => p.type === 'tool_result')
    .map((p) => (typeof p.content === 'string' ? p.content : JSON.stringify(p.content)));
}

// ---- for the narrative tests (live text, subagents, retries): kept apart from the rest

interface Route {
  when: (req: ModelRequest) => boolean;
  step: ModelStep;
}

/** The first route that picks `req`, used up; or undefined. */
function takeRoute(routes: Route[], req: ModelRequest): ModelStep | undefined {
  const i = routes.findIndex((r) => r.when(req));
  return i === -1 ? undefined : routes.splice(i, 1)[0]!.step;
}

/** `text` cut into `n` deltas of about equal length (at least one character each). */
export function streamedPieces(text: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / Math.max(1, n)));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length ? out : [''];
}

/** A long reply streamed slowly: `pieces` deltas, `everyMs` apart. */
export function longReplyStep(text: string, pieces = 40, everyMs = 50): ModelStep {
  return { text, stream: { pieces, everyMs } };
}

/** The API's 529 overloaded answer, as Claude Code sees it when the model is at capacity. */
export function overloadedStep(): ModelStep {
  return { httpError: { status: 529, type: 'overloaded_error', message: 'Overloaded' } };
}

/** A Task call starting a subagent of `subagentType` with `prompt`. */
export function taskStep(text: string, subagentType: string, description: string, prompt: string): ModelStep {
  return { text, tools: [{ name: 'Task', input: { description, prompt, subagent_type: subagentType } }] };
}

/** True for the request a subagent makes with `prompt` (its first user turn). */
export function isSubagentRequest(prompt: string): (req: ModelRequest) => boolean {
  return (req) => lastUserText(req).includes(prompt);
}

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { STREAM_EVENT, STREAM_STDERR, STREAM_STDOUT } from '../../protocol/frames.js';
import { LmdbStore } from '../../server/store/lmdb-store.js';
import type { Store, StoredChunk } from '../../server/store/types.js';
import { startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { PageClient, setupAdmin } from '../helpers/page-client.js';
import { spawnCcg } from '../helpers/processes.js';
import { sseParser, type SseEvent } from '../helpers/sse.js';

const PW = 'correct horse battery';

async function admin(g: TestGateway): Promise<PageClient> {
  const c = new PageClient(g.url, g.fingerprint);
  assert.equal((await setupAdmin(c, g.gw.setupCode!, 'admin', PW)).status, 303);
  return c;
}

/** Commits chunks into a run as a runner would (through RunService.ingest), resolving when all are durable. */
async function feed(g: TestGateway, runId: string, parts: { stream?: number; text: string }[]): Promise<void> {
  let seq = g.gw.runs.committedSeq(runId);
  let last: Promise<void> = Promise.resolve();
  for (const p of parts) {
    seq++;
    last = new Promise<void>((resolve, reject) => {
      g.gw.runs.ingest(runId, { seq, stream: p.stream ?? STREAM_STDOUT, time: Date.now(), data: Buffer.from(p.text) }, () => resolve(), reject);
    });
  }
  await last;
}

/**
 * Reads a live stream until `until` says stop (or the server ends it), like an EventSource would,
 * with the session cookie and an optional Last-Event-ID.
 */
function readSse(g: TestGateway, c: PageClient, path: string, until: (events: SseEvent[]) => boolean, headers: Record<string, string> = {}): Promise<{ status: number; events: SseEvent[] }> {
  return new Promise((resolve, reject) => {
    const req = https.get(new URL(path, g.url), { agent: new PinnedAgent(g.fingerprint), headers: { accept: 'text/event-stream', cookie: c.cookieHeader(), ...headers } }, (res) => {
      const events: SseEvent[] = [];
      const done = () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, events });
      };
      res.setEncoding('utf8');
      res.on(
        'data',
        sseParser((ev) => {
          events.push(ev);
          if (!until(events)) return false;
          done();
          return true;
        }),
      );
      res.on('end', () => resolve({ status: res.statusCode ?? 0, events }));
    });
    req.on('error', reject);
    setTimeout(() => {
      req.destroy();
      reject(new Error(`SSE ${path}: timed out`));
    }, 20_000).unref();
  });
}

/** Text of output HTML (tags dropped, entities decoded). */
function text(html: string): string {
  return html.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}

/** Every real tag in a document is ours: no event handler attributes, no javascript: URLs, no foreign elements. */
function assertNoInjectedMarkup(html: string, where: string): void {
  for (const m of html.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)\b([^>]*)>/g)) {
    const [tag, name, attrs] = m;
    assert.doesNotMatch(attrs!, /\son[a-z]+\s*=/i, `${where}: event handler in ${tag}`);
    assert.doesNotMatch(attrs!, /javascript:/i, `${where}: javascript: URL in ${tag}`);
    assert.ok(!['iframe', 'svg', 'object', 'embed', 'base'].includes(name!.toLowerCase()), `${where}: foreign <${name}>`);
    if (name!.toLowerCase() === 'script') assert.match(attrs!, /^ src="\/static\/[a-z.-]+\?v=[0-9a-f]+" defer$/, `${where}: only our script files`);
  }
}

test('hostile run names and output render inert on the list, the run page, the live stream and older pages', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = await admin(g);
  const evilName = '<script>alert(1)</script><img src=x onerror=alert(2)>';
  await c.get('/runs/new');
  const created = await c.post('/runs/new', { name: evilName });
  assert.equal(created.status, 201);
  assertNoInjectedMarkup(created.body, 'created page');
  const runId = /run-id ([a-z0-9]{12})/.exec(created.body)![1]!;
  const token = /id="token" readonly value="(ccgr_[A-Za-z0-9_-]{43})"/.exec(created.body)![1]!;
  assert.match(created.body, /CCG_RUN_TOKEN=ccgr_/, 'the token goes through the environment');
  assert.match(created.body, /<img src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+" width="280" height="280" alt="QR code/);

  const hostile = [
    '<script>alert(3)</script>',
    '<img src=x onerror=alert(4)>',
    '<a href="javascript:alert(5)">click</a>',
    '\u001b]8;;javascript:alert(6)\u001b\\osc8 link\u001b]8;;\u001b\\',
    '\u001b]0;PWNED-TITLE\u0007after title',
    '\u001b[31m"><svg onload=alert(7)>\u001b[0m',
    '\u001bP+q<iframe src=//evil>\u001b\\dcs done',
  ].join('\n') + '\n';
  // From a file, so the runner's own command line (shown on the page) does not contain it.
  const file = join(tempDir(), 'hostile.txt');
  writeFileSync(file, hostile);
  const runner = spawnCcg(
    ['runner', 'start', '--run-id', runId, '--gateway', g.url, '--fingerprint', g.fingerprint, '--quiet', '--spool-dir', tempDir(), '--', 'cat', file],
    { CCG_RUN_TOKEN: token },
  );
  t.after(() => runner.child.kill('SIGKILL'));
  assert.equal((await runner.exited).code, 0, runner.stderr());

  for (const path of ['/runs', `/runs/${runId}`, `/runs/${runId}?before=${g.gw.runs.committedSeq(runId) + 1}`]) {
    const r = await c.get(path);
    assert.equal(r.status, 200, path);
    assertNoInjectedMarkup(r.body, path);
    assert.doesNotMatch(r.body, /PWNED-TITLE/, `${path}: the title sequence leaves nothing`);
    assert.match(r.body, /<title>[^<]*· ccg<\/title>/);
    assert.match(r.body, /&lt;script&gt;alert\(1\)&lt;\/script&gt;&lt;img src=x onerror=alert\(2\)&gt;/, `${path}: the name is shown, escaped`);
  }
  const page = await c.get(`/runs/${runId}`);
  const out = /<pre id="output"[^>]*>([\s\S]*?)<\/pre>/.exec(page.body)![1]!;
  assert.equal(
    text(out),
    '<script>alert(3)</script>\n<img src=x onerror=alert(4)>\n<a href="javascript:alert(5)">click</a>\nosc8 link\nafter title\n"><svg onload=alert(7)>\ndcs done\n',
    'the text of hostile output is all there, as text',
  );

  const sse = await readSse(g, c, `/runs/${runId}/live?after=0`, (ev) => ev.some((e) => e.event === 'end'));
  const html = sse.events.filter((e) => e.event === 'output').map((e) => e.data).join('');
  assertNoInjectedMarkup(html, 'SSE');
  assert.equal(text(html), text(out), 'the live stream carries the same escaped output');

  const frag = await c.get(`/runs/${runId}/output?before=${g.gw.runs.committedSeq(runId) + 1}`, { 'hx-request': 'true' });
  assert.equal(frag.status, 200);
  assertNoInjectedMarkup(frag.body, 'earlier fragment');
});

test('live output over SSE resumes after the last seq (Last-Event-ID or ?after=) with nothing doubled or lost', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = await admin(g);
  await c.get('/runs');
  const { run } = await g.gw.runs.create('resume', 'admin');
  const line = (i: number) => `line ${i}\n`;
  // Output, interleaved with stderr and runner events (stream 3, not shown as output but numbered).
  await feed(g, run.id, Array.from({ length: 60 }, (_, k) => ({ stream: k % 10 === 9 ? STREAM_EVENT : k % 7 === 3 ? STREAM_STDERR : STREAM_STDOUT, text: k % 10 === 9 ? '{"type":"noise"}\n' : line(k + 1) })));
  const want = Array.from({ length: 60 }, (_, k) => (k % 10 === 9 ? '' : line(k + 1))).join('');

  const all = await readSse(g, c, `/runs/${run.id}/live?after=0`, (ev) => ev.some((e) => e.id === 60));
  assert.equal(all.status, 200);
  const ids = all.events.filter((e) => e.id !== undefined).map((e) => e.id!);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'ids only grow');
  assert.equal(text(all.events.filter((e) => e.event === 'output').map((e) => e.data).join('')), want);
  assert.ok(all.events.some((e) => e.event === 'status'), 'the header comes along');

  // A reconnect with Last-Event-ID: 25 gets exactly what follows seq 25.
  const resumed = await readSse(g, c, `/runs/${run.id}/live?after=0`, (ev) => ev.some((e) => e.id === 60), { 'last-event-id': '25' });
  const firstOutput = resumed.events.find((e) => e.event === 'output')!;
  assert.match(firstOutput.data, /^<span data-seq="26">/);
  const head = Array.from({ length: 25 }, (_, k) => (k % 10 === 9 ? '' : line(k + 1))).join('');
  assert.equal(head + text(resumed.events.filter((e) => e.event === 'output').map((e) => e.data).join('')), want, 'no line twice, none missing');
  // The larger of ?after and Last-Event-ID wins (the browser's id is newer than the page's URL).
  const both = await readSse(g, c, `/runs/${run.id}/live?after=40`, (ev) => ev.some((e) => e.id === 60), { 'last-event-id': '50' });
  assert.match(both.events.find((e) => e.event === 'output')!.data, /^<span data-seq="51">/);

  // Live: chunks committed while connected arrive in order, then `end` once the run is over.
  // The stream sends the header once it follows the run: only then is what comes next live, not replayed.
  let following!: () => void;
  const followed = new Promise<void>((r) => (following = r));
  const live = readSse(g, c, `/runs/${run.id}/live?after=60`, (ev) => {
    if (ev.some((e) => e.event === 'status')) following();
    return ev.some((e) => e.event === 'end');
  });
  await Promise.race([followed, live]);
  await feed(g, run.id, [{ text: line(61) }, { text: line(62) }]);
  await g.gw.runs.recordExit(run.id, { code: 0, signal: null, lastSeq: 62 });
  const tail = await live;
  assert.equal(text(tail.events.filter((e) => e.event === 'output').map((e) => e.data).join('')), line(61) + line(62));
  assert.match(tail.events.filter((e) => e.event === 'status').at(-1)!.data, /exited 0/);

  // A page that is hopelessly behind is told to reload (and show the tail) instead of replaying everything.
  await g.gw.runs.create('big', 'admin').then(async ({ run: big }) => {
    await feed(g, big.id, Array.from({ length: 5200 }, (_, k) => ({ text: line(k) })));
    const r = await readSse(g, c, `/runs/${big.id}/live?after=10`, (ev) => ev.length > 0);
    assert.equal(r.events[0]!.event, 'reset');
  });
});

test('a run with a million lines opens by reading only its tail; older output pages in on demand', async (t) => {
  const dataDir = tempDir();
  const inner = LmdbStore.open(dataDir);
  const reads = { chunks: 0 };
  // Counts every chunk the gateway reads from the store.
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'readChunks' || prop === 'readChunksBefore') {
        return async (...args: unknown[]) => {
          const out = await (v as (...a: unknown[]) => Promise<StoredChunk[]>).apply(target, args);
          reads.chunks += out.length;
          return out;
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as Store;
  const g = await startGateway({ dataDir, store });
  t.after(() => g.close());
  const c = await admin(g);
  await c.get('/runs');

  const small = (await g.gw.runs.create('ten lines', 'admin')).run;
  await feed(g, small.id, Array.from({ length: 10 }, (_, i) => ({ text: `S${String(i + 1).padStart(7, '0')}\n` })));
  const big = (await g.gw.runs.create('a million lines', 'admin')).run;
  const LINES = 1_000_000;
  const PER = 100;
  const parts: { text: string }[] = [];
  for (let i = 0; i < LINES; i += PER) {
    let s = '';
    for (let k = i + 1; k <= i + PER; k++) s += `L${String(k).padStart(7, '0')}\n`;
    parts.push({ text: s });
  }
  await feed(g, big.id, parts);
  assert.equal(g.gw.runs.committedSeq(big.id), LINES / PER);

  const open = async (id: string) => {
    reads.chunks = 0;
    const started = performance.now();
    const r = await c.get(`/runs/${id}`);
    return { r, ms: performance.now() - started, chunks: reads.chunks };
  };
  const a = await open(small.id);
  const b = await open(big.id);
  t.diagnostic(`open /runs/:id — 10 lines: ${a.ms.toFixed(1)} ms, ${a.chunks} chunks read, ${a.r.body.length} B; 1,000,000 lines: ${b.ms.toFixed(1)} ms, ${b.chunks} chunks read, ${b.r.body.length} B`);
  assert.equal(b.r.status, 200);
  assert.ok(b.chunks <= 600 + 8, `only the tail window is read (${b.chunks} chunks)`);
  assert.ok(b.r.body.length < 160_000, `the page stays small (${b.r.body.length} B)`);
  assert.match(b.r.body, /L1000000\n/);
  assert.doesNotMatch(b.r.body, /L0000001\n/);
  const firstSeq = Number(/<pre id="output"[^>]*><span data-seq="(\d+)">/.exec(b.r.body)![1]);
  assert.ok(firstSeq > 1);
  assert.match(b.r.body, new RegExp(`hx-get="/runs/${big.id}/output\\?before=${firstSeq}"`), 'a button pages in what came before');
  assert.match(a.r.body, /Start of output/);

  // htmx: the earlier window, prepended to the output, with the next button.
  reads.chunks = 0;
  const frag = await c.get(`/runs/${big.id}/output?before=${firstSeq}`, { 'hx-request': 'true' });
  assert.ok(reads.chunks <= 600 + 8);
  assert.match(frag.body, /<div hx-swap-oob="afterbegin:#output"><span data-seq="\d+">/);
  const lastShown = Number(/L(\d{7})\n<\/span><\/div>/.exec(frag.body)![1]);
  const firstOnPage = Number(/<pre id="output"[^>]*><span data-seq="\d+">L(\d{7})/.exec(b.r.body)![1]);
  assert.equal(lastShown + 1, firstOnPage, 'the earlier window ends right where the page began');
  // Without JavaScript: a link to the same window as a page of its own.
  assert.equal((await c.get(`/runs/${big.id}/output?before=${firstSeq}`)).headers['location'], `/runs/${big.id}?before=${firstSeq}`);
  const paged = await c.get(`/runs/${big.id}?before=${firstSeq}`);
  assert.match(paged.body, /Back to the live end/);
  assert.doesNotMatch(paged.body, /sse-connect/);
});

test('"Run created" without JavaScript: the form posts back the prompt or command and the page prints the command for it; a wrong token prints nothing', async (t) => {
  const g = await startGateway();
  t.after(() => g.close());
  const c = await admin(g);
  await c.get('/runs/new');
  const created = await c.post('/runs/new', { name: 'from the phone' });
  assert.equal(created.status, 201);
  const command = (body: string) => text(/<pre id="cmd"[^>]*>([^<]*)<\/pre>/.exec(body)![1]!);
  const first = command(created.body);
  assert.match(first, / --cmd 'your prompt'$/);
  assert.doesNotMatch(created.body, /-- COMMAND/);
  const runId = /--run-id ([a-z0-9]{12})/.exec(first)![1]!;
  const token = /name="token" value="([^"]+)"/.exec(created.body)![1]!;
  assert.ok(first.startsWith(`CCG_RUN_TOKEN=${token} `));

  let r = await c.post(`/runs/${runId}/runner-command`, { token, start: 'prompt', prompt: "fix the test's flake", command: '' });
  assert.equal(r.status, 200);
  assert.match(command(r.body), / --run-id [a-z0-9]{12} --cmd 'fix the test'\\''s flake'$/);
  assert.match(r.body, /<textarea id="start-prompt"[^>]*>fix the test&#39;s flake<\/textarea>/, 'the form keeps what was typed');
  r = await c.post(`/runs/${runId}/runner-command`, { token, start: 'command', prompt: 'ignored', command: 'npm test' });
  assert.match(command(r.body), / --run-id [a-z0-9]{12} -- npm test$/);
  assert.match(r.body, /value="command" checked/);
  r = await c.post(`/runs/${runId}/runner-command`, { token, start: 'command', command: 'npm test | tee "out.txt"' });
  assert.match(command(r.body), / -- sh -c 'npm test \| tee "out.txt"'$/);
  // htmx asks for the fragment only.
  r = await c.post(`/runs/${runId}/runner-command`, { token, start: 'command', command: 'make' }, { headers: { 'hx-request': 'true' } });
  assert.doesNotMatch(r.body, /<html/);
  assert.match(command(r.body), / -- make$/);

  // The page never prints a token it was not given: another run's token, or none, is refused.
  const other = await c.post('/runs/new', { name: 'other' });
  const otherToken = /name="token" value="([^"]+)"/.exec(other.body)![1]!;
  for (const bad of [otherToken, '', 'ccgr_' + 'A'.repeat(43)]) {
    r = await c.post(`/runs/${runId}/runner-command`, { token: bad, start: 'prompt', prompt: 'x' });
    assert.equal(r.status, 403);
    assert.ok(!r.body.includes(token), 'no token on the refusal');
  }
});

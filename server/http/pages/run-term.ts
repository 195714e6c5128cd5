import type { TemplatedApp } from 'uWebSockets.js';
import { MAX_INPUT } from '../../../protocol/claude-events.js';
import { CcgError } from '../../../protocol/errors.js';
import { STREAM_STDOUT } from '../../../protocol/frames.js';
import { isFinal, type RunSummary } from '../../../protocol/run.js';
import { TerminalClamp } from '../../../protocol/terminal-clamp.js';
import type { LiveChunk } from '../../live/bus.js';
import { Follower } from '../../live/follower.js';
import { resizesOf } from '../../live/term-snapshots.js';
import type { SseEvent } from '../sse.js';
import { pageRoute, runIdOf, type BrowserDeps, type PageCtx } from './browser.js';
import { openStream, type LiveStreams } from './run-live.js';

/** Each catch-up read from the store. */
const BATCH = { limit: 256, maxBytes: 256 * 1024 };

function parseSeq(v: string | null | undefined): number {
  return v && /^\d{1,16}$/.test(v) ? Number(v) : 0;
}

/** A pty run, or ERR_INPUT_UNSUPPORTED: only they have a terminal. */
function ptyRun(pc: PageCtx): RunSummary {
  const run = pc.d.runs.summary(pc.d.runs.mustGet(runIdOf(pc)));
  if (!run.runner?.pty) throw new CcgError('ERR_INPUT_UNSUPPORTED', 'this run has no terminal (it was not started with --pty)');
  return run;
}

/**
 * The terminal of a `--pty` run on the phone (views/static/terminal.js renders it with xterm.js):
 *
 * - `GET /runs/:id/term`: server-sent events of the run's screen. A viewer opening the run gets
 *   the latest screen snapshot (`snapshot`, JSON `{cols, rows, data}`) and then only the raw
 *   output after it (`out`, base64 of the pty bytes as UTF-8, with TerminalClamp's limits; `size`, JSON `{cols, rows}` where the
 *   terminal was resized; `control`, who holds the size), each batch with `id:` = the last seq
 *   it covers, so a reconnect (Last-Event-ID) resumes exactly, or from a newer snapshot when one
 *   exists. `end` when a finished run was sent whole. The bytes are terminal input for the
 *   browser's emulator and never HTML.
 * - `POST /runs/:id/term/keys` (`data`: what the terminal's keyboard produced, UTF-8): keystrokes,
 *   operators and admins only, through the steering service like every other input (audited, not
 *   recorded). Viewers are refused by the role check.
 * - `POST /runs/:id/term/size` (`cols`, `rows`): takes control of the terminal and sets its size.
 */
export function mountRunTerminal(app: TemplatedApp, d: BrowserDeps, streams: LiveStreams): void {
  pageRoute(app, d, 'get', '/runs/:id/term', { auth: 'user' }, (pc) => {
    const run = ptyRun(pc);
    const id = run.id;
    const q = new URLSearchParams(pc.ctx.query);
    const after = Math.max(parseSeq(q.get('after')), parseSeq(pc.ctx.headers['last-event-id']));
    if (pc.ctx.aborted()) return { streamed: true };
    const s = openStream(pc, streams);
    const steering = d.powers.steering;
    const sendControl = () => s.send({ event: 'control', data: JSON.stringify(steering.controlOf(id)) });

    const snap = d.store.latestTermSnapshot(id);
    let from = after + 1;
    if (snap && snap.seq > after) {
      s.send({ id: snap.seq, event: 'snapshot', data: JSON.stringify({ cols: snap.cols, rows: snap.rows, data: snap.data }) });
      from = snap.seq + 1;
    }
    sendControl();

    // The bytes are hostile: sequences that would stall the page's emulator are clamped here
    // (one clamp per stream, as a sequence may span chunks).
    const clamp = new TerminalClamp();
    let ended = false;
    const maybeEnd = () => {
      const latest = d.runs.summary(d.runs.mustGet(id));
      if (ended || !isFinal(latest.status) || follower.nextSeq <= latest.lastSeq) return;
      ended = true;
      s.send({ event: 'end', data: 'end' });
      setTimeout(() => s.end(), 5000).unref();
    };

    const sendChunks = (chunks: readonly LiveChunk[]): boolean => {
      const events: SseEvent[] = [];
      let pending: Buffer[] = [];
      const flushOut = () => {
        if (pending.length) events.push({ event: 'out', data: Buffer.from(clamp.push(Buffer.concat(pending)), 'utf8').toString('base64') });
        pending = [];
      };
      for (const c of chunks) {
        if (c.stream === STREAM_STDOUT) pending.push(c.data);
        const sizes = resizesOf(c);
        if (sizes.length) {
          flushOut();
          for (const size of sizes) events.push({ event: 'size', data: JSON.stringify(size) });
          events.push({ event: 'control', data: JSON.stringify(steering.controlOf(id)) });
        }
      }
      flushOut();
      const last = chunks.at(-1)!.seq;
      if (events.length === 0) return s.send({ id: last });
      let ok = true;
      events.forEach((ev, i) => {
        ok = s.send(i === events.length - 1 ? { ...ev, id: last } : ev) && ok;
      });
      return ok;
    };

    const follower: Follower = new Follower(d.runs.followSource, id, from, {
      deliver(chunks) {
        if (s.isClosed) return false;
        const ok = sendChunks(chunks);
        if (!ok) s.onDrain(() => follower.resume());
        return ok;
      },
      congested: () => false,
      caughtUp: () => maybeEnd(),
    }, BATCH);
    const offRun = d.bus.on('run', (r) => {
      if (r.id === id && !s.isClosed && follower.isLive) maybeEnd();
    }, { run: id });
    s.onClose(() => {
      follower.close();
      offRun();
    });
    follower.pump();
    return { streamed: true };
  });

  pageRoute(app, d, 'post', '/runs/:id/term/keys', { auth: 'user', role: 'operator' }, async (pc) => {
    const run = ptyRun(pc);
    const data = (await pc.form()).get('data') ?? '';
    if (!data) throw new CcgError('ERR_BAD_REQUEST', 'no keys to send');
    const bytes = Buffer.from(data, 'utf8');
    if (bytes.length > MAX_INPUT) throw new CcgError('ERR_TOO_LARGE', `input of ${bytes.length} bytes exceeds ${MAX_INPUT}`);
    const sent = await d.powers.steering.input(run.id, { data: bytes.toString('base64') }, pc.principal!, pc.ip);
    return { status: 200, json: { inputId: sent.inputId } };
  });

  pageRoute(app, d, 'post', '/runs/:id/term/size', { auth: 'user', role: 'operator' }, async (pc) => {
    const run = ptyRun(pc);
    const f = await pc.form();
    const cols = Number(f.get('cols'));
    const rows = Number(f.get('rows'));
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 2 || cols > 1000 || rows < 2 || rows > 500) {
      throw new CcgError('ERR_BAD_REQUEST', 'cols and rows must be whole numbers (2–1000 columns, 2–500 rows)');
    }
    d.powers.steering.resize(run.id, cols, rows, pc.principal!);
    return { status: 200, json: { control: d.powers.steering.controlOf(run.id) } };
  });
}

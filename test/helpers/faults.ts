import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { PinnedAgent } from '../../cli/client/pinned-agent.js';
import { STREAM_STDERR, STREAM_STDOUT, decodeView } from '../../protocol/frames.js';

/**
 * `quick` (CCG_FAULT_SCALE=quick, what `npm run test:faults:quick` sets) runs every fault
 * scenario with smaller streams, for CI; the default is the full size.
 */
export const QUICK = process.env['CCG_FAULT_SCALE'] === 'quick';

/** The full or the quick number. */
export function scaled(full: number, quick: number): number {
  return QUICK ? quick : full;
}

export interface StoredStreams {
  stdout: Buffer;
  stderr: Buffer;
  /** Every seq of the run in the order received (child streams and the others). */
  seqs: number[];
}

/**
 * Reads a run's whole stored output over the operator socket, byte for byte and per stream,
 * with every seq, up to `caught_up`.
 */
export function readStreams(gw: { url: string; fingerprint: string; token: string }, runId: string): Promise<StoredStreams> {
  const url = new URL('/v1/operator', gw.url);
  url.protocol = 'wss:';
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${gw.token}` }, agent: new PinnedAgent(gw.fingerprint), maxPayload: 64 * 1024 * 1024 });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const seqs: number[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`reading run ${runId}: not caught up within 60 s`));
    }, 60_000);
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'hello', v: 1 }));
      ws.send(JSON.stringify({ type: 'subscribe', runId, from: 1 }));
    });
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        const msg = JSON.parse(String(data)) as { type: string; message?: string };
        if (msg.type === 'error') reject(new Error(`reading run ${runId}: ${msg.message}`));
        if (msg.type === 'caught_up') {
          clearTimeout(timer);
          ws.close();
          resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), seqs });
        }
        return;
      }
      const f = decodeView(data as Buffer);
      if (!f.ok) return reject(new Error(f.message));
      seqs.push(f.value.seq);
      if (f.value.stream === STREAM_STDOUT) out.push(Buffer.from(f.value.data));
      if (f.value.stream === STREAM_STDERR) err.push(Buffer.from(f.value.data));
    });
    ws.on('error', reject);
  });
}

/** Bytes in a runner spool directory (its .seg files); 0 when the directory is gone. */
export function spoolBytes(dir: string): number {
  let total = 0;
  try {
    for (const f of readdirSync(dir)) if (f.endsWith('.seg')) total += statSync(join(dir, f)).size;
  } catch {
    return 0;
  }
  return total;
}

/** True when `seqs` is exactly 1, 2, 3, … (nothing lost, nothing duplicated). */
export function contiguous(seqs: number[]): boolean {
  return seqs.every((s, i) => s === i + 1);
}

/** Kills a process by pid if it is still there; ignores one that is gone. */
export function killPid(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

/** Resident set size of a process in bytes (Linux /proc); NaN once it has exited. */
export function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** A temporary directory removed when the test ends (fault tests write hundreds of MB). */
export function scratch(t: { after(fn: () => void): void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** What a live viewer saw of a run, through every restart of the gateway. */
export interface LiveView {
  seqs: number[];
  stdout(): Buffer;
  stderr(): Buffer;
  /** The highest seq seen so far. */
  last(): number;
  /** The highest seq seen on each connection that was cut (by a kill of the gateway). */
  seenBeforeCut: number[];
  close(): void;
}

/**
 * A viewer that follows a run live over the operator socket and, whenever the connection is cut,
 * reconnects and resubscribes from the seq after the last one it saw, as `ccg runs logs --follow`
 * does. `gw()` gives the current gateway (it is restarted on the same port).
 */
export function followLive(gw: () => { url: string; fingerprint: string; token: string }, runId: string): LiveView {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const seqs: number[] = [];
  const seenBeforeCut: number[] = [];
  let closed = false;
  let ws: WebSocket | null = null;
  let last = 0;
  const connect = () => {
    if (closed) return;
    const g = gw();
    const url = new URL('/v1/operator', g.url);
    url.protocol = 'wss:';
    const sock = new WebSocket(url, { headers: { authorization: `Bearer ${g.token}` }, agent: new PinnedAgent(g.fingerprint), maxPayload: 64 * 1024 * 1024 });
    ws = sock;
    let opened = false;
    sock.on('open', () => {
      opened = true;
      sock.send(JSON.stringify({ type: 'hello', v: 1 }));
      sock.send(JSON.stringify({ type: 'subscribe', runId, from: last + 1 }));
    });
    sock.on('message', (data, isBinary) => {
      if (!isBinary) return;
      const f = decodeView(data as Buffer);
      if (!f.ok) return;
      seqs.push(f.value.seq);
      last = Math.max(last, f.value.seq);
      if (f.value.stream === STREAM_STDOUT) out.push(Buffer.from(f.value.data));
      if (f.value.stream === STREAM_STDERR) err.push(Buffer.from(f.value.data));
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      if (closed) return;
      if (opened) seenBeforeCut.push(last);
      setTimeout(connect, 100);
    });
  };
  connect();
  return {
    seqs,
    seenBeforeCut,
    stdout: () => Buffer.concat(out),
    stderr: () => Buffer.concat(err),
    last: () => last,
    close: () => {
      closed = true;
      ws?.terminate();
    },
  };
}

/** The seq a gateway has committed for a run, as its operator socket says it (subscribe to the last chunk, read `caught_up`). */
export function committedSeqOf(gw: { url: string; fingerprint: string; token: string }, runId: string): Promise<number> {
  const url = new URL('/v1/operator', gw.url);
  url.protocol = 'wss:';
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${gw.token}` }, agent: new PinnedAgent(gw.fingerprint) });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`run ${runId}: no caught_up within 10 s`));
    }, 10_000);
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'hello', v: 1 }));
      ws.send(JSON.stringify({ type: 'subscribe', runId, tail: 1 }));
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const msg = JSON.parse(String(data)) as { type: string; seq?: number };
      if (msg.type !== 'caught_up') return;
      clearTimeout(timer);
      ws.close();
      resolve(msg.seq!);
    });
    ws.on('error', reject);
  });
}

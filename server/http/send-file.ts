import { createReadStream } from 'node:fs';
import { artifactBasename, type ArtifactInfo } from '../../protocol/artifacts.js';
import { SECURITY_HEADERS, statusLine, type Ctx } from '../respond.js';

/**
 * Streams a file as the response body with uWebSockets.js backpressure: `tryEnd` with the total
 * size, and when the socket is full the read stream pauses until `onWritable` has sent the rest of
 * the current piece. Memory stays at one piece however large the file. For `route()` handlers that
 * return `{ streamed: true }`.
 */
export function streamFile(ctx: Ctx, file: string, size: number, headers: Record<string, string>): void {
  const res = ctx.res;
  res.cork(() => {
    res.writeStatus(statusLine(200));
    for (const [k, v] of Object.entries({ ...SECURITY_HEADERS, ...headers })) res.writeHeader(k, v);
  });
  if (size === 0) {
    res.cork(() => res.end());
    return;
  }
  const stream = createReadStream(file, { highWaterMark: 256 * 1024 });
  let finished = false;
  const done = () => {
    finished = true;
    stream.destroy();
  };
  ctx.onAborted(done);
  // The piece uWS has not taken yet, and the write offset it started at.
  let pending: { ab: ArrayBuffer; offset: number } | null = null;
  const tryEnd = (ab: ArrayBuffer): [boolean, boolean] => {
    let r: [boolean, boolean] = [false, false];
    res.cork(() => {
      r = res.tryEnd(ab, size);
    });
    return r;
  };
  stream.on('data', (chunk: Buffer | string) => {
    if (finished || ctx.aborted()) return done();
    const buf = chunk as Buffer;
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    const offset = res.getWriteOffset();
    const [ok, end] = tryEnd(ab);
    if (end) return done();
    if (ok) return;
    stream.pause();
    pending = { ab, offset };
    res.onWritable((at) => {
      if (finished || !pending) return true;
      const [ok2, end2] = tryEnd(pending.ab.slice(at - pending.offset));
      if (end2) {
        done();
        return true;
      }
      if (ok2) {
        pending = null;
        stream.resume();
      }
      return ok2;
    });
  });
  stream.on('error', () => {
    if (finished || ctx.aborted()) return;
    finished = true;
    // Headers are out: all that is left is to cut the connection so the client sees a short body.
    res.cork(() => res.close());
  });
}

/**
 * Streams one stored artifact as a download (API and run page alike), after `Requests.openArtifact`
 * authorised and audited it: an attachment that no browser renders as a page.
 */
export function sendArtifact(ctx: Ctx, opened: { info: ArtifactInfo; path: string }): { streamed: true } {
  if (ctx.aborted()) return { streamed: true };
  const { info } = opened;
  streamFile(ctx, opened.path, info.bytes, {
    'content-type': info.contentType,
    // The name is restricted to [A-Za-z0-9._+@-] segments: no quote, CR or LF can reach this header.
    'content-disposition': `attachment; filename="${artifactBasename(info.name)}"`,
    'content-security-policy': "default-src 'none'; sandbox",
    'x-ccg-sha256': info.sha256,
  });
  return { streamed: true };
}
